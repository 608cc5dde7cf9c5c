// AgentLink against a unix socket server in the test: an agent that hangs
// (reads, never answers) and one that answers.
#include "guestlink/agent_link.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "support/io_loop.h"

namespace kumo::guestlink {
namespace {

namespace asio = boost::asio;
using asio::local::stream_protocol;
using namespace std::chrono_literals;

class AgentLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kumo-link.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/agent.sock";
    acceptor_.emplace(io_, stream_protocol::endpoint(path_));
    acceptor_->async_accept([this](boost::system::error_code ec, stream_protocol::socket s) {
      if (!ec) peer_.emplace(std::move(s));
      ReadForever();
    });
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A hung agent: takes what is written, answers nothing.
  void ReadForever() {
    if (!peer_) return;
    peer_->async_read_some(asio::buffer(sink_), [this](boost::system::error_code ec, size_t) {
      if (!ec) ReadForever();
    });
  }

  bool RunUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
    return testing::RunUntil(io_, pred, limit);
  }

  asio::io_context io_;
  std::string dir_, path_;
  std::optional<stream_protocol::acceptor> acceptor_;
  std::optional<stream_protocol::socket> peer_;
  std::array<char, 4096> sink_{};
};

// The heartbeat's ping must not wait out a long call ahead of it: its
// deadline counts from when it was asked.
TEST_F(AgentLinkTest, AQueuedPingTimesOutOnItsOwnDeadline) {
  auto link = AgentLink::Create(io_, path_);
  std::optional<QgaReply> call;
  std::optional<bool> ping;
  link->Call("kumo-init-status", json::object(), true, 5s, [&](QgaReply r) { call = r; });
  auto asked = std::chrono::steady_clock::now();
  link->Ping(300ms, [&](bool ok) { ping = ok; });
  ASSERT_TRUE(RunUntil([&] { return ping.has_value(); }, 3s)) << "the ping waited for the call";
  EXPECT_FALSE(*ping);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 1s);
  EXPECT_FALSE(call.has_value()) << "the call ahead still has time left";
  ASSERT_TRUE(RunUntil([&] { return call.has_value(); }, 8s));
  EXPECT_TRUE(call->timed_out);
}

// A booting guest's kernel drops what the host wrote before its agent
// opened the port: the sync in flight is lost. Told the port opened, the
// link asks again and the ping is answered long before its deadline.
TEST_F(AgentLinkTest, APingLostBeforeTheGuestOpenedItsPortIsAskedAgainWhenItOpens) {
  auto link = AgentLink::Create(io_, path_);
  std::optional<bool> ping;
  auto asked = std::chrono::steady_clock::now();
  link->Ping(5s, [&](bool ok) { ping = ok; });
  // The port is closed: the first sync reaches the hung peer and is dropped.
  ASSERT_TRUE(RunUntil([&] { return peer_.has_value(); }, 1s));
  RunUntil([] { return false; }, 200ms);
  // The agent opens its port and answers every sync it reads from now on.
  peer_->cancel();
  std::string got;
  std::function<void()> answer = [&] {
    peer_->async_read_some(asio::buffer(sink_), [&](boost::system::error_code ec, size_t n) {
      if (ec) return;
      got.append(sink_.data(), n);
      size_t at = got.find("\"id\": ");
      if (at == std::string::npos) at = got.find("\"id\":");
      if (at != std::string::npos) {
        size_t digits = got.find_first_of("0123456789", at);
        size_t end = got.find_first_not_of("0123456789", digits);
        if (end != std::string::npos) {
          std::string reply = "{\"return\": " + got.substr(digits, end - digits) + "}\n";
          got.erase(0, end);
          asio::write(*peer_, asio::buffer(reply));
        }
      }
      answer();
    });
  };
  answer();
  EXPECT_FALSE(ping.has_value());
  link->Resync();
  ASSERT_TRUE(RunUntil([&] { return ping.has_value(); }, 2s)) << "the ping waited out its deadline";
  EXPECT_TRUE(*ping);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 2s);
}

TEST_F(AgentLinkTest, ClosingFailsEveryQueuedOperationOnce) {
  auto link = AgentLink::Create(io_, path_);
  int calls = 0, pings = 0;
  link->Call("guest-info", json::object(), true, 5s, [&](QgaReply r) {
    EXPECT_FALSE(r.ok);
    ++calls;
  });
  link->Ping(2s, [&](bool ok) {
    EXPECT_FALSE(ok);
    ++pings;
  });
  RunUntil([] { return false; }, 100ms);
  link->Close();
  ASSERT_TRUE(RunUntil([&] { return calls + pings == 2; }, 1s));
  RunUntil([] { return false; }, 2500ms);  // no timer fires a second time
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(pings, 1);
}

// A guest whose agent channel spews garbage (here: one JSON object that never
// ends, the framer's worst case) gets a clear failure, and kumod's memory
// stays flat however much it sends.
TEST_F(AgentLinkTest, AChannelSpewingGarbageFailsClearlyWithBoundedMemory) {
  auto rss_kib = [] {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return 0L;
  };
  auto link = AgentLink::Create(io_, path_);
  std::optional<bool> ping;
  std::optional<QgaReply> call;
  link->Ping(1500ms, [&](bool ok) { ping = ok; });
  link->Call("guest-info", json::object(), true, 1500ms, [&](QgaReply r) { call = r; });
  ASSERT_TRUE(RunUntil([&] { return peer_.has_value(); }, 2s));
  const long rss_before = rss_kib();

  const std::string junk = "{\"return\": \"" + std::string(64 * 1024 - 13, 'x');
  uint64_t sent = 0;
  bool done = false;
  std::function<void()> spew = [&] {
    if (done || !peer_) return;
    asio::async_write(*peer_, asio::buffer(junk), [&](boost::system::error_code ec, size_t n) {
      sent += n;
      if (!ec) spew();
    });
  };
  spew();
  ASSERT_TRUE(RunUntil([&] { return ping.has_value() && call.has_value(); }, 5s));
  EXPECT_FALSE(*ping);
  EXPECT_FALSE(call->ok);
  EXPECT_TRUE(call->timed_out) << call->error_desc;
  EXPECT_FALSE(call->error_desc.empty());
  // The link keeps reading (and dropping) what comes, however long it takes
  // a loaded host to send 16 MiB: a link that stopped reading would stall
  // the sender here.
  EXPECT_TRUE(RunUntil([&] { return sent >= 16u * 1024 * 1024; }, 60s))
      << "the link took only " << sent << " bytes of garbage in";
  done = true;
  EXPECT_LT(rss_kib() - rss_before, 8 * 1024) << sent / (1024 * 1024) << " MiB of garbage";
}

// What a guest sends in "error" is untrusted: a non-string class or desc used
// to throw from json::value(), out of AgentLink's read handler and the loop.
TEST(AgentLinkReplies, ToReplyTakesAnyErrorShapeWithoutThrowing) {
  struct Case {
    json message;
    std::string error_class, error_desc;
  };
  const Case cases[] = {
      {{{"error", {{"class", "GenericError"}, {"desc", "no"}}}}, "GenericError", "no"},
      {{{"error", {{"class", 5}, {"desc", {1, 2}}}}}, "", ""},
      {{{"error", {{"desc", nullptr}}}}, "", ""},
      {{{"error", json::object()}}, "", ""},
  };
  for (const auto& c : cases) {
    QgaReply r;
    ASSERT_NO_THROW(r = ToReply(c.message)) << c.message.dump();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error_class, c.error_class) << c.message.dump();
    EXPECT_EQ(r.error_desc, c.error_desc) << c.message.dump();
  }
}

}  // namespace
}  // namespace kumo::guestlink
