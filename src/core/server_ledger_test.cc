// ServerLedger on a real SQLite store and a simulated clock: what it writes,
// what it publishes and in which order, and how it meets another writer.
#include "core/server_ledger.h"

#include <gtest/gtest.h>

#include "store/sqlite_store.h"
#include "support/child_process.h"
#include "support/simulated_clock.h"

namespace kumo::core {
namespace {

using namespace std::chrono_literals;

class ServerLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::SqliteStore::Open(dir_ / "kumod.db");
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(*opened);
    ledger_ = std::make_unique<ServerLedger>(*store_, clock_);
    subscription_ = ledger_->Subscribe([this](const ServerChange& c) { heard_.push_back(c); });
  }

  ServerRecord NewServer(const std::string& name) {
    ServerRecord r;
    r.name = name;
    r.image = "kumo-guest";
    r.task = Task::kCreating;
    r.task_started_ms = clock_.NowMs();
    r.task_deadline_ms = clock_.NowMs() + 5000;
    return r;
  }

  testing::TempDir dir_;
  boost::asio::io_context io_;
  testing::SimulatedClock clock_{io_};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ServerLedger> ledger_;
  std::vector<ServerChange> heard_;
  ServerLedger::Subscription subscription_;
};

TEST_F(ServerLedgerTest, CreateDerivesTheStatusAndPublishesTheFirstEvent) {
  auto r = ledger_->Create(NewServer("web"), "created");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, ServerStatus::kPending);
  EXPECT_EQ(r->created_ms, clock_.NowMs());
  EXPECT_EQ(r->version, 1);
  ASSERT_EQ(heard_.size(), 1u);
  EXPECT_EQ(heard_[0].server.name, "web");
  ASSERT_TRUE(heard_[0].event.has_value());
  EXPECT_GT(heard_[0].event->id, 0);
  EXPECT_EQ(heard_[0].event->message, "created");
  EXPECT_EQ(heard_[0].event->status, "pending");
  EXPECT_EQ(ledger_->Create(NewServer("web"), "again").status().code(), codes::kAlreadyExists);
  EXPECT_EQ(heard_.size(), 1u);
}

TEST_F(ServerLedgerTest, ATransitionIsStoredBeforeItIsHeard) {
  ASSERT_TRUE(ledger_->Create(NewServer("web"), "created").ok());
  ServerLedger::Subscription check = ledger_->Subscribe([this](const ServerChange& c) {
    // Whoever hears a change can read it back from the store already.
    auto stored = store_->GetServer(c.server.name);
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->version, c.server.version);
    EXPECT_EQ(stored->power, c.server.power);
  });
  auto r = ledger_->Transition("web", "qemu", "QEMU started", [](ServerRecord& s) {
    s.power = Power::kRunning;
    s.qemu_pid = 42;
  });
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(heard_.size(), 2u);
  const ServerChange& c = heard_[1];
  EXPECT_EQ(c.server.qemu_pid, 42);
  EXPECT_EQ(c.server.status_reason, "QEMU started");
  EXPECT_EQ(c.event->kind, "qemu");
  EXPECT_EQ(c.changed, (std::vector<std::string>{"power", "status_reason", "qemu_pid"}));
  EXPECT_EQ(store_->GetServer("web")->power, Power::kRunning);
}

TEST_F(ServerLedgerTest, AQuietChangeWritesNoEventButIsHeard) {
  ASSERT_TRUE(ledger_->Create(NewServer("web"), "created").ok());
  auto r =
      ledger_->Transition("web", "agent", "", [](ServerRecord& s) { s.agent_last_seen_ms = 1234; });
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(heard_.size(), 2u);
  EXPECT_FALSE(heard_[1].event.has_value());
  EXPECT_EQ(heard_[1].changed, (std::vector<std::string>{"agent_last_seen"}));
  EXPECT_EQ(ledger_->Events("web", 0, 100).size(), 1u);
}

TEST_F(ServerLedgerTest, AnOverdueTaskShowsAsWarningOnTheNextTransition) {
  ASSERT_TRUE(ledger_->Create(NewServer("web"), "created").ok());
  clock_.Advance(6s);
  auto r = ledger_->Transition("web", "task", "stuck in creating", [](ServerRecord&) {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, ServerStatus::kWarning);
}

TEST_F(ServerLedgerTest, ChangesMadeByAListenerAreHeardInCommitOrderByEveryone) {
  ASSERT_TRUE(ledger_->Create(NewServer("web"), "created").ok());
  // A listener that reacts to a change with a change of its own (as the
  // diagnosis will note a finding).
  ServerLedger::Subscription reactor = ledger_->Subscribe([this](const ServerChange& c) {
    if (c.event && c.event->message == "first") ledger_->Note("web", "note", "second");
  });
  std::vector<std::string> late;
  ServerLedger::Subscription last = ledger_->Subscribe([&late](const ServerChange& c) {
    if (c.event) late.push_back(c.event->message);
  });
  ASSERT_TRUE(ledger_->Note("web", "note", "first").ok());
  ASSERT_EQ(heard_.size(), 3u);
  EXPECT_EQ(heard_[1].event->message, "first");
  EXPECT_EQ(heard_[2].event->message, "second");
  EXPECT_EQ(late, (std::vector<std::string>{"first", "second"}));
  EXPECT_LT(heard_[1].event->id, heard_[2].event->id);
}

TEST_F(ServerLedgerTest, AListenerThatUnsubscribesIsNotCalledAgain) {
  int calls = 0;
  auto once = std::make_unique<ServerLedger::Subscription>();
  *once = ledger_->Subscribe([&](const ServerChange&) {
    ++calls;
    once.reset();  // unsubscribes itself during the publish
  });
  ASSERT_TRUE(ledger_->Create(NewServer("web"), "created").ok());
  ASSERT_TRUE(ledger_->Note("web", "note", "again").ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(heard_.size(), 2u);
}

TEST_F(ServerLedgerTest, DeleteIsHeardWithItsTombstone) {
  ASSERT_TRUE(ledger_->Create(NewServer("web"), "created").ok());
  ASSERT_TRUE(ledger_->Delete("web").ok());
  ASSERT_EQ(heard_.size(), 2u);
  EXPECT_TRUE(heard_[1].deleted);
  EXPECT_EQ(heard_[1].event->kind, "deleted");
  EXPECT_EQ(ledger_->Get("web").status().code(), codes::kNotFound);
  EXPECT_EQ(ledger_->LastEventId(), heard_[1].event->id);
}

TEST_F(ServerLedgerTest, AWriteRacingAnotherWriterIsRefusedAndNotOverwritten) {
  ASSERT_TRUE(ledger_->Create(NewServer("web"), "created").ok());
  // Another writer on the same store (a second host) changes the server
  // after this ledger read it.
  ServerRecord theirs = *store_->GetServer("web");
  theirs.power = Power::kRunning;
  theirs.status_reason = "started by the other host";
  ASSERT_TRUE(store_->SaveServer(theirs, std::nullopt).ok());

  auto mine = ledger_->Transition("web", "qemu", "crashed, says this host",
                                  [](ServerRecord& s) { s.power = Power::kCrashed; });
  ASSERT_FALSE(mine.ok());
  EXPECT_EQ(mine.status().code(), codes::kConflict);
  EXPECT_EQ(heard_.size(), 1u);  // nothing published
  auto stored = store_->GetServer("web");
  EXPECT_EQ(stored->power, Power::kRunning);
  EXPECT_EQ(stored->status_reason, "started by the other host");
  // The ledger re-read the server: the next change builds on the other's.
  EXPECT_EQ(ledger_->Get("web")->status_reason, "started by the other host");
  auto next = ledger_->Transition("web", "agent", "agent answering",
                                  [](ServerRecord& s) { s.agent = AgentState::kOk; });
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->power, Power::kRunning);
}

TEST_F(ServerLedgerTest, AReopenedLedgerReadsWhatWasStored) {
  ASSERT_TRUE(ledger_->Create(NewServer("web"), "created").ok());
  ASSERT_TRUE(
      ledger_->Transition("web", "qemu", "up", [](ServerRecord& s) { s.power = Power::kRunning; })
          .ok());
  ServerLedger again(*store_, clock_);
  auto r = again.Get("web");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->power, Power::kRunning);
  EXPECT_EQ(r->version, 2);
  EXPECT_EQ(again.List().size(), 1u);
}

// A real store on a filesystem that can fill up: while `full`, every write
// fails as SQLite's does on ENOSPC (codes::kStoreFull).
class FillingStore : public store::Store {
 public:
  explicit FillingStore(store::Store& real) : real_(real) {}
  bool full = false;

  int schema_version() const override { return real_.schema_version(); }
  Result<store::Commit> CreateServer(const ServerRecord& s, const EventRecord& e) override {
    if (full) return Full();
    return real_.CreateServer(s, e);
  }
  Result<store::Commit> SaveServer(const ServerRecord& s,
                                   const std::optional<EventRecord>& e) override {
    if (full) return Full();
    return real_.SaveServer(s, e);
  }
  Result<EventRecord> DeleteServer(const std::string& n, const EventRecord& t) override {
    if (full) return Full();
    return real_.DeleteServer(n, t);
  }
  std::optional<ServerRecord> GetServer(const std::string& n) const override {
    return real_.GetServer(n);
  }
  std::vector<ServerRecord> ListServers() const override { return real_.ListServers(); }
  std::vector<EventRecord> Events(const std::string& s, int64_t a, int l) const override {
    return real_.Events(s, a, l);
  }
  std::vector<EventRecord> EventsBefore(const std::string& s, int64_t b, int l) const override {
    return real_.EventsBefore(s, b, l);
  }
  int64_t LastEventId() const override { return real_.LastEventId(); }
  Status PutImage(const ImageRecord& i) override { return real_.PutImage(i); }
  Status DeleteImage(const std::string& n) override { return real_.DeleteImage(n); }
  std::optional<ImageRecord> GetImage(const std::string& n) const override {
    return real_.GetImage(n);
  }
  std::vector<ImageRecord> ListImages() const override { return real_.ListImages(); }
  Status PutSetting(const std::string& k, const std::string& v) override {
    return real_.PutSetting(k, v);
  }
  std::optional<std::string> GetSetting(const std::string& k) const override {
    return real_.GetSetting(k);
  }

 private:
  static Status Full() {
    return Status(codes::kStoreFull, "the state directory's filesystem is full", "free space");
  }
  store::Store& real_;
};

class FullDiskTest : public ServerLedgerTest {
 protected:
  void SetUp() override {
    ServerLedgerTest::SetUp();
    filling_ = std::make_unique<FillingStore>(*store_);
    ledger_ = std::make_unique<ServerLedger>(*filling_, clock_);
    subscription_ = ledger_->Subscribe([this](const ServerChange& c) { heard_.push_back(c); });
    ASSERT_TRUE(ledger_->Create(NewServer("web"), "created").ok());
  }
  std::unique_ptr<FillingStore> filling_;
};

TEST_F(FullDiskTest, AChangeIsKeptInMemorySaidNotRecordedAndWrittenWhenSpaceReturns) {
  filling_->full = true;
  auto stopped = ledger_->Transition("web", "qemu", "stopped (forced)", [](ServerRecord& s) {
    s.task = Task::kNone;
    s.power = Power::kOff;
  });
  ASSERT_TRUE(stopped.ok()) << "a full disk must not undo what happened: "
                            << stopped.status().message();
  EXPECT_EQ(ledger_->Get("web")->power, Power::kOff);
  EXPECT_EQ(ledger_->Get("web")->status_reason,
            "stopped (forced) (not recorded: the state directory is full)");
  ASSERT_FALSE(heard_.empty());
  EXPECT_EQ(heard_.back().event->message,
            "stopped (forced) (not recorded: the state directory is full)");
  EXPECT_NE(store_->GetServer("web")->status_reason, "stopped (forced)") << "not in the store yet";
  ASSERT_TRUE(ledger_->Note("web", "agent", "later news").ok());
  EXPECT_EQ(ledger_->unsaved(), 3u);  // the record and two events

  clock_.Advance(5s);
  EXPECT_GT(ledger_->unsaved(), 0u) << "still full";
  filling_->full = false;
  clock_.Advance(3s);
  EXPECT_EQ(ledger_->unsaved(), 0u);
  auto stored = store_->GetServer("web");
  EXPECT_EQ(stored->power, Power::kOff);
  EXPECT_EQ(stored->status_reason, "stopped (forced)") << "recorded now";
  EXPECT_EQ(ledger_->Get("web")->status_reason, "stopped (forced)");
  auto events = store_->Events("web", 0, 10);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].message, "stopped (forced)");
  EXPECT_EQ(events[2].message, "later news") << "in the order they happened";
  // The ledger and the store agree again: the next write is an ordinary one.
  EXPECT_TRUE(ledger_->Transition("web", "task", "starting", [](ServerRecord&) {}).ok());
  EXPECT_EQ(store_->GetServer("web")->status_reason, "starting");
}

TEST_F(FullDiskTest, TheSpaceReserveIsGivenUpSoTheChangeIsRecordedAtOnce) {
  int released = 0, restored = 0;
  ledger_->SetSpaceReserve({[&] {
                              ++released;
                              filling_->full = false;  // its megabytes make room
                              return true;
                            },
                            [&] { ++restored; }});
  filling_->full = true;
  ASSERT_TRUE(ledger_
                  ->Transition("web", "qemu", "stopped (forced)",
                               [](ServerRecord& s) { s.power = Power::kOff; })
                  .ok());
  EXPECT_EQ(released, 1);
  EXPECT_EQ(store_->GetServer("web")->status_reason, "stopped (forced)");
  EXPECT_EQ(ledger_->unsaved(), 0u);
}

TEST_F(FullDiskTest, CreateStillFailsCleanly) {
  filling_->full = true;
  auto created = ledger_->Create(NewServer("db"), "created");
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), codes::kStoreFull);
  EXPECT_FALSE(ledger_->Get("db").ok()) << "nothing half-made";
}

}  // namespace
}  // namespace kumo::core
