#include "guestlink/agent_link.h"

#include <random>
#include <span>

#include "common/loop_read_buffer.h"

namespace kumo::guestlink {

namespace asio = boost::asio;
using boost::system::error_code;

std::shared_ptr<AgentLink> AgentLink::Create(asio::io_context& io, std::string socket_path) {
  return std::shared_ptr<AgentLink>(new AgentLink(io, std::move(socket_path)));
}

AgentLink::AgentLink(asio::io_context& io, std::string socket_path)
    : io_(io), socket_path_(std::move(socket_path)), socket_(io), deadline_(io) {
  sync_id_ = static_cast<int64_t>(std::random_device{}() & 0x3fffffff) << 16;
}

AgentLink::~AgentLink() {
  error_code ignored;
  socket_.close(ignored);
}

void AgentLink::Ping(Milliseconds timeout, std::function<void(bool)> done) {
  Op op;
  op.ping = true;
  op.done = [done = std::move(done)](QgaReply r) { done(r.ok); };
  Enqueue(std::move(op), timeout);
}

void AgentLink::Call(std::string command, json arguments, bool expect_reply, Milliseconds timeout,
                     std::function<void(QgaReply)> done) {
  Op op;
  op.ping = false;
  op.command = std::move(command);
  op.arguments = std::move(arguments);
  op.expect_reply = expect_reply;
  op.done = std::move(done);
  Enqueue(std::move(op), timeout);
}

void AgentLink::Close() {
  Drop();
  while (!queue_.empty()) {
    QgaReply r;
    r.timed_out = true;
    r.error_class = "ConnectionError";
    r.error_desc = "agent link closed";
    Finish(r);
  }
}

void AgentLink::Resync() {
  if (connected_ && phase_ == Phase::kSyncing) SendSync();
}

void AgentLink::Enqueue(Op op, Milliseconds timeout) {
  op.id = ++next_op_id_;
  op.deadline = std::chrono::steady_clock::now() + timeout;
  if (phase_ != Phase::kIdle) {
    op.waiting_timer = std::make_shared<asio::steady_timer>(io_, op.deadline);
    op.waiting_timer->async_wait([self = weak_from_this(), id = op.id](error_code ec) {
      if (auto link = self.lock(); link && !ec) link->ExpireWaiting(id);
    });
  }
  queue_.push_back(std::move(op));
  if (phase_ == Phase::kIdle) StartNext();
}

// An operation still waiting behind the current one when its time is up.
void AgentLink::ExpireWaiting(uint64_t id) {
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->id != id) continue;
    if (it == queue_.begin()) return;  // running: deadline_ governs it
    QgaReply r;
    r.timed_out = true;
    r.error_class = "Timeout";
    r.error_desc =
        "the guest agent did not answer in time (it was still busy with an earlier "
        "request)";
    asio::post(io_, [done = std::move(it->done), r = std::move(r)]() { done(r); });
    queue_.erase(it);
    return;
  }
}

void AgentLink::StartNext() {
  if (queue_.empty()) {
    phase_ = Phase::kIdle;
    return;
  }
  const uint64_t generation = ++generation_;
  if (queue_.front().waiting_timer) {
    queue_.front().waiting_timer->cancel();
    queue_.front().waiting_timer.reset();
  }
  deadline_.expires_at(queue_.front().deadline);
  deadline_.async_wait([self = weak_from_this(), generation](error_code ec) {
    auto link = self.lock();
    if (ec || !link || link->generation_ != generation) return;
    QgaReply r;
    r.timed_out = true;
    r.error_class = "Timeout";
    r.error_desc = "the guest agent did not answer in time";
    // A graceful command that drew no error reply in its window went through.
    if (link->phase_ == Phase::kGraceAfterWrite) r = QgaReply{true, false, json(), "", ""};
    link->Finish(r);
  });
  if (connected_) {
    SendSync();
  } else {
    Connect();
  }
}

void AgentLink::Connect() {
  phase_ = Phase::kConnecting;
  const uint64_t generation = generation_;
  socket_.async_connect(asio::local::stream_protocol::endpoint(socket_path_),
                        [self = weak_from_this(), generation](error_code ec) {
                          auto link = self.lock();
                          if (!link || link->generation_ != generation) return;
                          if (ec) {
                            link->Drop();
                            QgaReply r;
                            r.error_class = "ConnectionError";
                            r.error_desc = "cannot connect to the agent channel: " + ec.message();
                            link->Finish(r);
                            return;
                          }
                          // ReadMore reads only what has arrived, never waiting.
                          link->socket_.non_blocking(true, ec);
                          if (ec) return link->Drop();  // the deadline reports the failure
                          link->connected_ = true;
                          link->framer_.Reset();
                          link->ReadMore();
                          link->SendSync();
                        });
}

void AgentLink::SendSync() {
  phase_ = Phase::kSyncing;
  ++sync_id_;
  json request = {{"execute", "guest-sync-delimited"}, {"arguments", {{"id", sync_id_}}}};
  Write("\xff" + request.dump());
}

void AgentLink::SendCommand() {
  Op& op = queue_.front();
  json request = {{"execute", op.command}};
  if (!op.arguments.is_null()) request["arguments"] = op.arguments;
  phase_ = op.expect_reply ? Phase::kAwaitingReply : Phase::kGraceAfterWrite;
  Write(request.dump());
}

void AgentLink::Write(std::string bytes) {
  write_queue_.push_back(std::move(bytes));
  if (write_queue_.size() > 1) return;  // a write is under way
  auto write_front = std::make_shared<std::function<void()>>();
  *write_front = [self = weak_from_this(), write_front]() {
    auto link = self.lock();
    if (!link || link->write_queue_.empty()) return;
    asio::async_write(link->socket_, asio::buffer(link->write_queue_.front()),
                      [self, write_front](error_code ec, size_t) {
                        auto link = self.lock();
                        if (!link) return;
                        if (ec) {
                          link->write_queue_.clear();
                          link->Drop();  // the deadline reports the failure
                          return;
                        }
                        link->write_queue_.pop_front();
                        if (!link->write_queue_.empty()) (*write_front)();
                      });
  };
  (*write_front)();
}

void AgentLink::ReadMore() {
  if (reading_ || !connected_) return;
  reading_ = true;
  // Waits, then reads into the loop's shared buffer (loop_read_buffer.h):
  // an idle link holds no buffer of its own.
  socket_.async_wait(
      asio::local::stream_protocol::socket::wait_read, [self = weak_from_this()](error_code ec) {
        auto link = self.lock();
        if (!link) return;
        link->reading_ = false;
        if (ec) {
          link->Drop();  // QEMU went away; the next operation reconnects
          return;
        }
        std::span<char> buffer = LoopReadBuffer();
        size_t n = link->socket_.read_some(asio::buffer(buffer.data(), buffer.size()), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
          link->ReadMore();  // woken for nothing
          return;
        }
        if (ec) {
          link->Drop();
          return;
        }
        std::vector<qga::FramedItem> items;
        link->framer_.Feed(std::string_view(buffer.data(), n), items);
        for (const auto& item : items) {
          if (item.kind != qga::FramedItem::Kind::kMessage) continue;
          json message = json::parse(item.text, nullptr, false);
          if (!message.is_discarded()) link->OnMessage(message);
        }
        link->ReadMore();
      });
}

void AgentLink::OnMessage(const json& message) {
  if (queue_.empty()) return;  // a late reply nobody waits for
  switch (phase_) {
    case Phase::kSyncing:
      if (message.is_object() && message.value("return", json()) == json(sync_id_)) {
        if (queue_.front().ping) {
          Finish(QgaReply{true, false, json(), "", ""});
        } else {
          SendCommand();
        }
      }
      return;
    case Phase::kAwaitingReply:
    case Phase::kGraceAfterWrite:
      Finish(ToReply(message));
      return;
    default:
      return;
  }
}

void AgentLink::Finish(QgaReply reply) {
  if (queue_.empty()) return;
  ++generation_;
  deadline_.cancel();
  Op op = std::move(queue_.front());
  queue_.pop_front();
  phase_ = Phase::kIdle;
  // Run the callback after this call stack unwinds: it may enqueue more.
  asio::post(io_, [done = std::move(op.done), reply = std::move(reply)]() { done(reply); });
  StartNext();
}

void AgentLink::Drop() {
  error_code ignored;
  socket_.close(ignored);
  connected_ = false;
  framer_.Reset();
  write_queue_.clear();
}

}  // namespace kumo::guestlink
