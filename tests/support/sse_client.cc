#include "support/sse_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace kumo::testing {

SseClient::~SseClient() { Close(); }

bool SseClient::Open(int port, const std::string& target, const std::string& token,
                     const std::string& last_event_id, bool stalled, int* status) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return false;
  if (stalled) {
    int small = 4096;  // before connect, so the window starts small
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                        "Accept: text/event-stream\r\n" + "Authorization: Bearer " + token + "\r\n";
  if (!last_event_id.empty()) request += "Last-Event-ID: " + last_event_id + "\r\n";
  request += "\r\n";
  if (send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return false;
  }
  if (stalled) return true;
  return ReadHeadAndFollow(status);
}

bool SseClient::Resume(int* status) { return ReadHeadAndFollow(status); }

bool SseClient::ReadHeadAndFollow(int* status) {
  // The status line and headers.
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    head.append(buf, static_cast<size_t>(n));
  }
  size_t end = head.find("\r\n\r\n");
  std::string headers = head.substr(0, end);
  int code = 0;
  sscanf(headers.c_str(), "HTTP/1.%*d %d", &code);
  if (status) *status = code;
  if (code != 200) return false;
  for (char& c : headers) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  chunked_ = headers.find("transfer-encoding: chunked") != std::string::npos;
  reader_ = std::thread([this, rest = head.substr(end + 4)] { ReadLoop(rest); });
  return true;
}

void SseClient::Close() {
  if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);
  if (reader_.joinable()) reader_.join();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void SseClient::ReadLoop(std::string pending) {
  if (!pending.empty()) Feed(pending);
  char buf[8192];
  while (true) {
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) break;
    Feed(std::string(buf, static_cast<size_t>(n)));
  }
  std::lock_guard<std::mutex> lock(mu_);
  closed_by_server_ = true;
  cv_.notify_all();
}

void SseClient::Feed(const std::string& bytes) {
  if (!chunked_) {
    text_ += bytes;
  } else {
    raw_ += bytes;
    // Decode every whole chunk: "SIZE\r\nDATA\r\n".
    while (true) {
      size_t line_end = raw_.find("\r\n");
      if (line_end == std::string::npos) break;
      size_t size = std::stoul(raw_.substr(0, line_end), nullptr, 16);
      if (raw_.size() < line_end + 2 + size + 2) break;
      text_ += raw_.substr(line_end + 2, size);
      raw_.erase(0, line_end + 2 + size + 2);
    }
  }
  size_t nl;
  while ((nl = text_.find('\n')) != std::string::npos) {
    std::string line = text_.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    text_.erase(0, nl + 1);
    OnLine(line);
  }
}

void SseClient::OnLine(const std::string& line) {
  if (line.empty()) {
    if (has_data_ || !current_.event.empty()) {
      current_.at = std::chrono::steady_clock::now();
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(current_);
      cv_.notify_all();
    }
    current_ = SseEvent{};
    has_data_ = false;
    return;
  }
  if (line[0] == ':') {
    std::lock_guard<std::mutex> lock(mu_);
    ++comments_;
    return;
  }
  size_t colon = line.find(':');
  std::string field = line.substr(0, colon);
  std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
  if (!value.empty() && value[0] == ' ') value.erase(0, 1);
  if (field == "id") current_.id = value;
  if (field == "event") current_.event = value;
  if (field == "data") {
    if (has_data_) current_.data += "\n";
    current_.data += value;
    has_data_ = true;
  }
}

std::vector<SseEvent> SseClient::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

int SseClient::comments() const {
  std::lock_guard<std::mutex> lock(mu_);
  return comments_;
}

bool SseClient::closed_by_server() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_by_server_;
}

bool SseClient::WaitFor(const std::function<bool(const std::vector<SseEvent>&)>& pred,
                        std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return pred(events_) || closed_by_server_; }) &&
         pred(events_);
}

}  // namespace kumo::testing
