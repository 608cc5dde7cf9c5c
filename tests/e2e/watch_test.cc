// The watch stream end to end: a real kumod with a real QEMU guest, watched
// over GET /v1/watch by real socket clients, while a fast poller of GET
// /v1/servers/NAME tells when each change became visible. What an operator's
// panel relies on: every change arrives at once, a watcher that reconnects
// misses nothing and gets nothing twice, and a watcher that stops reading
// costs kumod no more than its queue.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "e2e/kumod_harness.h"
#include "support/sse_client.h"

namespace kumo {
namespace {

using testing::json;
using testing::KumodHarness;
using testing::SseClient;
using testing::SseEvent;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr double kBootTimeout = 180;

// What GET /v1/servers/NAME showed, each time it changed.
struct Seen {
  std::string status;
  std::string reason;
  Clock::time_point at;
};

// Polls GET /v1/servers/NAME every 10 ms on its own thread.
class Poller {
 public:
  Poller(int port, std::string token, std::string name)
      : thread_([this, port, token = std::move(token), name = std::move(name)] {
          std::string last;
          while (!stop_) {
            auto r = testing::HttpRequest(port, "GET", "/v1/servers/" + name, token);
            json j = r.json();
            if (r.status == 200 && j.is_object()) {
              std::string status = j["status"];
              if (status != last) {
                std::lock_guard<std::mutex> lock(mu_);
                seen_.push_back({status, j["status_reason"], Clock::now()});
                last = status;
              }
            }
            std::this_thread::sleep_for(10ms);
          }
        }) {}
  ~Poller() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Seen> seen_;
  std::thread thread_;
};

bool HasStatus(const std::vector<SseEvent>& events, const std::string& server,
               const std::string& status, const std::string& reason = "") {
  for (const auto& e : events) {
    json d = e.json();
    if (e.event != "server" || d["server"] != server || d["status"] != status) continue;
    if (reason.empty()) return true;
    if (d["event"].is_object() &&
        d["event"]["message"].get<std::string>().find(reason) != std::string::npos) {
      return true;
    }
  }
  return false;
}

int64_t RssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

class Watch : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- kumod log ---\n" << kumod_.log() << "\n";
  }
  KumodHarness kumod_;
};

TEST_F(Watch, EveryChangeArrivesAtOnceAndAReconnectMissesNothing) {
  std::string err;
  ASSERT_TRUE(kumod_.Start(&err)) << err;
  SseClient first;
  ASSERT_TRUE(first.Open(kumod_.port(), "/v1/watch", kumod_.token()));
  Poller poller(kumod_.port(), kumod_.token(), "w");

  // create → pending → running
  auto created = kumod_.Call("POST", "/v1/servers", {{"name", "w"}, {"memory_mib", 192}});
  ASSERT_EQ(created.status, 201) << created.body;
  ASSERT_TRUE(first.WaitFor([](auto& ev) { return HasStatus(ev, "w", "running"); }, 180s));
  EXPECT_TRUE(HasStatus(first.events(), "w", "pending", "created"));

  // The agent freezes for a while (SIGSTOP from a helper it started): warning
  // with its reason, then running again.
  auto exec = kumod_.Exec(
      "w", {"/bin/sh", "-c",
            "(sleep 1; kill -STOP $PPID; sleep 4; kill -CONT $PPID) >/dev/null 2>&1 &"});
  ASSERT_EQ(exec.status, 200) << exec.body;
  ASSERT_TRUE(first.WaitFor(
      [](auto& ev) { return HasStatus(ev, "w", "warning", "guest agent not responding since"); },
      15s));

  // The watcher is killed midway; what happens meanwhile it must get later.
  // Its last id is read once it is closed: the diagnosis's note follows the
  // warning at once and may arrive while it closes.
  first.Close();
  std::string last_id;
  for (const auto& e : first.events()) {
    if (!e.id.empty()) last_id = e.id;
  }
  json s = kumod_.WaitStatus("w", "running", 20);
  ASSERT_EQ(s["status"], "running") << s.dump();
  SseClient second;
  ASSERT_TRUE(second.Open(kumod_.port(), "/v1/watch", kumod_.token(), last_id));
  ASSERT_TRUE(second.WaitFor([](auto& ev) { return HasStatus(ev, "w", "running"); }, 5s));

  // Force stop → stopped.
  auto force = kumod_.Call("POST", "/v1/servers/w/actions", {{"action", "stop"}, {"force", true}});
  ASSERT_EQ(force.status, 202) << force.body;
  ASSERT_TRUE(second.WaitFor([](auto& ev) { return HasStatus(ev, "w", "stopped"); }, 10s));
  std::this_thread::sleep_for(300ms);
  poller.Stop();

  // Each change the poller saw, the live watcher had within 100 ms.
  std::vector<SseEvent> live;
  for (const auto* client : {&first, &second}) {
    for (const auto& e : client->events()) {
      if (e.json()["replayed"] == false) live.push_back(e);
    }
  }
  auto seen = poller.seen();
  ASSERT_GE(seen.size(), 4u);
  int compared = 0;
  for (const Seen& change : seen) {
    // The first live message with that status near that moment.
    const SseEvent* match = nullptr;
    for (const auto& e : live) {
      json d = e.json();
      if (d["server"] != "w" || d["status"] != change.status) continue;
      if (e.at > change.at + 2s || e.at < change.at - 2s) continue;
      if (!match || std::chrono::abs(e.at - change.at) < std::chrono::abs(match->at - change.at)) {
        match = &e;
      }
    }
    if (!match) continue;  // it happened while no watcher was connected
    double late_ms = std::chrono::duration<double, std::milli>(match->at - change.at).count();
    std::cout << change.status << " (" << change.reason << "): watcher " << late_ms
              << " ms after the poller\n";
    EXPECT_LE(late_ms, 100) << change.status;
    ++compared;
  }
  EXPECT_GE(compared, 4) << "create, running, warning and stopped at least";

  // Nothing missed, nothing twice: the two watchers' ids are exactly the
  // server's timeline, each once.
  std::vector<int64_t> got;
  for (const auto* client : {&first, &second}) {
    for (const auto& e : client->events()) {
      if (!e.id.empty() && e.json()["server"] == "w") got.push_back(std::stoll(e.id));
    }
  }
  std::set<int64_t> unique(got.begin(), got.end());
  std::string sent;
  for (const auto* client : {&first, &second}) {
    sent += "\n watcher:";
    for (const auto& e : client->events()) sent += "\n  " + e.id + " " + e.data.substr(0, 160);
  }
  EXPECT_EQ(unique.size(), got.size()) << "an event was sent twice:" << sent;
  std::set<int64_t> timeline;
  std::string described;
  for (const auto& e : kumod_.Events("w")) {
    timeline.insert(e["id"].get<int64_t>());
    described += "\n  " + e.dump();
  }
  EXPECT_EQ(unique, timeline) << "the timeline:" << described;
  bool replayed = false;
  for (const auto& e : second.events()) replayed = replayed || e.json()["replayed"] == true;
  EXPECT_TRUE(replayed) << "the second watcher should have been sent what it missed";

  // The CLI follows the same stream: the timeline so far, then what comes,
  // and it ends when the server is deleted.
  testing::ChildProcess follow;
  std::string follow_out;
  ASSERT_TRUE(kumod_.StartCli({"events", "w", "--follow"}, &follow, &follow_out));
  auto printed = [&](const std::string& text) {
    for (int i = 0; i < 100; ++i) {
      if (testing::ReadFile(follow_out).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  };
  EXPECT_TRUE(printed("stopped (forced)")) << testing::ReadFile(follow_out);
  ASSERT_EQ(kumod_.Call("DELETE", "/v1/servers/w").status, 202);
  int status = follow.WaitExit(30s);
  std::string out = testing::ReadFile(follow_out);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << out;
  EXPECT_NE(out.find("delete requested"), std::string::npos) << out;
  EXPECT_NE(out.find("deleted"), std::string::npos) << out;
}

TEST_F(Watch, AWatcherThatStopsReadingIsDroppedWithinItsBound) {
  constexpr int kQueueKib = 64;
  std::string err;
  ASSERT_TRUE(kumod_.Start(&err, {"--watch-queue-kib", std::to_string(kQueueKib)})) << err;
  auto created = kumod_.Call("POST", "/v1/servers", {{"name", "p"}, {"memory_mib", 192}});
  ASSERT_EQ(created.status, 201) << created.body;
  ASSERT_EQ(kumod_.WaitStatus("p", "running", kBootTimeout)["status"], "running");
  SseClient healthy;
  ASSERT_TRUE(healthy.Open(kumod_.port(), "/v1/watch?server=p", kumod_.token()));

  // Each password set is one change with one event.
  auto burst = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto r =
          kumod_.Call("POST", "/v1/servers/p/password", {{"password", "pw" + std::to_string(i)}});
      ASSERT_EQ(r.status, 200) << r.body;
    }
  };
  // ~1 KiB a message: more than the queue and the kernel's buffers (the
  // stream's send buffer is 64 KiB, doubled by the kernel) can hold.
  constexpr int kBurst = 320;
  burst(kBurst);  // warms kumod up (allocator, SQLite cache) without a slow watcher
  int64_t before = RssKib(kumod_.pid());

  SseClient slow;
  ASSERT_TRUE(slow.Open(kumod_.port(), "/v1/watch?server=p", kumod_.token(), "", true));
  burst(kBurst);
  int64_t after = RssKib(kumod_.pid());
  std::cout << "kumod RSS " << before << " KiB before the slow watcher, " << after << " KiB after "
            << kBurst << " changes it did not read (queue bound " << kQueueKib << " KiB)\n";
  EXPECT_LE(after - before, kQueueKib + 256) << "RSS grew by more than the queue bound allows";

  // The healthy watcher heard every change.
  auto password_events = [](const std::vector<SseEvent>& ev) {
    int n = 0;
    for (const auto& e : ev) {
      json d = e.json();
      n += d["event"].is_object() && d["event"]["message"] == "password set for user root";
    }
    return n;
  };
  EXPECT_TRUE(healthy.WaitFor([&](auto& ev) { return password_events(ev) == 2 * kBurst; }, 10s))
      << password_events(healthy.events());
  // The slow one was cut off: reading now, it finds what was queued before
  // the bound, the notice, and the end.
  ASSERT_TRUE(slow.Resume());
  ASSERT_TRUE(
      slow.WaitFor([](auto& ev) { return !ev.empty() && ev.back().event == "dropped"; }, 60s))
      << slow.events().size() << " messages";
  EXPECT_LT(password_events(slow.events()), kBurst);
  for (int i = 0; i < 600 && !slow.closed_by_server(); ++i) std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(slow.closed_by_server());
  std::cout << "the slow watcher got " << password_events(slow.events()) << " of " << kBurst
            << " changes, then 'dropped'\n";
}

}  // namespace
}  // namespace kumo
