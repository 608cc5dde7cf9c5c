// RenderedServers against a real ledger (SQLite store, simulated clock): the
// text it keeps is always what rendering the ledger's record now would give.
#include "api/rendered_servers.h"

#include <gtest/gtest.h>

#include "api/router.h"
#include "support/core_fixtures.h"

namespace kumo::api {
namespace {

class RenderedServersTest : public ::testing::Test {
 protected:
  void Create(const std::string& name) { db_.Create(name); }

  // name → the kept text, parsed, and the names in the order visited.
  std::vector<std::pair<std::string, json>> Visit() {
    std::vector<std::pair<std::string, json>> out;
    rendered_->ForEach([&](const ServerRecord& r, std::string_view text) {
      out.emplace_back(r.name, json::parse(text));
    });
    return out;
  }
  // What rendering the ledger's records now gives.
  std::vector<std::pair<std::string, json>> Fresh() {
    std::vector<std::pair<std::string, json>> out;
    for (const auto& r : ledger_->List()) out.emplace_back(r.name, ServerJson(r));
    return out;
  }

  testing::StoredLedger db_;
  core::ServerLedger* ledger_ = db_.ledger.get();
  store::Store* store_ = db_.store.get();
  std::unique_ptr<RenderedServers> rendered_ = std::make_unique<RenderedServers>(*ledger_);
};

TEST_F(RenderedServersTest, EveryServerIsVisitedInNameOrderAsTheLedgerHoldsItAfterEachChange) {
  Create("web");
  Create("db");
  Create("cache");
  EXPECT_EQ(Visit(), Fresh());
  EXPECT_EQ(Visit().front().first, "cache");

  db_.clock.Advance(std::chrono::seconds(5));
  ASSERT_TRUE(ledger_
                  ->Transition("db", "qemu", "QEMU started",
                               [](ServerRecord& s) { s.power = Power::kRunning; })
                  .ok());
  auto after = Visit();
  EXPECT_EQ(after, Fresh());
  EXPECT_EQ(after[1].second["power"], "running");
  EXPECT_EQ(after[1].second["status_reason"], "QEMU started");

  ASSERT_TRUE(ledger_->Delete("web").ok());
  EXPECT_EQ(Visit(), Fresh());
  EXPECT_EQ(rendered_->kept(), 2u) << "a deleted server's text is let go";
}

// Another writer changed a server in the store: the ledger's next write is
// refused and it re-reads the server, publishing nothing. The kept text
// follows the record's version.
TEST_F(RenderedServersTest, AServerReReadAfterALostRaceIsRenderedAgain) {
  Create("web");
  ASSERT_EQ(Visit(), Fresh());

  ServerRecord theirs = *ledger_->Get("web");
  theirs.status_reason = "changed by another kumod";
  ASSERT_TRUE(store_->SaveServer(theirs, std::nullopt).ok());
  ASSERT_FALSE(ledger_->Transition("web", "task", "ours", [](ServerRecord&) {}).ok());
  ASSERT_EQ(ledger_->Get("web")->status_reason, "changed by another kumod");

  auto after = Visit();
  EXPECT_EQ(after, Fresh());
  EXPECT_EQ(after[0].second["status_reason"], "changed by another kumod");
}

}  // namespace
}  // namespace kumo::api
