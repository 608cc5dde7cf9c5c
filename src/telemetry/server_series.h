// A server's telemetry series: the last 10 minutes in memory for the
// diagnosis rules, and two fixed-size ring files on disk (1 h of 5 s points,
// 24 h of 1 min points) that survive kumod restarts. Disk use is fixed (about
// 140 KB a server) and memory is bounded (Recent() holds at most 121 samples).
//
// Ring file: a 64-byte header (magic, layout) then one 64-byte record per slot
// (time, flags, the figures of kSampleFields, a CRC-32), written in place at
// slot (time / step) % slots. Host byte order: the files are private to this
// host's kumod. A record whose checksum fails (torn write, someone else's
// bytes) or whose time belongs to another slot is skipped on read; a file of
// another layout is started afresh; a file truncated or grown while open is
// read as far as it holds valid records and rewritten slot by slot. Reopened,
// the series resumes: Recent() and the current minute's mean continue from
// the 5 s ring.
//
// Not thread-safe: one owner (kumod's event loop) per series.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "telemetry/sample.h"

namespace kumo::telemetry {

enum class Resolution { k5s, k1m };

class ServerSeries {
 public:
  static constexpr int64_t kStepMs5s = 5'000;
  static constexpr int64_t kSlots5s = 720;  // 1 h
  static constexpr int64_t kStepMs1m = 60'000;
  static constexpr int64_t kSlots1m = 1440;  // 24 h
  static constexpr int64_t kRecentMs = 600'000;
  static constexpr size_t kRecordBytes = 64;

  // Opens (creating) DIR/telemetry-5s.ring (720 slots: 1 h of 5 s) and DIR/telemetry-1m.ring
  // (1440 slots: 24 h of 1 min), mode 0600, with O_NOFOLLOW|O_CLOEXEC; refuses a file that is
  // not a regular file owned by this user. REQUIRES: DIR exists.
  static Result<std::unique_ptr<ServerSeries>> Open(const std::string& dir);
  ~ServerSeries();
  ServerSeries(const ServerSeries&) = delete;
  ServerSeries& operator=(const ServerSeries&) = delete;

  // Adds a sample (any interval ≥ 1 s; several in one 5 s step: the last wins). The minute
  // series gets the mean of that minute's samples (max for oom_kills, any() for agent_up),
  // written when the minute is complete (and the partial minute on Flush()).
  // A sample with time_ms <= 0 is ignored; one older than the last (the clock stepped back)
  // restarts Recent() and the minute.
  void Add(const Sample& s);
  void Flush();

  // The last 10 minutes at the resolution they were added, in memory (bounded deque),
  // oldest first: what the diagnosis rules read. Right after Open: the 10 minutes up to the
  // newest sample in the 5 s ring (however old), so a kumod restart loses no context; the
  // next Add drops what is older than 10 minutes before it.
  const std::deque<Sample>& Recent() const { return recent_; }

  // Read from the files: samples with from_ms <= time < to_ms, oldest first.
  std::vector<Sample> Read(Resolution r, int64_t from_ms, int64_t to_ms) const;

  // Writes that failed (disk full, I/O error) since Open; the samples stay in Recent().
  uint64_t write_errors() const { return write_errors_; }

 private:
  struct Ring {
    int fd = -1;
    int64_t step_ms = 0;
    int64_t slots = 0;
  };
  // Sums of one minute's samples (NaN figures left out of each mean).
  struct Minute {
    int64_t minute = -1;
    bool agent_up = false;
    double sum[kSampleFieldCount] = {};
    uint32_t count[kSampleFieldCount] = {};
    float oom_max = NAN;
  };

  ServerSeries() = default;
  static Status OpenRing(const std::string& path, int64_t step_ms, int64_t slots, Ring* ring);
  // After a restart: Recent() and the current minute from the 5 s ring.
  void Resume();
  void Accumulate(const Sample& s);
  void Write(const Ring& ring, const Sample& s);
  Sample MinuteSample() const;

  Ring ring5s_, ring1m_;
  std::deque<Sample> recent_;
  Minute minute_;
  uint64_t write_errors_ = 0;
};

// {"time":[...ms], "agent_up":[...], "load1":[...|null], ...} columnar, one column per
// kSampleFields, NaN→null; figures as the shortest text that reads back as their float.
nlohmann::json SeriesJson(const std::vector<Sample>& samples);

}  // namespace kumo::telemetry
