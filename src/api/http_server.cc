#include "api/http_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <iostream>
#include <limits>
#include <sstream>

namespace kumo::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && isxdigit(s[i + 1]) && isxdigit(s[i + 2])) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// A connection's place under the cap; given up when destroyed.
class ConnectionSlot {
 public:
  ConnectionSlot(std::shared_ptr<ServerConnections> shared, uint64_t id)
      : shared_(std::move(shared)), id_(id) {}
  ~ConnectionSlot();
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  uint64_t id() const { return id_; }

 private:
  std::shared_ptr<ServerConnections> shared_;
  uint64_t id_;
};

class Session;

}  // namespace

// What the server and its sessions share; it lives as long as either.
struct ServerConnections {
  HttpServer::Handler handler;
  HttpServer::UpgradeHandler upgrade_handler;
  HttpServer::UploadHandler upload_handler;
  std::chrono::milliseconds upload_idle_timeout = std::chrono::seconds(60);
  EventStreamOptions stream_options;
  std::function<void(const std::string&)> log;
  ConnectionLimit limit{1};
  std::map<uint64_t, std::weak_ptr<Session>> sessions;  // the admitted, by slot id
  size_t refusing = 0;                                  // refusals being answered
  bool near_cap = false;
};

namespace {

ConnectionSlot::~ConnectionSlot() {
  shared_->limit.Close(id_);
  shared_->sessions.erase(id_);
}

// Answering 503s holds descriptors too: past this many at once, a refused
// connection gets its answer in one non-blocking write and is closed.
constexpr size_t kMaxRefusing = 64;
constexpr auto kRefusalReadTimeout = std::chrono::seconds(2);
// A state-changing request that waited longer than this before kumod read it
// is logged (it is still carried out: its client is still connected).
constexpr uint32_t kLongWaitMs = 5000;

// True if the peer has closed its side (FIN) or reset the connection: a
// non-blocking peek returns 0 or an error other than "no data yet".
bool PeerGone(int fd) {
  char byte;
  ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return false;
  if (n == 0) return true;
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

// Milliseconds since the last bytes arrived from the peer (the kernel's
// count), 0 if unknown.
uint32_t MsSinceLastData(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  return info.tcpi_last_data_recv;
}

std::string PeerName(const tcp::socket& socket) {
  beast::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  if (ec) return "a client";
  return peer.address().to_string() + ":" + std::to_string(peer.port());
}

std::string Seconds(uint32_t ms) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f s", ms / 1000.0);
  return buf;
}

ApiResponse TooManyConnections(size_t cap) {
  return ErrorResponse(
      503, codes::kTooManyConnections,
      "kumod is at its limit of " + std::to_string(cap) +
          " concurrent API connections (--max-connections), all busy; this connection is refused",
      "retry in a moment; close watch streams or consoles you no longer need, or raise "
      "--max-connections (kumod's open-files limit bounds it)");
}

std::string Render(const ApiResponse& response, unsigned version, bool keep_alive) {
  http::response<http::string_body> res(static_cast<http::status>(response.status), version);
  res.set(http::field::server, "kumod");
  res.keep_alive(keep_alive);
  res.set(http::field::content_type, "application/json");
  res.body() = response.body.dump() + "\n";
  res.prepare_payload();
  std::ostringstream out;
  out << res;
  return out.str();
}

ApiRequest ToApiRequest(const http::request_header<>& req) {
  ApiRequest api;
  api.method = std::string(req.method_string());
  SplitTarget(std::string(req.target()), &api.path, &api.query);
  api.authorization = std::string(req[http::field::authorization]);
  api.content_type = std::string(req[http::field::content_type]);
  api.last_event_id = std::string(req["Last-Event-ID"]);
  api.cookie = std::string(req[http::field::cookie]);
  api.csrf_token = std::string(req["X-CSRF-Token"]);
  api.origin = std::string(req[http::field::origin]);
  api.sec_fetch_site = std::string(req["Sec-Fetch-Site"]);
  api.host = std::string(req[http::field::host]);
  api.accept_encoding = std::string(req[http::field::accept_encoding]);
  return api;
}

ApiResponse TooLarge() {
  return ErrorResponse(413, codes::kPayloadTooLarge,
                       "the request body is larger than " +
                           std::to_string(HttpServer::kMaxBodyBytes / 1024) + " KiB");
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  // An admitted connection holds `slot`; a refused one (no slot) reads one
  // request and answers it 503.
  Session(tcp::socket socket, std::shared_ptr<ServerConnections> shared,
          std::shared_ptr<ConnectionSlot> slot)
      : stream_(std::move(socket)),
        shared_(std::move(shared)),
        slot_(std::move(slot)),
        idle_deadline_(stream_.get_executor()) {
    if (!slot_) ++shared_->refusing;
  }
  ~Session() {
    if (!slot_) --shared_->refusing;
  }

  void Read() {
    // The header first: an upload is decided on it before its body is read.
    header_parser_.emplace();
    header_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());  // checked in OnHeader
    header_parser_->header_limit(16 * 1024);
    if (slot_) {
      shared_->limit.SetIdle(slot_->id(), ConnectionLimit::Clock::now());
      stream_.expires_after(shared_->limit.IdleTimeout());
    } else {
      stream_.expires_after(kRefusalReadTimeout);
    }
    http::async_read_header(
        stream_, buffer_, *header_parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // Closes the connection now if it is waiting for a request; its place is
  // free on return.
  void Evict() {
    auto slot = std::move(slot_);
    was_admitted_ = true;
    stream_.close();
  }

  // Closes the connection at `deadline` unless a request has come by then.
  void ShortenIdle(ConnectionLimit::Clock::time_point deadline) {
    if (busy_) return;
    idle_deadline_.expires_at(deadline);
    idle_deadline_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      if (auto self = weak.lock(); self && !ec && !self->busy_) self->stream_.close();
    });
  }

 private:
  void OnHeader(beast::error_code ec) {
    busy_ = true;
    idle_deadline_.cancel();
    if (slot_) shared_->limit.SetBusy(slot_->id());
    if (ec || !slot_) return OnRead(ec);
    const auto& header = header_parser_->get();
    if (shared_->upload_handler) {
      ApiRequest api = ToApiRequest(header);
      std::optional<uint64_t> length;
      if (auto n = header_parser_->content_length()) length = *n;
      std::optional<UploadStart> upload;
      try {
        upload = shared_->upload_handler(api, length);
      } catch (const std::exception& e) {
        upload = UploadStart{
            ErrorResponse(500, codes::kInternal, std::string("internal error: ") + e.what()),
            nullptr};
      }
      if (upload) {
        if (upload->refusal) return Write(*upload->refusal, header.version(), false);
        if (IsStateChanging(api.method) && !CheckPeer(api)) return Close();
        return StartUpload(std::move(upload->sink));
      }
    }
    if (auto n = header_parser_->content_length(); n && *n > HttpServer::kMaxBodyBytes) {
      return Write(TooLarge(), header.version(), false);
    }
    parser_.emplace(std::move(*header_parser_));
    parser_->body_limit(HttpServer::kMaxBodyBytes);  // a chunked body's bound
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  // The body goes to `sink` as it comes; the loop writes one chunk at a time
  // (into the page cache: kumod does not wait on the disk here).
  void StartUpload(std::unique_ptr<UploadSink> sink) {
    upload_ = std::move(sink);
    upload_parser_.emplace(std::move(*header_parser_));
    upload_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());  // the sink bounds it
    upload_buffer_.resize(HttpServer::kUploadChunkBytes);
    const auto& header = upload_parser_->get();
    if (!beast::iequals(header[http::field::expect], "100-continue")) return ReadUploadChunk();
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    stream_.expires_after(std::chrono::seconds(60));
    asio::async_write(stream_, asio::buffer(kContinue),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->AbandonUpload("could not say 100 Continue");
                        self->ReadUploadChunk();
                      });
  }

  void ReadUploadChunk() {
    if (upload_parser_->is_done()) return FinishUpload();
    auto& body = upload_parser_->get().body();
    body.data = upload_buffer_.data();
    body.size = upload_buffer_.size();
    stream_.expires_after(shared_->upload_idle_timeout);
    http::async_read_some(
        stream_, buffer_, *upload_parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnUploadChunk(ec); });
  }

  void OnUploadChunk(beast::error_code ec) {
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      return AbandonUpload(ec == beast::error::timeout
                               ? "no byte came for " + Seconds(static_cast<uint32_t>(
                                                           shared_->upload_idle_timeout.count()))
                               : ec.message());
    }
    const size_t got = upload_buffer_.size() - upload_parser_->get().body().size;
    if (got > 0) {
      if (Status s = upload_->Write(upload_buffer_.data(), got); !s.ok()) {
        upload_.reset();
        return Write(ErrorResponse(s), upload_parser_->get().version(), false);
      }
    }
    ReadUploadChunk();
  }

  void FinishUpload() {
    const unsigned version = upload_parser_->get().version();
    const bool keep_alive = upload_parser_->get().keep_alive();
    upload_buffer_ = {};
    auto respond = [self = shared_from_this(), version, keep_alive](ApiResponse response) {
      self->upload_.reset();
      self->Write(response, version, keep_alive);
    };
    try {
      upload_->Finish(respond);
    } catch (const std::exception& e) {
      respond(ErrorResponse(500, codes::kInternal, std::string("internal error: ") + e.what()));
    }
  }

  void AbandonUpload(const std::string& why) {
    const auto& header = upload_parser_->get();
    shared_->log("abandoned the upload " + std::string(header.method_string()) + " " +
                 std::string(header.target().substr(0, 200)) + " from " +
                 PeerName(stream_.socket()) + ": " + why + "; nothing of it was kept");
    upload_.reset();
    Close();
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::eof ||
        ec == asio::error::operation_aborted || (!slot_ && was_admitted_)) {
      return Close();
    }
    if (!slot_) return Write(TooManyConnections(shared_->limit.cap()), 11, false);
    if (ec == http::error::body_limit) return Write(TooLarge(), 11, false);
    if (ec) {
      return Write(
          ErrorResponse(400, codes::kInvalidArgument, "malformed HTTP request: " + ec.message()),
          11, false);
    }
    auto& req = parser_->get();
    ApiRequest api = ToApiRequest(req);
    api.body = req.body();
    unsigned version = req.version();
    bool keep_alive = req.keep_alive();
    if (IsStateChanging(api.method) && !CheckPeer(api)) return Close();
    if (shared_->upgrade_handler && beast::websocket::is_upgrade(req)) {
      return Upgrade(api, version, keep_alive);
    }
    auto respond = [self = shared_from_this(), version, keep_alive](ApiResponse response) {
      self->Write(response, version, keep_alive);
    };
    try {
      shared_->handler(api, respond);
    } catch (const std::exception& e) {
      respond(ErrorResponse(500, codes::kInternal, std::string("internal error: ") + e.what()));
    }
  }

  // A request is either answered or not acted upon: one whose client is gone
  // (it gave up while the request waited, e.g. in the listen backlog while
  // kumod had no free descriptor) is dropped. Returns false if it is.
  bool CheckPeer(const ApiRequest& api) {
    int fd = stream_.socket().native_handle();
    uint32_t waited_ms = MsSinceLastData(fd);
    std::string what = api.method + " " + api.path + " from " + PeerName(stream_.socket());
    if (PeerGone(fd)) {
      shared_->log("dropped " + what + " (sent " + Seconds(waited_ms) +
                   " ago): the client closed the connection before kumod could read the "
                   "request; nothing was done");
      return false;
    }
    if (waited_ms > kLongWaitMs) {
      shared_->log(what + " was sent " + Seconds(waited_ms) +
                   " before kumod could read it; its client is still connected, so it is "
                   "carried out");
    }
    return true;
  }

  // The handler takes the connection (it becomes a WebSocketChannel and this
  // session ends) or refuses it with an HTTP response.
  void Upgrade(const ApiRequest& api, unsigned version, bool keep_alive) {
    auto channel = std::make_shared<BeastWebSocketChannel>();
    std::optional<ApiResponse> refusal;
    try {
      refusal = shared_->upgrade_handler(api, channel);
    } catch (const std::exception& e) {
      refusal = ErrorResponse(500, codes::kInternal, std::string("internal error: ") + e.what());
    }
    if (refusal) return Write(*refusal, version, keep_alive);
    channel->HoldWhileConnected(std::move(slot_));
    channel->Accept(std::move(stream_), parser_->release());
  }

  void Write(const ApiResponse& response, unsigned version, bool keep_alive) {
    if (response.stream) return Stream(response.stream, version);
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), version);
    res->set(http::field::server, "kumod");
    for (const auto& [name, value] : response.headers) res->insert(name, value);
    res->keep_alive(keep_alive);
    if (!response.content_type.empty()) {
      res->set(http::field::content_type, response.content_type);
      res->body() = response.raw_body;
    } else {
      res->set(http::field::content_type, "application/json");
      res->body() =
          response.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
    res->prepare_payload();
    stream_.expires_after(std::chrono::seconds(60));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        if (ec || !keep_alive || !self->slot_) return self->Close();
                        self->busy_ = false;
                        self->Read();
                      });
  }

  // The connection becomes the event stream (which answers the request
  // itself) and this session ends: no more requests are read from it, and
  // the session's read timeout no longer applies.
  void Stream(const std::function<void(std::shared_ptr<EventStream>)>& open, unsigned version) {
    auto stream = std::make_shared<BeastEventStream>(stream_.release_socket(), version,
                                                     shared_->stream_options);
    stream->HoldWhileConnected(std::move(slot_));
    stream->Start();
    try {
      open(stream);
    } catch (const std::exception&) {
      stream->Close();
    }
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::request_parser<http::buffer_body>> upload_parser_;
  std::unique_ptr<UploadSink> upload_;
  std::vector<char> upload_buffer_;
  std::shared_ptr<ServerConnections> shared_;
  std::shared_ptr<ConnectionSlot> slot_;
  bool was_admitted_ = false;  // evicted: its slot is gone, it is not a refusal
  bool busy_ = false;          // a request is being handled or answered
  asio::steady_timer idle_deadline_;
};

// Admits `socket` under the cap (closing the connection idle the longest if
// need be) or refuses it with 503.
void Admit(const std::shared_ptr<ServerConnections>& shared, tcp::socket socket) {
  auto& limit = shared->limit;
  while (limit.Decide() == ConnectionLimit::Admission::kEvictIdle) {
    uint64_t id = *limit.OldestIdle();
    auto it = shared->sessions.find(id);
    auto session = it == shared->sessions.end() ? nullptr : it->second.lock();
    if (session) {
      session->Evict();
    } else {
      limit.Close(id);
      shared->sessions.erase(id);
    }
  }
  if (limit.Decide() == ConnectionLimit::Admission::kRefuse) {
    if (shared->refusing < kMaxRefusing) {
      std::make_shared<Session>(std::move(socket), shared, nullptr)->Read();
      return;
    }
    std::string bytes = Render(TooManyConnections(limit.cap()), 11, false);
    beast::error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(bytes), ignored);
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    return;  // closed as `socket` goes
  }
  auto slot = std::make_shared<ConnectionSlot>(shared, limit.Open());
  auto session = std::make_shared<Session>(std::move(socket), shared, slot);
  shared->sessions[slot->id()] = session;
  // Crossing into the top 20% of the cap: the connections already idle get
  // the short timeout too (new ones get it in Read).
  bool near = limit.NearCap();
  if (near && !shared->near_cap) {
    auto deadline = ConnectionLimit::Clock::now() + ConnectionLimit::kShortIdleTimeout;
    for (auto& [id, weak] : shared->sessions) {
      if (auto s = weak.lock(); s && s != session) s->ShortenIdle(deadline);
    }
  }
  shared->near_cap = near;
  session->Read();
}

}  // namespace

void SplitTarget(const std::string& target, std::string* path,
                 std::map<std::string, std::string>* query) {
  size_t q = target.find('?');
  *path = PercentDecode(target.substr(0, q));
  if (q == std::string::npos) return;
  std::string rest = target.substr(q + 1);
  size_t start = 0;
  while (start <= rest.size()) {
    size_t amp = rest.find('&', start);
    if (amp == std::string::npos) amp = rest.size();
    std::string pair = rest.substr(start, amp - start);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      (*query)[PercentDecode(pair.substr(0, eq))] =
          eq == std::string::npos ? "" : PercentDecode(pair.substr(eq + 1));
    }
    start = amp + 1;
  }
}

HttpServer::HttpServer(asio::io_context& io, Handler handler)
    : shared_(std::make_shared<ServerConnections>()), acceptor_(io), accept_retry_(io) {
  shared_->handler = std::move(handler);
  shared_->log = [](const std::string& line) { std::cerr << "kumod: " << line << std::endl; };
  rlimit files{};
  uint64_t open_files = getrlimit(RLIMIT_NOFILE, &files) == 0 ? files.rlim_cur : 1024;
  shared_->limit = ConnectionLimit(DefaultMaxConnections(open_files));
}

HttpServer::~HttpServer() {
  beast::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
}

void HttpServer::SetMaxConnections(size_t cap) { shared_->limit = ConnectionLimit(cap); }

size_t HttpServer::max_connections() const { return shared_->limit.cap(); }

void HttpServer::SetLog(std::function<void(const std::string&)> log) {
  shared_->log = std::move(log);
}
Status HttpServer::Listen(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return Status(codes::kInvalidArgument, "listen address must be HOST:PORT, got " + address);
  }
  beast::error_code ec;
  auto ip = asio::ip::make_address(address.substr(0, colon), ec);
  int port = 0;
  try {
    port = std::stoi(address.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (ec || port < 0 || port > 65535) {
    return Status(codes::kInvalidArgument, "listen address must be IP:PORT, got " + address);
  }
  tcp::endpoint endpoint(ip, static_cast<unsigned short>(port));
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status(codes::kInvalidArgument, "cannot listen on " + address + ": " + ec.message(),
                  "another kumod may be running; choose another address with --listen");
  }
  Accept();
  return Status::Ok();
}

void HttpServer::SetUpgradeHandler(UpgradeHandler handler) {
  shared_->upgrade_handler = std::move(handler);
}

void HttpServer::SetUploadHandler(UploadHandler handler) {
  shared_->upload_handler = std::move(handler);
}

void HttpServer::SetUploadIdleTimeout(std::chrono::milliseconds timeout) {
  shared_->upload_idle_timeout = timeout;
}

void HttpServer::SetEventStreamOptions(EventStreamOptions options) {
  shared_->stream_options = options;
}

unsigned short HttpServer::port() const { return acceptor_.local_endpoint().port(); }

void HttpServer::Accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // EMFILE and the like leave the connection in the backlog, so an
      // immediate retry would fail again at once: wait, longer each time.
      auto step = backoff_.Failed();
      if (step.first_in_episode) {
        shared_->log("cannot accept API connections: " + ec.message() + " (" +
                     std::to_string(shared_->limit.open()) +
                     " open); retrying every 50 ms to 1 s until it works");
      }
      accept_retry_.expires_after(step.delay);
      accept_retry_.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec) Accept();
      });
      return;
    }
    if (int failures = backoff_.Succeeded(); failures > 0) {
      shared_->log("accepting API connections again (after " + std::to_string(failures) +
                   " failed attempts)");
    }
    Admit(shared_, std::move(socket));
    Accept();
  });
}

}  // namespace kumo::api
