// WatchEndpoint against a real ledger (SQLite store, simulated clock) with
// recording streams: what a watcher is sent live, what a reconnecting one is
// replayed, and that a dropped or closed one is let go.
#include "api/watch_endpoint.h"

#include <gtest/gtest.h>

#include "support/core_fixtures.h"

namespace kumo::api {
namespace {

class RecordingStream : public EventStream {
 public:
  bool Send(const SseMessage& m) override {
    if (closed_) return false;
    if (sent.size() >= limit) {  // over its bound: dropped
      Close();
      return false;
    }
    sent.push_back(m);
    return true;
  }
  void SetCloseHandler(std::function<void()> handler) override { on_close_ = std::move(handler); }
  void Close() override {
    if (closed_) return;
    closed_ = true;
    if (auto h = std::move(on_close_)) h();
  }
  bool closed() const override { return closed_; }
  // The peer goes away.
  void Hangup() { Close(); }

  std::vector<SseMessage> sent;
  size_t limit = 1000000;

 private:
  bool closed_ = false;
  std::function<void()> on_close_;
};

class WatchEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override { watch_ = std::make_unique<WatchEndpoint>(*ledger_); }

  // Opens GET /v1/watch with `query` and `last_event_id`; the stream, or null
  // with the refusal in *refused.
  std::shared_ptr<RecordingStream> Open(std::map<std::string, std::string> query,
                                        const std::string& last_event_id = "",
                                        ApiResponse* refused = nullptr) {
    ApiRequest req;
    req.method = "GET";
    req.path = "/v1/watch";
    req.query = std::move(query);
    req.last_event_id = last_event_id;
    ApiResponse r = watch_->Open(req);
    if (!r.stream) {
      if (refused) *refused = r;
      return nullptr;
    }
    auto stream = std::make_shared<RecordingStream>();
    r.stream(stream);
    return stream;
  }

  void Create(const std::string& name) { db_.Create(name); }
  void Power(const std::string& name, Power p, const std::string& why) {
    ASSERT_TRUE(ledger_->Transition(name, "qemu", why, [p](ServerRecord& s) { s.power = p; }).ok());
  }
  static nlohmann::json Data(const SseMessage& m) { return nlohmann::json::parse(m.data); }
  static std::vector<std::string> Messages(const std::vector<SseMessage>& sent) {
    std::vector<std::string> out;
    for (const auto& m : sent) {
      auto d = Data(m);
      out.push_back(d["event"].is_null() ? "-" : d["event"]["message"].get<std::string>());
    }
    return out;
  }

  testing::StoredLedger db_;
  core::ServerLedger* ledger_ = db_.ledger.get();
  std::unique_ptr<WatchEndpoint> watch_;
};

TEST_F(WatchEndpointTest, AWatcherIsSentEveryChangeWithItsRecordAndEvent) {
  auto all = Open({});
  Create("web");
  Power("web", Power::kRunning, "QEMU started");
  ASSERT_EQ(all->sent.size(), 2u);
  const SseMessage& m = all->sent[1];
  EXPECT_EQ(m.event, "server");
  auto d = Data(m);
  EXPECT_EQ(d["server"], "web");
  EXPECT_EQ(d["status"], "pending");  // running, the agent not yet answering
  EXPECT_EQ(d["record"]["power"], "running");
  EXPECT_EQ(d["event"]["message"], "QEMU started");
  EXPECT_EQ(m.id, std::to_string(d["event"]["id"].get<int64_t>()));
  EXPECT_EQ(d["replayed"], false);
  EXPECT_NE(std::find(d["changed"].begin(), d["changed"].end(), "power"), d["changed"].end());
}

TEST_F(WatchEndpointTest, OneServersWatcherHearsOnlyIt) {
  Create("web");
  Create("db");
  auto web = Open({{"server", "web"}});
  Power("db", Power::kRunning, "db up");
  Power("web", Power::kRunning, "web up");
  EXPECT_EQ(Messages(web->sent), (std::vector<std::string>{"web up"}));
  ApiResponse refused;
  EXPECT_EQ(Open({{"server", "ghost"}}, "", &refused), nullptr);
  EXPECT_EQ(refused.status, 404);
}

TEST_F(WatchEndpointTest, AReconnectingWatcherGetsWhatItMissedThenLiveNothingTwice) {
  auto first = Open({});
  Create("web");
  Power("web", Power::kRunning, "one");
  std::string last_id = first->sent.back().id;
  first->Hangup();  // killed midway
  EXPECT_EQ(watch_->watchers(), 0u);
  Power("web", Power::kPaused, "two");
  ASSERT_TRUE(ledger_->Note("web", "note", "three").ok());

  auto again = Open({}, last_id);
  Power("web", Power::kRunning, "four");
  auto got = Messages(again->sent);
  EXPECT_EQ(got, (std::vector<std::string>{"two", "three", "four"}));
  EXPECT_EQ(Data(again->sent[0])["replayed"], true);
  EXPECT_EQ(Data(again->sent[0])["status"], "warning");  // paused
  EXPECT_EQ(Data(again->sent[2])["replayed"], false);
  // ?after= is the same for clients that cannot set headers.
  auto by_query = Open({{"after", last_id}});
  EXPECT_EQ(Messages(by_query->sent), (std::vector<std::string>{"two", "three", "four"}));
}

TEST_F(WatchEndpointTest, ADeletionIsReplayedToAWatcherThatMissedIt) {
  Create("web");
  std::string before = std::to_string(ledger_->LastEventId());
  ASSERT_TRUE(ledger_->Delete("web").ok());
  auto again = Open({}, before);
  ASSERT_EQ(again->sent.size(), 1u);
  auto d = Data(again->sent[0]);
  EXPECT_EQ(d["server"], "web");
  EXPECT_EQ(d["deleted"], true);
  EXPECT_EQ(d["status"], "deleted");
}

TEST_F(WatchEndpointTest, MalformedIdsAreRefused) {
  for (std::string bad : {"x", "-1", "12abc", "99999999999999999999999"}) {
    ApiResponse refused;
    EXPECT_EQ(Open({}, bad, &refused), nullptr) << bad;
    EXPECT_EQ(refused.status, 400) << bad;
    EXPECT_EQ(Open({{"after", bad}}, "", &refused), nullptr) << bad;
    EXPECT_EQ(refused.status, 400) << bad;
  }
}

TEST_F(WatchEndpointTest, ADroppedWatcherIsLetGoAndOthersGoOn) {
  auto slow = Open({});
  slow->limit = 2;
  auto healthy = Open({});
  Create("web");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(ledger_->Note("web", "note", std::to_string(i)).ok());
  EXPECT_TRUE(slow->closed());
  EXPECT_EQ(slow->sent.size(), 2u);
  EXPECT_EQ(healthy->sent.size(), 6u);
  EXPECT_EQ(watch_->watchers(), 1u);
}

TEST_F(WatchEndpointTest, AHugeBacklogIsCutWithAReloadNotice) {
  Create("web");
  for (int i = 0; i < WatchEndpoint::kMaxReplay + 10; ++i) {
    ASSERT_TRUE(ledger_->Note("web", "note", std::to_string(i)).ok());
  }
  auto again = Open({}, "0");
  ASSERT_EQ(again->sent.size(), static_cast<size_t>(WatchEndpoint::kMaxReplay) + 1);
  EXPECT_EQ(again->sent.back().event, "reload");
  EXPECT_EQ(again->sent.back().id, std::to_string(ledger_->LastEventId()));
  ASSERT_TRUE(ledger_->Note("web", "note", "live").ok());
  EXPECT_EQ(Data(again->sent.back())["event"]["message"], "live");
}

}  // namespace
}  // namespace kumo::api
