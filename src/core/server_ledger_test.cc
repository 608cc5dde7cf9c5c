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

}  // namespace
}  // namespace kumo::core
