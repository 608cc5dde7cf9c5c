// QmpClient: an asynchronous client of QEMU's machine protocol (QMP) over a
// unix socket, on kumod's event loop.
//
// Connect() reads QEMU's greeting and negotiates capabilities; then Execute()
// sends commands, each with its own "id", and matches the replies by it, so
// several commands may be in flight. Event messages go to the event handler.
// Every incoming message is bounded (kMaxMessageBytes); a longer one, or
// malformed JSON, closes the connection. When the connection closes (QEMU
// exited, or an error), every pending command fails with HypervisorError and
// the closed handler runs once.
//
// Callbacks run on the event loop, never inside the call that registered
// them, and never after the client is destroyed.
#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/asio.h"
#include "common/status.h"

namespace kumo::hypervisor {

class QmpClient : public std::enable_shared_from_this<QmpClient> {
 public:
  using json = nlohmann::json;
  using Reply = std::function<void(Result<json>)>;
  using EventHandler = std::function<void(const json& event)>;
  using ClosedHandler = std::function<void(const Status& why)>;
  using Milliseconds = std::chrono::milliseconds;

  static constexpr size_t kMaxMessageBytes = 1 << 20;
  static constexpr Milliseconds kDefaultCommandTimeout{10000};

  static std::shared_ptr<QmpClient> Create(boost::asio::io_context& io);
  ~QmpClient();
  QmpClient(const QmpClient&) = delete;
  QmpClient& operator=(const QmpClient&) = delete;

  // Connects and negotiates; `done` gets ok once commands may be sent, or
  // HypervisorError (connect refused, no greeting in `timeout`, ...).
  // REQUIRES: called once.
  void Connect(const std::string& socket_path, Milliseconds timeout,
               std::function<void(Status)> done);
  // Sends {"execute": command, "arguments": arguments (unless null)}.
  // `done` gets the "return" value, or HypervisorError with QMP's error class
  // and description, or if the connection closes or no reply comes in time.
  void Execute(const std::string& command, json arguments, Reply done,
               Milliseconds timeout = kDefaultCommandTimeout);
  void SetEventHandler(EventHandler handler) { on_event_ = std::move(handler); }
  void SetClosedHandler(ClosedHandler handler) { on_closed_ = std::move(handler); }
  // Closes the connection; pending commands fail, the closed handler runs.
  void Close();

  bool ready() const { return state_ == State::kReady; }
  // QEMU's greeting, {"QMP": {"version": ..., "capabilities": [...]}}.
  const json& greeting() const { return greeting_; }

 private:
  enum class State { kIdle, kConnecting, kGreeting, kNegotiating, kReady, kClosed };
  struct Pending {
    Reply done;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };

  explicit QmpClient(boost::asio::io_context& io);
  void Send(const std::string& command, const json& arguments, Reply done, Milliseconds timeout);
  void Write(std::string bytes);
  void WriteFront();
  void ReadMore();
  // Takes complete lines out of in_; false once the connection has failed.
  bool ProcessInput();
  void Dispatch(const json& message);
  void OnGreeting(const json& message);
  void Fail(const Status& why);
  // Runs `fn` on the event loop later, unless this client is gone by then.
  void Post(std::function<void()> fn);

  boost::asio::io_context& io_;
  boost::asio::local::stream_protocol::socket socket_;
  boost::asio::steady_timer connect_timer_;
  State state_ = State::kIdle;
  std::function<void(Status)> connect_done_;
  EventHandler on_event_;
  ClosedHandler on_closed_;
  json greeting_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Pending> pending_;
  std::deque<std::string> out_;
  std::string in_;
  std::array<char, 65536> read_buffer_{};
};

}  // namespace kumo::hypervisor
