// The bookkeeping behind kumod's cap on concurrent API connections and its
// accept loop's back-off; pure (no I/O, time passed in), so it is tested on
// its own. HttpServer does the I/O.
//
// ConnectionLimit counts every open API connection (plain requests, event
// streams, WebSocket consoles) and knows which are idle: waiting for the next
// request on a keep-alive connection. Under the cap a new connection is
// admitted; at the cap, the connection idle the longest is closed to make
// room (an idle keep-alive connection may be closed at any time, RFC 9112
// §9.5; its client opens a new one); with none idle, the new connection is
// refused (503). Above 80% of the cap, idle connections are given
// kShortIdleTimeout instead of kIdleTimeout.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>

namespace kumo::api {

class ConnectionLimit {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kIdleTimeout{60};
  static constexpr std::chrono::seconds kShortIdleTimeout{5};

  enum class Admission { kAdmit, kEvictIdle, kRefuse };

  // REQUIRES: cap >= 1.
  explicit ConnectionLimit(size_t cap) : cap_(cap < 1 ? 1 : cap) {}

  size_t cap() const { return cap_; }
  size_t open() const { return open_.size(); }
  size_t idle() const { return idle_.size(); }

  // What to do with a connection that has just arrived.
  Admission Decide() const;
  // Counts a new connection (busy) and returns its id.
  uint64_t Open();
  // Forgets a connection; unknown ids are ignored.
  void Close(uint64_t id);
  // Marks a connection idle (waiting for a request) since `since`, or busy.
  void SetIdle(uint64_t id, Clock::time_point since);
  void SetBusy(uint64_t id);
  // The connection idle the longest, if any.
  std::optional<uint64_t> OldestIdle() const;
  // More than 80% of the cap is in use.
  bool NearCap() const { return open_.size() * 5 > cap_ * 4; }
  // How long an idle connection may stay idle now.
  std::chrono::seconds IdleTimeout() const { return NearCap() ? kShortIdleTimeout : kIdleTimeout; }

 private:
  size_t cap_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::optional<Clock::time_point>> open_;  // id -> idle since
  std::set<std::pair<Clock::time_point, uint64_t>> idle_;
};

// The default cap for a process allowed `open_files` descriptors: half of
// what is left after 64 for kumod itself (store, listener, logs), so the
// other half stays for the servers (QMP, agent and console sockets, console
// log, SSH forwards: about 8 each); at most 4096. At least 16.
size_t DefaultMaxConnections(uint64_t open_files);

// Back-off for an accept loop whose accept fails (EMFILE, ENFILE, ENOBUFS...):
// the first failure waits kFirst, each next one twice as long up to kMax; a
// success ends the episode and the next failure starts again at kFirst.
class AcceptBackoff {
 public:
  static constexpr std::chrono::milliseconds kFirst{50};
  static constexpr std::chrono::milliseconds kMax{1000};

  struct Step {
    std::chrono::milliseconds delay;
    bool first_in_episode;  // log this one
  };
  Step Failed();
  // Returns the number of failures of the episode this success ends (0 if
  // there was none), for a log line.
  int Succeeded();

 private:
  int failures_ = 0;
};

}  // namespace kumo::api
