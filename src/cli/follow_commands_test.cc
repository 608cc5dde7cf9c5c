// `kumo events --follow` and `kumo list --watch` against a fake kumod whose
// GET /v1/watch streams Server-Sent Events (support/fake_api_server.h).
#include <gtest/gtest.h>

#include <atomic>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "support/fake_api_server.h"

namespace kumo::cli {
namespace {

using testing::FakeApiServer;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::FakeStream;
using namespace std::chrono_literals;

json Event(int64_t id, const std::string& status, const std::string& message) {
  return {{"id", id},
          {"time", "2024-05-01T10:00:0" + std::to_string(id % 10) + ".000Z"},
          {"kind", "status"},
          {"status", status},
          {"message", message}};
}

// One `event: server` message as kumod writes it; id 0: no timeline event.
std::string Change(const std::string& server, int64_t id, const std::string& status,
                   const std::string& message, bool deleted = false, bool replayed = false) {
  json data = {{"server", server},
               {"status", status},
               {"record", replayed || deleted ? json() : json{{"name", server}}},
               {"event", id > 0 ? Event(id, status, message) : json()},
               {"deleted", deleted},
               {"replayed", replayed},
               {"changed", json::array({"status"})}};
  std::string wire = id > 0 ? "id: " + std::to_string(id) + "\n" : "";
  return wire + "event: server\ndata: " + data.dump() + "\n\n";
}

FakeResponse Stream(std::function<void(FakeStream&)> body, bool chunked = false) {
  FakeResponse r;
  r.content_type = "text/event-stream";
  r.stream = std::move(body);
  r.chunked = chunked;
  return r;
}

FakeResponse NotFound() {
  return {404, R"({"error":{"code":"NotFound","message":"no server named 'web'"}})"};
}

struct CliRun {
  explicit CliRun(const FakeApiServer& server, bool json_mode = false)
      : api(*ParseApiUrl(server.url()), "secret", "/state/token", 5s),
        ctx{api, json_mode, out, err} {}
  ApiClient api;
  std::ostringstream out, err;
  Context ctx;
};

std::vector<FakeRequest> Watches(const FakeApiServer& server) {
  std::vector<FakeRequest> out;
  for (const auto& r : server.requests()) {
    if (r.target.rfind("/v1/watch", 0) == 0) out.push_back(r);
  }
  return out;
}

TEST(FollowEvents, HistoryThenLiveEventsAcrossAReconnectWithoutDuplicates) {
  std::atomic<int> watches{0};
  FakeApiServer server([&](const FakeRequest& req) {
    if (req.target.rfind("/v1/servers/web/events", 0) == 0) {
      json events = {{"events", {Event(1, "pending", "created"), Event(2, "running", "up")}}};
      return FakeResponse{200, events.dump()};
    }
    if (++watches == 1) {
      // Replays event 3, sends 4 live, split across writes; then closes.
      return Stream([](FakeStream& s) {
        s.Write("retry: 100\n\n: keep-alive\n\n");
        s.Write(Change("web", 3, "warning", "agent not answering", false, true));
        std::string live = Change("web", 4, "running", "agent back");
        s.Write(live.substr(0, 20));
        std::this_thread::sleep_for(20ms);
        s.Write(live.substr(20));
      });
    }
    // After the reconnect: 4 again (already shown), a change without an
    // event, 5, then the deletion; held open until the CLI goes.
    return Stream(
        [](FakeStream& s) {
          s.Write("retry: 100\r\n\r\n");
          s.Write(Change("web", 4, "running", "agent back", false, true));
          s.Write(Change("web", 0, "running", ""));
          s.Write(Change("web", 5, "stopped", "stopped"));
          s.Write(Change("web", 6, "deleted", "deleted", true));
          s.WaitForClientClose(5s);
        },
        /*chunked=*/true);
  });
  CliRun run(server);
  EventsOptions options;
  options.name = "web";
  options.follow = true;
  EXPECT_EQ(ShowEvents(run.ctx, options), kExitOk) << run.err.str();
  EXPECT_EQ(run.out.str(),
            "TIME                      STATUS       KIND      MESSAGE\n"
            "2024-05-01T10:00:01.000Z  pending      status    created\n"
            "2024-05-01T10:00:02.000Z  running      status    up\n"
            "2024-05-01T10:00:03.000Z  warning (!)  status    agent not answering\n"
            "2024-05-01T10:00:04.000Z  running      status    agent back\n"
            "2024-05-01T10:00:05.000Z  stopped      status    stopped\n"
            "2024-05-01T10:00:06.000Z  deleted      status    deleted\n"
            "web: deleted\n");
  auto w = Watches(server);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].target, "/v1/watch?server=web&after=2");
  EXPECT_EQ(w[0].Header("last-event-id"), "");
  EXPECT_EQ(w[0].authorization, "Bearer secret");
  EXPECT_EQ(w[0].Header("accept"), "text/event-stream");
  EXPECT_EQ(w[1].target, "/v1/watch?server=web");
  EXPECT_EQ(w[1].Header("last-event-id"), "4");
  EXPECT_EQ(server.requests()[0].target, "/v1/servers/web/events?after=0&limit=1000");
}

TEST(FollowEvents, JsonPrintsOneEventPerLineAndSaysDeletedOnStderr) {
  FakeApiServer server([&](const FakeRequest& req) {
    if (req.target.rfind("/v1/servers/web/events", 0) == 0) {
      return FakeResponse{200, json({{"events", {Event(7, "running", "up")}}}).dump()};
    }
    return Stream([](FakeStream& s) {
      s.Write(Change("web", 8, "deleted", "deleted", true));
      s.WaitForClientClose(5s);
    });
  });
  CliRun run(server, /*json_mode=*/true);
  EventsOptions options;
  options.name = "web";
  options.after = 6;
  options.follow = true;
  EXPECT_EQ(ShowEvents(run.ctx, options), kExitOk);
  std::istringstream lines(run.out.str());
  std::string line;
  std::vector<json> docs;
  while (std::getline(lines, line)) docs.push_back(json::parse(line));
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0]["id"], 7);
  EXPECT_EQ(docs[1]["id"], 8);
  EXPECT_NE(run.err.str().find("web: deleted"), std::string::npos);
  EXPECT_EQ(Watches(server)[0].target, "/v1/watch?server=web&after=7");
}

TEST(WatchServers, PrintsTheTableThenEachChange) {
  std::atomic<int> watches{0};
  FakeApiServer server([&](const FakeRequest& req) {
    if (req.target == "/v1/servers") {
      return FakeResponse{
          200, R"({"servers":[{"name":"web","status":"running","task":"none","agent":"ok"}]})"};
    }
    if (++watches > 1) return NotFound();  // ends the watch, for the test
    return Stream([](FakeStream& s) {
      s.Write("retry: 100\n\n");
      s.Write(Change("web", 11, "warning", "agent not answering"));
      s.Write(Change("db", 12, "deleted", "deleted", true));
    });
  });
  CliRun run(server);
  EXPECT_EQ(WatchServers(run.ctx), kExitNotFound);
  EXPECT_EQ(run.out.str(),
            "NAME  STATUS   TASK  AGENT  VCPUS  MEMORY  IMAGE  REASON\n"
            "web   running  -     ok     -      -       -      -\n"
            "\n"
            "TIME                      SERVER            STATUS       MESSAGE\n"
            "2024-05-01T10:00:01.000Z  web               warning (!)  agent not answering\n"
            "2024-05-01T10:00:02.000Z  db                deleted      deleted\n");
  auto w = Watches(server);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].target, "/v1/watch");
  EXPECT_EQ(w[1].Header("last-event-id"), "12");
}

TEST(WatchServers, ADroppedStreamIsResumedFromTheLastId) {
  std::atomic<int> watches{0};
  FakeApiServer server([&](const FakeRequest& req) {
    if (req.target == "/v1/servers") return FakeResponse{200, R"({"servers":[]})"};
    int n = ++watches;
    if (n == 1) {
      return Stream([](FakeStream& s) {
        s.Write("retry: 100\n\n" + Change("web", 20, "pending", "starting"));
        s.Write("event: dropped\ndata: {\"reason\":\"the client is too slow\"}\n\n");
        s.WaitForClientClose(5s);
      });
    }
    if (n == 2) {
      return Stream([](FakeStream& s) {
        s.Write(Change("web", 20, "pending", "starting", false, true));  // replayed again
        s.Write(Change("web", 21, "running", "agent answers"));
        s.Write(Change("web", 0, "running", ""));
      });
    }
    return NotFound();
  });
  CliRun run(server, /*json_mode=*/true);
  EXPECT_EQ(WatchServers(run.ctx), kExitNotFound);
  std::istringstream lines(run.out.str());
  std::string line;
  std::vector<json> docs;
  while (std::getline(lines, line)) docs.push_back(json::parse(line));
  ASSERT_EQ(docs.size(), 5u) << run.out.str();  // the list, 3 changes, the 404's error
  EXPECT_EQ(docs[0], json::parse(R"({"servers":[]})"));
  EXPECT_EQ(docs[1]["event"]["id"], 20);
  EXPECT_EQ(docs[2]["event"]["id"], 21);
  EXPECT_TRUE(docs[3]["event"].is_null());
  EXPECT_TRUE(docs[4].contains("error"));
  EXPECT_NE(run.err.str().find("the client is too slow"), std::string::npos) << run.err.str();
  auto w = Watches(server);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[1].Header("last-event-id"), "20");
  EXPECT_EQ(w[2].Header("last-event-id"), "21");
}

TEST(WatchServers, AnEndlessLineFromTheServerIsRefused) {
  FakeApiServer server([&](const FakeRequest& req) {
    if (req.target == "/v1/servers") return FakeResponse{200, R"({"servers":[]})"};
    return Stream([](FakeStream& s) {
      std::string junk(64 * 1024, 'x');
      s.Write("data: ");
      for (int i = 0; i < 64 && s.Write(junk); ++i) {
      }
    });
  });
  CliRun run(server);
  EXPECT_EQ(WatchServers(run.ctx), kExitApiError);
  EXPECT_NE(run.err.str().find("longer than"), std::string::npos) << run.err.str();
}

TEST(FollowEvents, AnUnknownServerIsNotFound) {
  FakeApiServer server([&](const FakeRequest&) { return NotFound(); });
  CliRun run(server);
  EventsOptions options;
  options.name = "web";
  options.follow = true;
  EXPECT_EQ(ShowEvents(run.ctx, options), kExitNotFound);
  EXPECT_EQ(server.requests().size(), 1u);
}

}  // namespace
}  // namespace kumo::cli
