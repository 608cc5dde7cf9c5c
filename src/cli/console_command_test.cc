// kumo console / console-log against fakes: a WebSocket server in the test
// for AttachConsole (pipes or a pseudo-terminal as stdin/stdout), and the
// fake REST server for ShowConsoleLog.
#include "cli/console_command.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

// clang-format off
#include "common/asio.h"
// clang-format on
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "support/child_process.h"
#include "support/fake_api_server.h"

namespace kumo::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using kumo::testing::ReadFdUntil;
using std::chrono::milliseconds;
using Request = http::request<http::string_body>;
using WebSocket = websocket::stream<beast::tcp_stream>;

// Takes one connection, reads its HTTP request and hands both to `script`.
class FakeConsoleServer {
 public:
  using Script = std::function<void(beast::tcp_stream&, Request&)>;

  explicit FakeConsoleServer(Script script)
      : script_(std::move(script)),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeConsoleServer() { Join(); }
  // Waits for the script to end.
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  ApiUrl url() const {
    return *ParseApiUrl("http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()));
  }
  Request request() {
    std::lock_guard<std::mutex> lock(mu_);
    return request_;
  }

 private:
  void Serve() {
    tcp::socket socket(io_);
    acceptor_.accept(socket);
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    Request req;
    http::read(stream, buffer, req);
    {
      std::lock_guard<std::mutex> lock(mu_);
      request_ = req;
    }
    script_(stream, req);
  }

  Script script_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::mutex mu_;
  Request request_;
  std::thread thread_;
};

// Reads WebSocket messages until the peer closes; returns what came.
std::string ReadUntilClosed(WebSocket& ws, websocket::close_reason* reason = nullptr) {
  std::string got;
  while (true) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    ws.read(buffer, ec);
    if (ec) break;
    got += beast::buffers_to_string(buffer.data());
  }
  if (reason) *reason = ws.reason();
  return got;
}

std::string ReadUntil(WebSocket& ws, const std::string& want) {
  std::string got;
  while (got.find(want) == std::string::npos) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    ws.read(buffer, ec);
    if (ec) break;
    got += beast::buffers_to_string(buffer.data());
  }
  return got;
}

void Send(WebSocket& ws, const std::string& bytes) {
  ws.binary(true);
  ws.write(asio::buffer(bytes));
}

void Refuse(beast::tcp_stream& stream, int status, const std::string& code,
            const std::string& message) {
  http::response<http::string_body> res(static_cast<http::status>(status), 11);
  res.set(http::field::content_type, "application/json");
  res.body() = json({{"error", {{"code", code}, {"message", message}, {"hint", "a hint"}}}}).dump();
  res.prepare_payload();
  http::write(stream, res);
}

// Reads `fd` until `want` appears (or 10 s pass); returns what was read.
struct Pipe {
  Pipe() { EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0); }
  ~Pipe() {
    CloseRead();
    CloseWrite();
  }
  void CloseRead() {
    if (fds[0] >= 0) close(fds[0]);
    fds[0] = -1;
  }
  void CloseWrite() {
    if (fds[1] >= 0) close(fds[1]);
    fds[1] = -1;
  }
  void Write(const std::string& s) {
    ASSERT_EQ(write(fds[1], s.data(), s.size()), (ssize_t)s.size());
  }
  int fds[2] = {-1, -1};
};

// AttachConsole on its own thread, with pipes (or given fds) for stdio.
struct Attach {
  Attach(const ApiUrl& url, int in_fd, int out_fd) {
    options.in_fd = in_fd;
    options.out_fd = out_fd;
    options.err = &err;
    options.token_source = "/state/token";
    options.connect_timeout = std::chrono::seconds(5);
    result = std::async(std::launch::async,
                        [this, url] { return AttachConsole(url, "tok", "web", options); });
  }
  int Wait() { return result.get(); }

  ConsoleOptions options;
  std::ostringstream err;  // read only after Wait()
  std::future<int> result;
};

TEST(ConsoleTarget, EncodesTheNameUnderTheBasePath) {
  EXPECT_EQ(ConsoleTarget(*ParseApiUrl("http://h:1"), "web"), "/v1/servers/web/console");
  EXPECT_EQ(ConsoleTarget(*ParseApiUrl("http://h:1"), "web", 20),
            "/v1/servers/web/console?tail=20");
  EXPECT_EQ(ConsoleTarget(*ParseApiUrl("http://h:1/kumo"), "a/b"),
            "/kumo/v1/servers/a%2Fb/console");
  EXPECT_EQ(FindConsoleEscape("abc"), std::string::npos);
  EXPECT_EQ(FindConsoleEscape("ab\x1d"
                              "c"),
            2u);
}

TEST(AttachConsole, CopiesBothWaysUntilCtrlBracket) {
  std::string server_got;
  websocket::close_reason close;
  FakeConsoleServer server([&](beast::tcp_stream& stream, Request& req) {
    WebSocket ws(std::move(stream));
    ws.accept(req);
    Send(ws, "kumo login: ");
    server_got = ReadUntil(ws, "root\n");
    Send(ws, "Password: ");
    server_got += ReadUntilClosed(ws, &close);
  });
  Pipe in, out;
  Attach attach(server.url(), in.fds[0], out.fds[1]);
  EXPECT_NE(ReadFdUntil(out.fds[0], "kumo login: ").find("kumo login: "), std::string::npos);
  in.Write("root\n");
  EXPECT_NE(ReadFdUntil(out.fds[0], "Password: ").find("Password: "), std::string::npos);
  in.Write(
      "secret\x1d"
      "after the escape");
  EXPECT_EQ(attach.Wait(), kExitOk);
  server.Join();
  EXPECT_EQ(server_got, "root\nsecret");
  EXPECT_EQ(close.code, websocket::close_code::normal);
  EXPECT_NE(attach.err.str().find("Connected to web's console. Escape character is ^]"),
            std::string::npos);
  EXPECT_NE(attach.err.str().find("detached"), std::string::npos);
}

TEST(AttachConsole, SendsTheTokenToTheConsoleEndpoint) {
  FakeConsoleServer server([&](beast::tcp_stream& stream, Request& req) {
    WebSocket ws(std::move(stream));
    ws.accept(req);
    ReadUntilClosed(ws);
  });
  Pipe in, out;
  in.CloseWrite();  // nothing to type: EOF detaches at once
  Attach attach(server.url(), in.fds[0], out.fds[1]);
  EXPECT_EQ(attach.Wait(), kExitOk);
  server.Join();
  Request req = server.request();
  EXPECT_EQ(req.target(), "/v1/servers/web/console");
  EXPECT_EQ(req[http::field::authorization], "Bearer tok");
  EXPECT_EQ(req[http::field::user_agent], "kumo-cli");
}

TEST(AttachConsole, EndOfInputDetachesAfterSendingIt) {
  std::string server_got;
  FakeConsoleServer server([&](beast::tcp_stream& stream, Request& req) {
    WebSocket ws(std::move(stream));
    ws.accept(req);
    server_got = ReadUntilClosed(ws);
  });
  Pipe in, out;
  std::string script;
  for (int i = 0; i < 2000; ++i) script += "echo line " + std::to_string(i) + "\n";
  in.Write(script);
  in.CloseWrite();
  Attach attach(server.url(), in.fds[0], out.fds[1]);
  EXPECT_EQ(attach.Wait(), kExitOk);
  server.Join();
  EXPECT_EQ(server_got, script);
  EXPECT_NE(attach.err.str().find("detached"), std::string::npos);
}

TEST(AttachConsole, KumodClosingTheConsoleEndsItCleanly) {
  FakeConsoleServer server([&](beast::tcp_stream& stream, Request& req) {
    WebSocket ws(std::move(stream));
    ws.accept(req);
    Send(ws, "reboot: Power down\r\n");
    ws.close(websocket::close_reason(websocket::close_code::normal, "server stopped"));
    ReadUntilClosed(ws);
  });
  Pipe in, out;
  Attach attach(server.url(), in.fds[0], out.fds[1]);
  EXPECT_EQ(attach.Wait(), kExitOk);
  out.CloseWrite();
  EXPECT_EQ(ReadFdUntil(out.fds[0], "\n"), "reboot: Power down\r\n");
  EXPECT_NE(attach.err.str().find("kumod closed the console: server stopped"), std::string::npos)
      << attach.err.str();
}

TEST(AttachConsole, ALostConnectionIsExit3) {
  FakeConsoleServer server([&](beast::tcp_stream& stream, Request& req) {
    WebSocket ws(std::move(stream));
    ws.accept(req);
    beast::get_lowest_layer(ws).socket().close();  // kumod died
  });
  Pipe in, out;
  Attach attach(server.url(), in.fds[0], out.fds[1]);
  EXPECT_EQ(attach.Wait(), kExitUnreachable);
  EXPECT_NE(attach.err.str().find("lost the connection to kumod"), std::string::npos)
      << attach.err.str();
}

TEST(AttachConsole, RefusalsMapToExitCodes) {
  struct Case {
    int status;
    const char* code;
    int exit_code;
  };
  for (const Case& c :
       {Case{401, "Unauthorized", kExitUnauthorized}, Case{404, "NotFound", kExitNotFound},
        Case{409, "InvalidState", kExitConflict}, Case{500, "Internal", kExitApiError}}) {
    FakeConsoleServer server([&](beast::tcp_stream& stream, Request&) {
      Refuse(stream, c.status, c.code, std::string("refused with ") + c.code);
    });
    Pipe in, out;
    Attach attach(server.url(), in.fds[0], out.fds[1]);
    EXPECT_EQ(attach.Wait(), c.exit_code) << c.status;
    EXPECT_NE(attach.err.str().find(std::string("error: refused with ") + c.code),
              std::string::npos)
        << attach.err.str();
    EXPECT_EQ(attach.err.str().find("Connected"), std::string::npos);
    if (c.status == 401) {
      EXPECT_NE(attach.err.str().find("/state/token"), std::string::npos) << attach.err.str();
    }
  }
}

TEST(AttachConsole, NoKumodIsExit3) {
  Pipe in, out;
  Attach attach(*ParseApiUrl("http://127.0.0.1:" + std::to_string(testing::UnusedPort())),
                in.fds[0], out.fds[1]);
  EXPECT_EQ(attach.Wait(), kExitUnreachable);
  EXPECT_NE(attach.err.str().find("cannot reach kumod"), std::string::npos);
}

// A pseudo-terminal as stdin: raw mode while attached (a key goes out
// without Enter), the old mode back afterwards, also after a signal.
class AttachOnTerminal : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(openpty(&master_, &slave_, nullptr, nullptr, nullptr), 0);
    ASSERT_EQ(tcgetattr(slave_, &before_), 0);
    ASSERT_TRUE(before_.c_lflag & ICANON);
  }
  void TearDown() override {
    close(master_);
    close(slave_);
  }
  bool Canonical() {
    struct termios now {};
    tcgetattr(slave_, &now);
    return now.c_lflag & ICANON;
  }
  int master_ = -1, slave_ = -1;
  struct termios before_ {};
};

TEST_F(AttachOnTerminal, RawWhileAttachedRestoredOnDetach) {
  std::string server_got;
  FakeConsoleServer server([&](beast::tcp_stream& stream, Request& req) {
    WebSocket ws(std::move(stream));
    ws.accept(req);
    Send(ws, "ready\r\n");
    server_got = ReadUntil(ws, "x");
    Send(ws, "got it\r\n");
    ReadUntilClosed(ws);
  });
  Pipe out;
  Attach attach(server.url(), slave_, out.fds[1]);
  ReadFdUntil(out.fds[0], "ready");  // output flows once the terminal is raw
  EXPECT_FALSE(Canonical());
  ASSERT_EQ(write(master_, "x", 1), 1);  // no Enter: only raw mode sends it now
  EXPECT_NE(ReadFdUntil(out.fds[0], "got it").find("got it"), std::string::npos);
  EXPECT_EQ(server_got, "x");
  ASSERT_EQ(write(master_, "\x1d", 1), 1);
  EXPECT_EQ(attach.Wait(), kExitOk);
  EXPECT_TRUE(Canonical());
  struct termios after {};
  tcgetattr(slave_, &after);
  EXPECT_EQ(after.c_lflag, before_.c_lflag);
  EXPECT_EQ(after.c_iflag, before_.c_iflag);
  EXPECT_EQ(after.c_oflag, before_.c_oflag);
}

TEST_F(AttachOnTerminal, ASignalDetachesAndRestores) {
  FakeConsoleServer server([&](beast::tcp_stream& stream, Request& req) {
    WebSocket ws(std::move(stream));
    ws.accept(req);
    Send(ws, "ready\r\n");
    ReadUntilClosed(ws);
  });
  Pipe out;
  Attach attach(server.url(), slave_, out.fds[1]);
  ReadFdUntil(out.fds[0], "ready");
  EXPECT_FALSE(Canonical());
  kill(getpid(), SIGTERM);  // taken by the session's signal handler
  EXPECT_EQ(attach.Wait(), 128 + SIGTERM);
  EXPECT_TRUE(Canonical());
  EXPECT_NE(attach.err.str().find("detached (signal 15)"), std::string::npos);
}

TEST(ShowConsoleLog, PrintsTheTextRaw) {
  testing::FakeApiServer server([](const testing::FakeRequest&) {
    return testing::FakeResponse{200, json({{"text", "boot\r\nkumo login: "}}).dump() + "\n"};
  });
  ApiClient api(*ParseApiUrl(server.url()), "secret", "/state/token");
  std::ostringstream out, err;
  Context ctx{api, false, out, err};
  EXPECT_EQ(ShowConsoleLog(ctx, "web", 20), kExitOk);
  EXPECT_EQ(out.str(), "boot\r\nkumo login: ");
  EXPECT_EQ(ShowConsoleLog(ctx, "web", 0), kExitOk);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, "/v1/servers/web/console-log?tail=20");
  EXPECT_EQ(requests[1].target, "/v1/servers/web/console-log");
  EXPECT_EQ(requests[0].authorization, "Bearer secret");

  std::ostringstream json_out;
  Context json_ctx{api, true, json_out, err};
  EXPECT_EQ(ShowConsoleLog(json_ctx, "web", 0), kExitOk);
  EXPECT_EQ(json::parse(json_out.str())["text"], "boot\r\nkumo login: ");
}

TEST(ShowConsoleLog, NotFoundIsExit4) {
  testing::FakeApiServer server([](const testing::FakeRequest&) {
    return testing::FakeResponse{
        404, R"({"error": {"code": "NotFound", "message": "no server named 'web'"}})"};
  });
  ApiClient api(*ParseApiUrl(server.url()), "secret", "/state/token");
  std::ostringstream out, err;
  Context ctx{api, false, out, err};
  EXPECT_EQ(ShowConsoleLog(ctx, "web", 0), kExitNotFound);
  EXPECT_NE(err.str().find("no server named 'web'"), std::string::npos);
}

}  // namespace
}  // namespace kumo::cli
