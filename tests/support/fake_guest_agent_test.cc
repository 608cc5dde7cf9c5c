// The fake guest agent on simulated time: silence lasts exactly the real
// timeouts, answers are posted, never inline, and what it was asked is kept.
#include "support/fake_guest_agent.h"

#include <gtest/gtest.h>

#include <optional>

#include "support/simulated_clock.h"

namespace kumo::testing {
namespace {

using namespace std::chrono_literals;
using guestlink::ShutdownMode;

class FakeGuestAgentTest : public ::testing::Test {
 protected:
  // Runs the answers posted so far.
  void Poll() {
    io_.restart();
    io_.poll();
  }

  boost::asio::io_context io_;
  SimulatedClock clock_{io_};
  FakeGuestAgent agent_{io_, clock_};
};

TEST_F(FakeGuestAgentTest, AFrozenAgentsPingIsFalseOnlyAfterItsTimeout) {
  agent_.set_frozen(true);
  std::optional<bool> ping;
  agent_.Ping(1000ms, [&](bool ok) { ping = ok; });
  clock_.Advance(999ms);
  EXPECT_FALSE(ping.has_value());
  clock_.Advance(1ms);
  ASSERT_TRUE(ping.has_value());
  EXPECT_FALSE(*ping);
  EXPECT_EQ(agent_.commands(), std::vector<std::string>{"guest-sync-delimited"});
}

TEST_F(FakeGuestAgentTest, AFrozenAgentsCallsFailAfterTheRealTimeouts) {
  agent_.set_frozen(true);
  std::optional<Status> shutdown;
  std::optional<Status> health;
  agent_.Shutdown(ShutdownMode::kPowerdown, [&](Status s) { shutdown = s; });
  agent_.Health([&](Result<nlohmann::json> r) { health = r.status(); });
  clock_.Advance(guestlink::kShutdownGrace - 1ms);
  EXPECT_FALSE(shutdown.has_value());
  clock_.Advance(1ms);
  ASSERT_TRUE(shutdown.has_value());
  EXPECT_EQ(shutdown->code(), codes::kGuestAgentNotResponding);
  EXPECT_TRUE(agent_.shutdowns().empty()) << "a frozen guest never got it";
  ASSERT_TRUE(clock_.RunUntil([&] { return health.has_value(); }, guestlink::kHealthTimeout));
  EXPECT_EQ(health->code(), codes::kGuestAgentNotResponding);
  EXPECT_EQ(clock_.pending_alarms(), 0u);
}

TEST_F(FakeGuestAgentTest, AnswersArePostedAndRecorded) {
  std::optional<Status> shutdown, password;
  std::optional<Result<int64_t>> pid;
  agent_.Shutdown(ShutdownMode::kReboot, [&](Status s) { shutdown = s; });
  agent_.SetUserPassword("root", "pw", [&](Status s) { password = s; });
  agent_.Exec({"/bin/echo", {"hi"}, "", true}, [&](Result<int64_t> r) { pid = r; });
  EXPECT_FALSE(shutdown || password || pid) << "answered inline";
  Poll();
  ASSERT_TRUE(shutdown && password && pid);
  EXPECT_TRUE(shutdown->ok());
  EXPECT_TRUE(password->ok());
  ASSERT_TRUE(pid->ok());
  EXPECT_EQ(agent_.shutdowns(), std::vector<ShutdownMode>{ShutdownMode::kReboot});
  EXPECT_EQ(agent_.passwords().at("root"), "pw");
  ASSERT_EQ(agent_.execs().size(), 1u);
  EXPECT_EQ(agent_.execs()[0].path, "/bin/echo");

  guestlink::ExecStatus result;
  result.exited = true;
  result.exit_code = 3;
  result.stdout_text = "hi\n";
  agent_.set_exec_result(result);
  std::optional<Result<guestlink::ExecStatus>> status;
  agent_.GetExecStatus(**pid, [&](Result<guestlink::ExecStatus> r) { status = r; });
  Poll();
  ASSERT_TRUE(status && status->ok());
  EXPECT_EQ((*status)->exit_code, 3);
  EXPECT_EQ((*status)->stdout_text, "hi\n");
}

TEST_F(FakeGuestAgentTest, FailNextFailsOnlyTheNextCallOfThatCommand) {
  agent_.fail_next("guest-shutdown", Status(codes::kGuestCommandFailed, "no (GenericError)"));
  std::vector<Status> answers;
  agent_.Shutdown(ShutdownMode::kPowerdown, [&](Status s) { answers.push_back(s); });
  agent_.Shutdown(ShutdownMode::kPowerdown, [&](Status s) { answers.push_back(s); });
  Poll();
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].code(), codes::kGuestCommandFailed);
  EXPECT_TRUE(answers[1].ok());
  EXPECT_EQ(agent_.shutdowns().size(), 1u);
}

TEST_F(FakeGuestAgentTest, UnansweredPingsLeaveTheOtherCommandsWorking) {
  agent_.set_ping_answers(false);
  std::optional<bool> ping;
  std::optional<Result<nlohmann::json>> health;
  agent_.Ping(500ms, [&](bool ok) { ping = ok; });
  agent_.Health([&](Result<nlohmann::json> r) { health = r; });
  Poll();
  ASSERT_TRUE(health && health->ok());
  EXPECT_TRUE((*health)->contains("memory"));
  EXPECT_FALSE(ping.has_value());
  clock_.Advance(500ms);
  EXPECT_EQ(ping, false);
}

TEST_F(FakeGuestAgentTest, CloseFailsCallsInFlightAtOnceAndEveryCallAfter) {
  agent_.set_frozen(true);
  std::optional<Status> before, after;
  agent_.SetUserPassword("root", "pw", [&](Status s) { before = s; });
  agent_.Close();
  agent_.Shutdown(ShutdownMode::kHalt, [&](Status s) { after = s; });
  EXPECT_FALSE(before || after) << "answered inline";
  Poll();
  ASSERT_TRUE(before && after);
  EXPECT_EQ(before->code(), codes::kGuestAgentNotResponding);
  EXPECT_EQ(after->code(), codes::kGuestAgentNotResponding);
  EXPECT_TRUE(agent_.closed());
  EXPECT_EQ(agent_.calls_in_flight(), 0u);
  EXPECT_TRUE(agent_.passwords().empty());
}

TEST_F(FakeGuestAgentTest, InitStatusIsCommandNotFoundUntilSet) {
  std::vector<Result<nlohmann::json>> answers;
  agent_.InitStatus([&](Result<nlohmann::json> r) { answers.push_back(r); });
  Poll();
  agent_.set_init_status({{"finished", true}});
  agent_.InitStatus([&](Result<nlohmann::json> r) { answers.push_back(r); });
  Poll();
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].status().code(), codes::kGuestCommandFailed);
  ASSERT_TRUE(answers[1].ok());
  EXPECT_EQ((*answers[1])["finished"], true);
}

}  // namespace
}  // namespace kumo::testing
