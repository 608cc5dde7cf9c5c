#include "telemetry/server_series.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace kumo::telemetry {
namespace {

constexpr char kMagic[8] = {'K', 'U', 'M', 'O', 'T', 'S', '1', '\0'};
constexpr size_t kRecord = ServerSeries::kRecordBytes;
constexpr size_t kBody = kRecord - 4;  // what the CRC covers
static_assert(8 + 4 + 4 * kSampleFieldCount + 4 <= kRecord, "a Sample must fit in a record");

uint32_t Crc32(const uint8_t* data, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void Seal(uint8_t* record) {
  uint32_t crc = Crc32(record, kBody);
  std::memcpy(record + kBody, &crc, 4);
}

bool Sealed(const uint8_t* record) {
  uint32_t crc = 0;
  std::memcpy(&crc, record + kBody, 4);
  return crc == Crc32(record, kBody);
}

void Encode(const Sample& s, uint8_t* record) {
  std::memset(record, 0, kRecord);
  std::memcpy(record, &s.time_ms, 8);
  uint32_t flags = s.agent_up ? 1 : 0;
  std::memcpy(record + 8, &flags, 4);
  for (size_t i = 0; i < kSampleFieldCount; ++i) {
    std::memcpy(record + 12 + 4 * i, &(s.*kSampleFields[i].member), 4);
  }
  Seal(record);
}

Sample Decode(const uint8_t* record) {
  Sample s;
  std::memcpy(&s.time_ms, record, 8);
  uint32_t flags = 0;
  std::memcpy(&flags, record + 8, 4);
  s.agent_up = flags & 1;
  for (size_t i = 0; i < kSampleFieldCount; ++i) {
    std::memcpy(&(s.*kSampleFields[i].member), record + 12 + 4 * i, 4);
  }
  return s;
}

void EncodeHeader(int64_t step_ms, int64_t slots, uint8_t* header) {
  std::memset(header, 0, kRecord);
  std::memcpy(header, kMagic, 8);
  uint32_t layout[4] = {static_cast<uint32_t>(kRecord), static_cast<uint32_t>(step_ms),
                        static_cast<uint32_t>(slots), static_cast<uint32_t>(kSampleFieldCount)};
  std::memcpy(header + 8, layout, sizeof layout);
  Seal(header);
}

int64_t SlotOf(int64_t time_ms, int64_t step_ms, int64_t slots) {
  return (time_ms / step_ms) % slots;
}

Status FileError(const std::string& what, const std::string& path, int err) {
  return Status(codes::kStoreError, what + " " + path + ": " + std::strerror(err));
}

// Shortest text that reads back as the same float, as a double: 0.3f shows
// as 0.3, not 0.30000001192092896.
double Tidy(float f) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf - 1, f);
  if (ec != std::errc()) return f;
  *end = '\0';
  return std::strtod(buf, nullptr);
}

}  // namespace

Result<std::unique_ptr<ServerSeries>> ServerSeries::Open(const std::string& dir) {
  std::unique_ptr<ServerSeries> series(new ServerSeries());
  Status st = OpenRing(dir + "/telemetry-5s.ring", kStepMs5s, kSlots5s, &series->ring5s_);
  if (st.ok()) st = OpenRing(dir + "/telemetry-1m.ring", kStepMs1m, kSlots1m, &series->ring1m_);
  if (!st.ok()) return st;
  series->Resume();
  return series;
}

void ServerSeries::Resume() {
  auto fine = Read(Resolution::k5s, 1, INT64_MAX);
  if (fine.empty()) return;
  int64_t last = fine.back().time_ms;
  for (const Sample& s : fine) {
    if (s.time_ms > last - kRecentMs) recent_.push_back(s);
  }
  minute_.minute = last / kStepMs1m;
  for (const Sample& s : recent_) {
    if (s.time_ms / kStepMs1m == minute_.minute) Accumulate(s);
  }
}

Status ServerSeries::OpenRing(const std::string& path, int64_t step_ms, int64_t slots, Ring* ring) {
  // O_NONBLOCK: a FIFO planted under this name must not hang kumod before the
  // S_ISREG check refuses it.
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
  if (fd < 0) return FileError("cannot open", path, errno);
  ring->fd = fd;  // closed by ~ServerSeries, also on the errors below
  ring->step_ms = step_ms;
  ring->slots = slots;
  struct stat st {};
  if (fstat(fd, &st) != 0) return FileError("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
    return Status(codes::kStoreError, path + " is not a regular file owned by kumod's user",
                  "remove it; kumod creates it afresh");
  }
  if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0) {
    return FileError("cannot chmod", path, errno);
  }
  uint8_t want[kRecord], have[kRecord];
  EncodeHeader(step_ms, slots, want);
  off_t size = static_cast<off_t>(kRecord * (slots + 1));
  off_t current = st.st_size;
  if (pread(fd, have, kRecord, 0) != static_cast<ssize_t>(kRecord) ||
      std::memcmp(want, have, kRecord) != 0) {
    // Another layout (or no file yet): its records mean nothing to us.
    if (ftruncate(fd, 0) != 0 || pwrite(fd, want, kRecord, 0) != static_cast<ssize_t>(kRecord)) {
      return FileError("cannot write", path, errno);
    }
    current = kRecord;
  }
  // Someone else's truncation or growth: the valid records that remain stay.
  if (current != size && ftruncate(fd, size) != 0) return FileError("cannot size", path, errno);
  return Status::Ok();
}

ServerSeries::~ServerSeries() {
  if (ring1m_.fd >= 0) Flush();
  for (int fd : {ring5s_.fd, ring1m_.fd}) {
    if (fd >= 0) close(fd);
  }
}

void ServerSeries::Write(const Ring& ring, const Sample& s) {
  uint8_t record[kRecord];
  Encode(s, record);
  off_t at = static_cast<off_t>(kRecord * (1 + SlotOf(s.time_ms, ring.step_ms, ring.slots)));
  if (pwrite(ring.fd, record, kRecord, at) != static_cast<ssize_t>(kRecord)) ++write_errors_;
}

void ServerSeries::Add(const Sample& s) {
  if (s.time_ms <= 0) return;
  if (!recent_.empty() && s.time_ms < recent_.back().time_ms) {
    Flush();
    recent_.clear();
    minute_ = Minute{};
  }
  if (!recent_.empty() && recent_.back().time_ms / kStepMs5s == s.time_ms / kStepMs5s) {
    recent_.back() = s;
  } else {
    recent_.push_back(s);
  }
  while (recent_.front().time_ms <= s.time_ms - kRecentMs) recent_.pop_front();
  Write(ring5s_, s);

  int64_t minute = s.time_ms / kStepMs1m;
  if (minute != minute_.minute) {
    Flush();
    minute_ = Minute{};
    minute_.minute = minute;
  }
  Accumulate(s);
}

void ServerSeries::Accumulate(const Sample& s) {
  minute_.agent_up = minute_.agent_up || s.agent_up;
  for (size_t i = 0; i < kSampleFieldCount; ++i) {
    float v = s.*kSampleFields[i].member;
    if (std::isnan(v)) continue;
    minute_.sum[i] += v;
    ++minute_.count[i];
  }
  if (!std::isnan(s.oom_kills) && !(s.oom_kills <= minute_.oom_max)) minute_.oom_max = s.oom_kills;
}

Sample ServerSeries::MinuteSample() const {
  Sample m;
  m.time_ms = minute_.minute * kStepMs1m;
  m.agent_up = minute_.agent_up;
  for (size_t i = 0; i < kSampleFieldCount; ++i) {
    m.*kSampleFields[i].member =
        minute_.count[i] ? static_cast<float>(minute_.sum[i] / minute_.count[i]) : NAN;
  }
  m.oom_kills = minute_.oom_max;
  return m;
}

void ServerSeries::Flush() {
  if (minute_.minute >= 0) Write(ring1m_, MinuteSample());
}

std::vector<Sample> ServerSeries::Read(Resolution r, int64_t from_ms, int64_t to_ms) const {
  const Ring& ring = r == Resolution::k5s ? ring5s_ : ring1m_;
  std::vector<uint8_t> buf(kRecord * ring.slots);
  ssize_t n = pread(ring.fd, buf.data(), buf.size(), kRecord);
  std::vector<Sample> out;
  for (int64_t slot = 0; n > 0 && (slot + 1) * static_cast<int64_t>(kRecord) <= n; ++slot) {
    const uint8_t* record = buf.data() + slot * kRecord;
    if (!Sealed(record)) continue;
    Sample s = Decode(record);
    if (s.time_ms <= 0 || SlotOf(s.time_ms, ring.step_ms, ring.slots) != slot) continue;
    if (s.time_ms >= from_ms && s.time_ms < to_ms) out.push_back(s);
  }
  std::sort(out.begin(), out.end(),
            [](const Sample& a, const Sample& b) { return a.time_ms < b.time_ms; });
  return out;
}

nlohmann::json SeriesJson(const std::vector<Sample>& samples) {
  nlohmann::json out = nlohmann::json::object();
  auto& time = out["time"] = nlohmann::json::array();
  auto& up = out["agent_up"] = nlohmann::json::array();
  for (const auto& s : samples) {
    time.push_back(s.time_ms);
    up.push_back(s.agent_up);
  }
  for (const auto& field : kSampleFields) {
    auto& column = out[field.name] = nlohmann::json::array();
    for (const auto& s : samples) {
      float v = s.*field.member;
      column.push_back(std::isfinite(v) ? nlohmann::json(Tidy(v)) : nlohmann::json(nullptr));
    }
  }
  return out;
}

}  // namespace kumo::telemetry
