#include "api/http_server.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

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

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpServer::Handler& handler,
          const HttpServer::UpgradeHandler& upgrade_handler,
          const EventStreamOptions& stream_options)
      : stream_(std::move(socket)),
        handler_(handler),
        upgrade_handler_(upgrade_handler),
        stream_options_(stream_options) {}

  void Read() {
    parser_.emplace();
    parser_->body_limit(HttpServer::kMaxBodyBytes);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(std::chrono::seconds(60));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::eof) {
      return Close();
    }
    if (ec == http::error::body_limit) {
      return Write(ErrorResponse(413, codes::kPayloadTooLarge,
                                 "the request body is larger than " +
                                     std::to_string(HttpServer::kMaxBodyBytes / 1024) + " KiB"),
                   11, false);
    }
    if (ec) {
      return Write(
          ErrorResponse(400, codes::kInvalidArgument, "malformed HTTP request: " + ec.message()),
          11, false);
    }
    auto& req = parser_->get();
    ApiRequest api;
    api.method = std::string(req.method_string());
    SplitTarget(std::string(req.target()), &api.path, &api.query);
    api.authorization = std::string(req[http::field::authorization]);
    api.content_type = std::string(req[http::field::content_type]);
    api.last_event_id = std::string(req["Last-Event-ID"]);
    api.body = req.body();
    unsigned version = req.version();
    bool keep_alive = req.keep_alive();
    if (upgrade_handler_ && beast::websocket::is_upgrade(req)) {
      return Upgrade(api, version, keep_alive);
    }
    auto respond = [self = shared_from_this(), version, keep_alive](ApiResponse response) {
      self->Write(response, version, keep_alive);
    };
    try {
      handler_(api, respond);
    } catch (const std::exception& e) {
      respond(ErrorResponse(500, codes::kInternal, std::string("internal error: ") + e.what()));
    }
  }

  // The handler takes the connection (it becomes a WebSocketChannel and this
  // session ends) or refuses it with an HTTP response.
  void Upgrade(const ApiRequest& api, unsigned version, bool keep_alive) {
    auto channel = std::make_shared<BeastWebSocketChannel>();
    std::optional<ApiResponse> refusal;
    try {
      refusal = upgrade_handler_(api, channel);
    } catch (const std::exception& e) {
      refusal = ErrorResponse(500, codes::kInternal, std::string("internal error: ") + e.what());
    }
    if (refusal) return Write(*refusal, version, keep_alive);
    channel->Accept(std::move(stream_), parser_->release());
  }

  void Write(const ApiResponse& response, unsigned version, bool keep_alive) {
    if (response.stream) return Stream(response.stream, version);
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), version);
    res->set(http::field::server, "kumod");
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
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        if (ec || !keep_alive) return self->Close();
                        self->Read();
                      });
  }

  // The connection becomes the event stream (which answers the request
  // itself) and this session ends: no more requests are read from it, and
  // the session's read timeout no longer applies.
  void Stream(const std::function<void(std::shared_ptr<EventStream>)>& open, unsigned version) {
    auto stream =
        std::make_shared<BeastEventStream>(stream_.release_socket(), version, stream_options_);
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
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpServer::Handler& handler_;
  const HttpServer::UpgradeHandler& upgrade_handler_;
  const EventStreamOptions& stream_options_;
};

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
    : io_(io), handler_(std::move(handler)), acceptor_(io) {}

HttpServer::~HttpServer() {
  beast::error_code ignored;
  acceptor_.close(ignored);
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
  upgrade_handler_ = std::move(handler);
}

void HttpServer::SetEventStreamOptions(EventStreamOptions options) { stream_options_ = options; }

unsigned short HttpServer::port() const { return acceptor_.local_endpoint().port(); }

void HttpServer::Accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec)
      std::make_shared<Session>(std::move(socket), handler_, upgrade_handler_, stream_options_)
          ->Read();
    Accept();
  });
}

}  // namespace kumo::api
