#include "agent/oom_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

namespace kumo::agent {
namespace {

// Reads the unsigned number that follows `key` in `text`, if any.
std::optional<uint64_t> NumberAfter(std::string_view text, std::string_view key) {
  size_t at = text.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  size_t i = at + key.size();
  if (i >= text.size() || text[i] < '0' || text[i] > '9') return std::nullopt;
  uint64_t v = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) v = v * 10 + (text[i] - '0');
  return v;
}

}  // namespace

std::optional<OomKill> ParseOomKillRecord(std::string_view record) {
  size_t semi = record.find(';');
  if (semi == std::string_view::npos) return std::nullopt;
  std::string_view header = record.substr(0, semi);
  std::string_view message = record.substr(semi + 1);
  message = message.substr(0, message.find('\n'));  // continuation lines follow

  // "Out of memory: Killed process 1234 (name) total-vm:..." and the memory
  // cgroup variant "Memory cgroup out of memory: Killed process ...".
  constexpr std::string_view kMarker = "out of memory: Killed process ";
  size_t at = message.find(kMarker);
  if (at == std::string_view::npos) {
    constexpr std::string_view kCapital = "Out of memory: Killed process ";
    at = message.find(kCapital);
    if (at == std::string_view::npos) return std::nullopt;
  }
  std::string_view rest = message.substr(at + kMarker.size());

  OomKill kill;
  auto pid = NumberAfter(rest, "");
  if (!pid) return std::nullopt;
  kill.pid = static_cast<int64_t>(*pid);
  size_t open = rest.find(" (");
  size_t close = rest.find(") ", open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || close == std::string_view::npos) return std::nullopt;
  kill.process = std::string(rest.substr(open + 2, close - open - 2));
  for (auto key : {"anon-rss:", "file-rss:", "shmem-rss:"}) {
    kill.rss_kib += NumberAfter(rest, key).value_or(0);
  }

  // Header: priority,sequence,timestamp_us,flags
  size_t c1 = header.find(',');
  size_t c2 = c1 == std::string_view::npos ? c1 : header.find(',', c1 + 1);
  if (c2 == std::string_view::npos) return std::nullopt;
  auto usec = NumberAfter(header.substr(c2 + 1), "");
  if (!usec) return std::nullopt;
  kill.uptime_us = *usec;
  return kill;
}

OomWatch::~OomWatch() {
  if (fd_ >= 0) close(fd_);
}

bool OomWatch::Open(const char* path) {
  fd_ = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  return fd_ >= 0;
}

void OomWatch::OnReadable() {
  // One read returns one record. Records are far shorter than the buffer; one
  // that is not would fail with EINVAL forever, so that ends the reading.
  char record[8192];
  while (fd_ >= 0) {
    ssize_t n = read(fd_, record, sizeof record - 1);
    if (n < 0) {
      if (errno == EINTR || errno == EPIPE) continue;  // EPIPE: records overwritten
      return;                                          // EAGAIN: caught up
    }
    if (n == 0) return;
    auto kill = ParseOomKillRecord(std::string_view(record, static_cast<size_t>(n)));
    if (!kill) continue;
    kills_.push_back(std::move(*kill));
    if (kills_.size() > kMaxKills) kills_.pop_front();
  }
}

}  // namespace kumo::agent
