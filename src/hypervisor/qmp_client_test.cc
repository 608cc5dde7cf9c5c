#include "hypervisor/qmp_client.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "support/io_loop.h"

namespace kumo::hypervisor {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using kumo::testing::RunUntil;

// One accepted connection of the fake QEMU, blocking, with a 5 s read limit.
class Conn {
 public:
  explicit Conn(int fd) : fd_(fd) {
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Conn() { close(fd_); }
  void Write(const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }
  void Send(const json& message) { Write(message.dump() + "\r\n"); }
  // The next request, or null at EOF / timeout.
  json Read() {
    for (;;) {
      size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return json::parse(line, nullptr, false);
      }
      char chunk[4096];
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return json();
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
  void Greet() { Send({{"QMP", {{"version", {{"qemu", {{"major", 7}}}}}, {"capabilities", {}}}}}); }
  // Greets and answers qmp_capabilities.
  void Handshake() {
    Greet();
    json caps = Read();
    EXPECT_EQ(caps.value("execute", ""), "qmp_capabilities");
    Send({{"return", json::object()}, {"id", caps["id"]}});
  }

 private:
  int fd_;
  std::string buffer_;
};

// A unix socket server that runs `script` on its first connection, in a thread.
class FakeQmp {
 public:
  FakeQmp(std::string path, std::function<void(Conn&)> script) : path_(std::move(path)) {
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    unlink(path_.c_str());
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listen_fd_, 4), 0);
    thread_ = std::thread([this, script = std::move(script)]() {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      Conn conn(fd);
      script(conn);
    });
  }
  ~FakeQmp() {
    shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    close(listen_fd_);
    unlink(path_.c_str());
  }

 private:
  std::string path_;
  int listen_fd_ = -1;
  std::thread thread_;
};

class QmpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kumo-qmp.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/qmp.sock";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Connects `client`; true once ready.
  bool ConnectOk(const std::shared_ptr<QmpClient>& client) {
    std::optional<Status> connected;
    client->Connect(path_, 3s, [&](Status s) { connected = s; });
    EXPECT_FALSE(connected.has_value()) << "called back inside Connect";
    if (!RunUntil(
            io_, [&] { return connected.has_value(); }, 5s))
      return false;
    EXPECT_TRUE(connected->ok()) << connected->ToString();
    return connected->ok();
  }

  boost::asio::io_context io_;
  std::string dir_;
  std::string path_;
};

TEST_F(QmpClientTest, MatchesRepliesByIdAndDeliversEvents) {
  FakeQmp server(path_, [](Conn& c) {
    c.Handshake();
    json first = c.Read();
    json second = c.Read();
    c.Send({{"event", "STOP"}, {"timestamp", {{"seconds", 1}}}});
    // Out of order: the second command is answered first.
    c.Send({{"return", {{"status", "paused"}}}, {"id", second["id"]}});
    c.Send({{"return", {{"name", first.value("execute", "")}}}, {"id", first["id"]}});
    c.Read();  // until the client closes
  });
  auto client = QmpClient::Create(io_);
  std::vector<std::string> events;
  client->SetEventHandler([&](const json& e) { events.push_back(e["event"]); });
  ASSERT_TRUE(ConnectOk(client));
  EXPECT_EQ(client->greeting()["QMP"]["version"]["qemu"]["major"], 7);

  std::optional<Result<json>> a, b;
  client->Execute("query-name", json(), [&](Result<json> r) { a = r; });
  client->Execute("query-status", json::object(), [&](Result<json> r) { b = r; });
  ASSERT_TRUE(RunUntil(
      io_, [&] { return a && b; }, 5s));
  ASSERT_TRUE(a->ok());
  ASSERT_TRUE(b->ok());
  EXPECT_EQ((**a)["name"], "query-name");
  EXPECT_EQ((**b)["status"], "paused");
  EXPECT_EQ(events, std::vector<std::string>{"STOP"});
  client->Close();
}

TEST_F(QmpClientTest, ErrorReplyBecomesHypervisorError) {
  FakeQmp server(path_, [](Conn& c) {
    c.Handshake();
    json req = c.Read();
    EXPECT_EQ(req["arguments"]["x"], 1);
    c.Send(
        {{"error", {{"class", "CommandNotFound"}, {"desc", "The command nope has not been found"}}},
         {"id", req["id"]}});
    c.Read();
  });
  auto client = QmpClient::Create(io_);
  ASSERT_TRUE(ConnectOk(client));
  std::optional<Result<json>> r;
  client->Execute("nope", {{"x", 1}}, [&](Result<json> x) { r = x; });
  ASSERT_TRUE(RunUntil(
      io_, [&] { return r.has_value(); }, 5s));
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->status().code(), codes::kHypervisorError);
  EXPECT_NE(r->status().message().find("CommandNotFound"), std::string::npos);
  client->Close();
}

TEST_F(QmpClientTest, EofFailsPendingCommandsAndReportsClosedOnce) {
  FakeQmp server(path_, [](Conn& c) {
    c.Handshake();
    c.Read();  // the command, never answered: QEMU goes away
  });
  auto client = QmpClient::Create(io_);
  int closed = 0;
  client->SetClosedHandler([&](const Status&) { ++closed; });
  ASSERT_TRUE(ConnectOk(client));
  std::optional<Result<json>> r;
  client->Execute("quit", json(), [&](Result<json> x) { r = x; });
  ASSERT_TRUE(RunUntil(
      io_, [&] { return r.has_value() && closed > 0; }, 5s));
  EXPECT_FALSE(r->ok());
  EXPECT_FALSE(client->ready());
  // Later commands fail at once (from the loop), and closed stays at one.
  std::optional<Result<json>> later;
  client->Execute("query-status", json(), [&](Result<json> x) { later = x; });
  EXPECT_FALSE(later.has_value());
  ASSERT_TRUE(RunUntil(
      io_, [&] { return later.has_value(); }, 5s));
  EXPECT_FALSE(later->ok());
  client->Close();
  RunUntil(
      io_, [] { return false; }, 50ms);
  EXPECT_EQ(closed, 1);
}

TEST_F(QmpClientTest, OversizedMessageClosesTheConnection) {
  FakeQmp server(path_, [](Conn& c) {
    c.Handshake();
    c.Write("{\"event\":\"X\",\"data\":\"" + std::string(QmpClient::kMaxMessageBytes + 10, 'a'));
    c.Read();
  });
  auto client = QmpClient::Create(io_);
  bool closed = false;
  Status why;
  client->SetClosedHandler([&](const Status& s) {
    closed = true;
    why = s;
  });
  ASSERT_TRUE(ConnectOk(client));
  ASSERT_TRUE(RunUntil(
      io_, [&] { return closed; }, 5s));
  EXPECT_NE(why.message().find("1 MiB"), std::string::npos) << why.ToString();
}

TEST_F(QmpClientTest, MessageJustUnderTheLimitIsAccepted) {
  FakeQmp server(path_, [](Conn& c) {
    c.Handshake();
    json big = {{"event", "BIG"}, {"data", std::string(QmpClient::kMaxMessageBytes - 100, 'a')}};
    c.Send(big);
    c.Read();
  });
  auto client = QmpClient::Create(io_);
  bool got = false;
  client->SetEventHandler([&](const json& e) { got = e["event"] == "BIG"; });
  ASSERT_TRUE(ConnectOk(client));
  ASSERT_TRUE(RunUntil(
      io_, [&] { return got; }, 5s));
  EXPECT_TRUE(client->ready());
  client->Close();
}

TEST_F(QmpClientTest, NoGreetingTimesOut) {
  FakeQmp server(path_, [](Conn& c) { c.Read(); });
  auto client = QmpClient::Create(io_);
  std::optional<Status> connected;
  client->Connect(path_, 200ms, [&](Status s) { connected = s; });
  ASSERT_TRUE(RunUntil(
      io_, [&] { return connected.has_value(); }, 5s));
  EXPECT_EQ(connected->code(), codes::kHypervisorError);
  EXPECT_NE(connected->message().find("in time"), std::string::npos);
}

TEST_F(QmpClientTest, NotQmpIsRejected) {
  FakeQmp server(path_, [](Conn& c) {
    c.Send({{"hello", 1}});
    c.Read();
  });
  auto client = QmpClient::Create(io_);
  std::optional<Status> connected;
  client->Connect(path_, 3s, [&](Status s) { connected = s; });
  ASSERT_TRUE(RunUntil(
      io_, [&] { return connected.has_value(); }, 5s));
  EXPECT_FALSE(connected->ok());
}

TEST_F(QmpClientTest, NoSocketFailsToConnect) {
  auto client = QmpClient::Create(io_);
  std::optional<Status> connected;
  client->Connect(dir_ + "/missing.sock", 3s, [&](Status s) { connected = s; });
  ASSERT_TRUE(RunUntil(
      io_, [&] { return connected.has_value(); }, 5s));
  EXPECT_EQ(connected->code(), codes::kHypervisorError);
}

TEST_F(QmpClientTest, CommandWithoutReplyTimesOut) {
  FakeQmp server(path_, [](Conn& c) {
    c.Handshake();
    c.Read();
    c.Read();
  });
  auto client = QmpClient::Create(io_);
  ASSERT_TRUE(ConnectOk(client));
  std::optional<Result<json>> r;
  client->Execute(
      "query-status", json(), [&](Result<json> x) { r = x; }, 100ms);
  ASSERT_TRUE(RunUntil(
      io_, [&] { return r.has_value(); }, 5s));
  EXPECT_NE(r->status().message().find("in time"), std::string::npos);
  client->Close();
}

TEST_F(QmpClientTest, DestroyedClientCallsNobody) {
  FakeQmp server(path_, [](Conn& c) {
    c.Handshake();
    c.Read();
  });
  auto client = QmpClient::Create(io_);
  ASSERT_TRUE(ConnectOk(client));
  bool called = false;
  client->SetClosedHandler([&](const Status&) { called = true; });
  client->Execute("query-status", json(), [&](Result<json>) { called = true; });
  client->Close();  // posts the failures...
  client.reset();   // ...which must not run now
  RunUntil(
      io_, [] { return false; }, 100ms);
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace kumo::hypervisor
