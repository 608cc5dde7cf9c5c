// Test support: a watcher of kumod's GET /v1/watch over a real socket. A
// thread reads the response (chunked or not) and parses Server-Sent Events;
// each message is kept with the moment it arrived, for tests that measure
// how soon a change reaches a watcher. A "stalled" watcher sends its request
// and then never reads, with a tiny receive buffer: the slow client.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace kumo::testing {

struct SseEvent {
  std::string id;
  std::string event;
  std::string data;
  std::chrono::steady_clock::time_point at;
  nlohmann::json json() const { return nlohmann::json::parse(data, nullptr, false); }
};

class SseClient {
 public:
  SseClient() = default;
  ~SseClient();
  SseClient(const SseClient&) = delete;
  SseClient& operator=(const SseClient&) = delete;

  // Connects and sends GET `target`; `last_event_id` "" sends no header.
  // With `stalled`, nothing is read after the request. False if the
  // connection fails or (when reading) the status is not 200; `*status` gets
  // the HTTP status.
  bool Open(int port, const std::string& target, const std::string& token,
            const std::string& last_event_id = "", bool stalled = false, int* status = nullptr);
  // A stalled client starts reading: what the server queued for it, and on.
  bool Resume(int* status = nullptr);
  // Drops the connection at once, like a killed client.
  void Close();

  std::vector<SseEvent> events() const;
  int comments() const;
  bool closed_by_server() const;
  // Waits until `pred(events)` holds or `timeout` passes.
  bool WaitFor(const std::function<bool(const std::vector<SseEvent>&)>& pred,
               std::chrono::milliseconds timeout) const;

 private:
  bool ReadHeadAndFollow(int* status);
  void ReadLoop(std::string pending);
  void Feed(const std::string& bytes);
  void OnLine(const std::string& line);

  int fd_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<SseEvent> events_;
  int comments_ = 0;
  bool closed_by_server_ = false;
  // Parser state (reader thread only).
  bool chunked_ = false;
  std::string raw_;   // undecoded bytes
  std::string text_;  // decoded, not yet split into lines
  SseEvent current_;
  bool has_data_ = false;
};

}  // namespace kumo::testing
