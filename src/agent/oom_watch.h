// OomWatch follows the kernel log (/dev/kmsg) and remembers the most recent
// OOM kills, so that the host learns who the OOM killer took even when sshd
// and everything else are gone. Reading from the start of the kernel's ring
// buffer means a respawned agent recovers the kills it saw before it died.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace kumo::agent {

struct OomKill {
  uint64_t uptime_us = 0;  // kernel timestamp: microseconds since boot
  int64_t pid = 0;
  std::string process;
  uint64_t rss_kib = 0;  // anon + file + shmem RSS at the time of the kill
};

// Parses one /dev/kmsg record ("prio,seq,usec,flags;message\n..."); returns
// the kill it reports, or nullopt for any other record.
std::optional<OomKill> ParseOomKillRecord(std::string_view record);

class OomWatch {
 public:
  static constexpr size_t kMaxKills = 32;

  OomWatch() = default;
  OomWatch(const OomWatch&) = delete;
  OomWatch& operator=(const OomWatch&) = delete;
  ~OomWatch();

  // Opens the log non-blocking; false (and no watching) if it cannot.
  bool Open(const char* path = "/dev/kmsg");
  int fd() const { return fd_; }
  // Reads every record available now.
  void OnReadable();

  const std::deque<OomKill>& kills() const { return kills_; }

 private:
  int fd_ = -1;
  std::deque<OomKill> kills_;
};

}  // namespace kumo::agent
