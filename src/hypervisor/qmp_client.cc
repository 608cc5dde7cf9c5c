#include "hypervisor/qmp_client.h"

#include <utility>

namespace kumo::hypervisor {

namespace asio = boost::asio;
using boost::system::error_code;
using json = nlohmann::json;

namespace {

Status QmpError(const std::string& message) { return Status(codes::kHypervisorError, message); }

}  // namespace

std::shared_ptr<QmpClient> QmpClient::Create(asio::io_context& io) {
  return std::shared_ptr<QmpClient>(new QmpClient(io));
}

QmpClient::QmpClient(asio::io_context& io) : io_(io), socket_(io), connect_timer_(io) {}

QmpClient::~QmpClient() {
  // Pending callbacks are dropped, not called: the owner is going away.
  error_code ignored;
  socket_.close(ignored);
}

void QmpClient::Post(std::function<void()> fn) {
  asio::post(io_, [self = weak_from_this(), fn = std::move(fn)]() {
    if (self.lock()) fn();
  });
}

void QmpClient::Connect(const std::string& socket_path, Milliseconds timeout,
                        std::function<void(Status)> done) {
  connect_done_ = std::move(done);
  state_ = State::kConnecting;
  connect_timer_.expires_after(timeout);
  connect_timer_.async_wait([self = weak_from_this(), socket_path](error_code ec) {
    auto client = self.lock();
    if (ec || !client || client->state_ == State::kReady || client->state_ == State::kClosed) {
      return;
    }
    client->Fail(Status(codes::kHypervisorError,
                        "QMP at " + socket_path + " did not become ready in time",
                        "QEMU serves one QMP client at a time: is another program connected?"));
  });
  socket_.async_connect(
      asio::local::stream_protocol::endpoint(socket_path),
      [self = weak_from_this(), socket_path](error_code ec) {
        auto client = self.lock();
        if (!client || client->state_ != State::kConnecting) return;
        if (ec) {
          client->Fail(QmpError("cannot connect to QMP at " + socket_path + ": " + ec.message()));
          return;
        }
        client->state_ = State::kGreeting;
        client->ReadMore();
      });
}

void QmpClient::Execute(const std::string& command, json arguments, Reply done,
                        Milliseconds timeout) {
  if (state_ != State::kReady) {
    Post([done = std::move(done), command]() {
      done(QmpError("cannot run QMP " + command + ": not connected to QEMU"));
    });
    return;
  }
  Send(command, arguments, std::move(done), timeout);
}

void QmpClient::Send(const std::string& command, const json& arguments, Reply done,
                     Milliseconds timeout) {
  const uint64_t id = next_id_++;
  Pending pending{std::move(done), std::make_unique<asio::steady_timer>(io_, timeout)};
  pending.timer->async_wait([self = weak_from_this(), id, command](error_code ec) {
    auto client = self.lock();
    if (ec || !client) return;
    auto it = client->pending_.find(id);
    if (it == client->pending_.end()) return;
    Reply reply = std::move(it->second.done);
    client->pending_.erase(it);
    reply(QmpError("QEMU did not answer QMP " + command + " in time"));
  });
  pending_.emplace(id, std::move(pending));
  json request = {{"execute", command}, {"id", id}};
  if (!arguments.is_null()) request["arguments"] = arguments;
  Write(request.dump() + "\r\n");
}

void QmpClient::Write(std::string bytes) {
  out_.push_back(std::move(bytes));
  if (out_.size() == 1) WriteFront();
}

void QmpClient::WriteFront() {
  asio::async_write(socket_, asio::buffer(out_.front()),
                    [self = weak_from_this()](error_code ec, size_t) {
                      auto client = self.lock();
                      if (!client || client->state_ == State::kClosed) return;
                      if (ec) {
                        client->Fail(QmpError("QMP write failed: " + ec.message()));
                        return;
                      }
                      client->out_.pop_front();
                      if (!client->out_.empty()) client->WriteFront();
                    });
}

void QmpClient::ReadMore() {
  socket_.async_read_some(
      asio::buffer(read_buffer_), [self = weak_from_this()](error_code ec, size_t n) {
        auto client = self.lock();
        if (!client || client->state_ == State::kClosed) return;
        if (ec) {
          client->Fail(QmpError(ec == asio::error::eof ? "QEMU closed the QMP connection"
                                                       : "QMP read failed: " + ec.message()));
          return;
        }
        client->in_.append(client->read_buffer_.data(), n);
        if (client->ProcessInput()) client->ReadMore();
      });
}

bool QmpClient::ProcessInput() {
  size_t start = 0;
  for (;;) {
    size_t newline = in_.find('\n', start);
    if (newline == std::string::npos) break;
    if (newline - start > kMaxMessageBytes) {
      Fail(QmpError("QMP message larger than 1 MiB"));
      return false;
    }
    std::string_view line(in_.data() + start, newline - start);
    start = newline + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    json message = json::parse(line, nullptr, false);
    if (message.is_discarded() || !message.is_object()) {
      Fail(QmpError("QMP sent a message that is not a JSON object"));
      return false;
    }
    Dispatch(message);
    if (state_ == State::kClosed) return false;  // a handler closed us
  }
  in_.erase(0, start);
  if (in_.size() > kMaxMessageBytes) {
    Fail(QmpError("QMP message larger than 1 MiB"));
    return false;
  }
  return true;
}

void QmpClient::Dispatch(const json& message) {
  if (state_ == State::kGreeting) {
    OnGreeting(message);
    return;
  }
  if (message.contains("event")) {
    if (on_event_ && state_ == State::kReady) {
      EventHandler handler = on_event_;  // it may replace itself
      handler(message);
    }
    return;
  }
  auto id_it = message.find("id");
  if (id_it == message.end() || !id_it->is_number_unsigned()) return;
  auto it = pending_.find(id_it->get<uint64_t>());
  if (it == pending_.end()) return;  // a reply that came after its timeout
  Reply done = std::move(it->second.done);
  pending_.erase(it);
  if (auto ret = message.find("return"); ret != message.end()) {
    done(*ret);
    return;
  }
  const json error = message.value("error", json::object());
  std::string klass = error.is_object() ? error.value("class", "GenericError") : "GenericError";
  std::string desc = error.is_object() ? error.value("desc", "") : "";
  done(QmpError("QEMU refused the command: " + klass + ": " + desc));
}

void QmpClient::OnGreeting(const json& message) {
  if (!message.contains("QMP")) {
    Fail(QmpError("the socket does not speak QMP (no greeting)"));
    return;
  }
  greeting_ = message;
  state_ = State::kNegotiating;
  Send(
      "qmp_capabilities", json(),
      [self = weak_from_this()](Result<json> r) {
        auto client = self.lock();
        if (!client || client->state_ != State::kNegotiating) return;
        if (!r.ok()) {
          client->Fail(r.status());
          return;
        }
        client->state_ = State::kReady;
        client->connect_timer_.cancel();
        if (auto done = std::exchange(client->connect_done_, nullptr)) done(Status::Ok());
      },
      kDefaultCommandTimeout);
}

void QmpClient::Close() {
  if (state_ == State::kClosed) return;
  Fail(QmpError("QMP connection closed by kumod"));
}

void QmpClient::Fail(const Status& why) {
  if (state_ == State::kClosed) return;
  const bool was_ready = state_ == State::kReady;
  state_ = State::kClosed;
  error_code ignored;
  socket_.close(ignored);
  connect_timer_.cancel();
  out_.clear();
  std::map<uint64_t, Pending> pending = std::exchange(pending_, {});
  // Later, in order: the commands, then Connect's callback, then the closed
  // handler; Fail may run inside a caller's own call (Close).
  for (auto& [id, p] : pending) {
    p.timer->cancel();
    Post([done = std::move(p.done), why]() { done(why); });
  }
  if (auto done = std::exchange(connect_done_, nullptr)) {
    Post([done = std::move(done), why]() { done(why); });
  }
  if (was_ready && on_closed_) {
    Post([self = weak_from_this(), why]() {
      auto client = self.lock();
      if (client && client->on_closed_) client->on_closed_(why);
    });
  }
}

}  // namespace kumo::hypervisor
