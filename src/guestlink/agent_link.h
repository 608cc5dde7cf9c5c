// AgentLink: kumod's asynchronous link to one guest's agent, over the unix
// socket of the guest's org.qemu.guest_agent.0 chardev. It runs on kumod's
// event loop and never blocks it.
//
// Every operation first resynchronises the stream (0xFF, then
// guest-sync-delimited with a fresh id, dropping every reply until the one
// with that id), so replies that arrive late from an earlier, timed-out
// operation can never be taken for the answer to a new one. Operations run
// one at a time, in order; each has a deadline.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "common/asio.h"
#include "guestlink/qga_client.h"
#include "qga/qga_framer.h"

namespace kumo::guestlink {

class AgentLink : public std::enable_shared_from_this<AgentLink> {
 public:
  using Milliseconds = std::chrono::milliseconds;

  static std::shared_ptr<AgentLink> Create(boost::asio::io_context& io, std::string socket_path);
  ~AgentLink();

  // Every operation's timeout counts from the call, also while it waits in
  // line behind another one.
  //
  // Calls back true if the agent answered guest-sync-delimited in time.
  void Ping(Milliseconds timeout, std::function<void(bool)> done);

  // Sends a command after a successful sync. With expect_reply false (e.g.
  // guest-shutdown, which answers nothing on success) it calls back ok as
  // soon as the command is written, unless an error reply arrives within
  // `timeout`.
  void Call(std::string command, json arguments, bool expect_reply, Milliseconds timeout,
            std::function<void(QgaReply)> done);

  // The guest has just opened its end of the channel (QMP VSERPORT_CHANGE):
  // its kernel dropped whatever was written before, so a sync in flight is
  // sent again (a fresh id) instead of waiting out its deadline. Anything
  // else in flight keeps its course.
  void Resync();

  // Drops the connection and fails every queued operation.
  void Close();

 private:
  struct Op {
    uint64_t id = 0;
    bool ping = true;
    std::string command;
    json arguments;
    bool expect_reply = true;
    // From when it was asked: an operation that waits behind a hung one
    // still ends on time (the heartbeat's ping must).
    std::chrono::steady_clock::time_point deadline;
    // Runs while the operation waits in the queue.
    std::shared_ptr<boost::asio::steady_timer> waiting_timer;
    std::function<void(QgaReply)> done;
  };
  enum class Phase { kIdle, kConnecting, kSyncing, kAwaitingReply, kGraceAfterWrite };

  AgentLink(boost::asio::io_context& io, std::string socket_path);
  void Enqueue(Op op, Milliseconds timeout);
  void ExpireWaiting(uint64_t id);
  void StartNext();
  void Connect();
  void SendSync();
  void SendCommand();
  void Write(std::string bytes);
  void ReadMore();
  void OnMessage(const json& message);
  void Finish(QgaReply reply);
  void Drop();

  boost::asio::io_context& io_;
  std::string socket_path_;
  boost::asio::local::stream_protocol::socket socket_;
  boost::asio::steady_timer deadline_;
  bool connected_ = false;
  bool reading_ = false;
  std::deque<Op> queue_;
  Phase phase_ = Phase::kIdle;
  int64_t sync_id_ = 0;
  qga::QgaFramer framer_;
  std::deque<std::string> write_queue_;
  uint64_t generation_ = 0;  // bumps whenever the current operation ends
  uint64_t next_op_id_ = 0;
};

}  // namespace kumo::guestlink
