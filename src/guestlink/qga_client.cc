#include "guestlink/qga_client.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <random>
#include <thread>

namespace kumo::guestlink {
namespace {

int MillisUntil(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

QgaReply ToReply(const json& message) {
  QgaReply reply;
  if (message.is_object() && message.contains("return")) {
    reply.ok = true;
    reply.value = message["return"];
  } else if (message.is_object() && message.contains("error") && message["error"].is_object()) {
    // A guest may send any type here; json::value() would throw on a
    // non-string, out of AgentLink's read handler and kumod's event loop.
    const json& error = message["error"];
    auto text = [&error](const char* key) {
      auto it = error.find(key);
      return it != error.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    reply.error_class = text("class");
    reply.error_desc = text("desc");
  } else {
    reply.error_class = "ProtocolError";
    reply.error_desc = "reply has neither return nor error: " + message.dump();
  }
  return reply;
}

QgaClient::~QgaClient() { Close(); }

void QgaClient::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  framer_.Reset();
  ready_.clear();
}

bool QgaClient::Connect(const std::string& path, Clock::time_point deadline, std::string* err) {
  Close();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    *err = "socket path too long: " + path;
    return false;
  }
  memcpy(addr.sun_path, path.c_str(), path.size());
  for (;;) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      fd_ = fd;
      peer_closed_ = false;
      if (next_sync_id_ == 0) next_sync_id_ = std::random_device{}() | 1;
      return true;
    }
    *err = "cannot connect to " + path + ": " + strerror(errno);
    if (fd >= 0) close(fd);
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool QgaClient::SendRaw(std::string_view bytes) {
  size_t sent = 0;
  while (fd_ >= 0 && sent < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return fd_ >= 0;
}

std::optional<json> QgaClient::ReadMessage(Clock::time_point deadline) {
  for (;;) {
    while (!ready_.empty()) {
      qga::FramedItem item = std::move(ready_.front());
      ready_.erase(ready_.begin());
      if (item.kind != qga::FramedItem::Kind::kMessage) continue;
      json message = json::parse(item.text, nullptr, false);
      if (!message.is_discarded()) return message;
    }
    if (fd_ < 0 || peer_closed_) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    int r = poll(&p, 1, MillisUntil(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char buf[65536];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      peer_closed_ = true;
      return std::nullopt;
    }
    framer_.Feed(std::string_view(buf, static_cast<size_t>(n)), ready_);
  }
}

bool QgaClient::Sync(Clock::time_point deadline, std::chrono::milliseconds retry_every) {
  while (Clock::now() < deadline && fd_ >= 0) {
    int64_t id = static_cast<int64_t>(next_sync_id_++ & 0x3fffffffffffLL);
    json request = {{"execute", "guest-sync-delimited"}, {"arguments", {{"id", id}}}};
    if (!SendRaw("\xff" + request.dump())) return false;
    auto attempt_end = std::min(deadline, Clock::now() + retry_every);
    while (auto message = ReadMessage(attempt_end)) {
      if (message->is_object() && message->value("return", json()) == json(id)) return true;
    }
    if (peer_closed_) return false;
  }
  return false;
}

QgaReply QgaClient::Call(const std::string& command, const json& arguments,
                         Clock::time_point deadline) {
  json request = {{"execute", command}};
  if (!arguments.is_null()) request["arguments"] = arguments;
  QgaReply reply;
  if (!SendRaw(request.dump())) {
    reply.error_class = "ConnectionError";
    reply.error_desc = "cannot write to the agent channel";
    return reply;
  }
  auto message = ReadMessage(deadline);
  if (!message) {
    reply.timed_out = true;
    reply.error_class = peer_closed_ ? "ConnectionError" : "Timeout";
    reply.error_desc = peer_closed_ ? "the agent channel closed" : "no reply before the deadline";
    return reply;
  }
  return ToReply(*message);
}

}  // namespace kumo::guestlink
