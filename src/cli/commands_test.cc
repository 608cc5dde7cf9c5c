// The commands against a fake kumod (support/fake_api_server.h): requests sent,
// output printed, exit codes.
#include "cli/commands.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/fake_api_server.h"

namespace kumo::cli {
namespace {

using std::chrono::milliseconds;
using testing::FakeApiServer;
using testing::FakeRequest;
using testing::FakeResponse;

std::string ServerBody(const std::string& status, const std::string& task,
                       const std::string& reason = "") {
  return json({{"name", "web"},
               {"status", status},
               {"task", task},
               {"status_reason", reason},
               {"agent", "ok"},
               {"vcpus", 1},
               {"memory_mib", 256},
               {"image", "kumo-guest"}})
             .dump() +
         "\n";
}

FakeResponse ApiError(int status, const std::string& code, const std::string& message,
                      const std::string& hint = "") {
  json e = {{"code", code}, {"message", message}};
  if (!hint.empty()) e["hint"] = hint;
  return {status, json({{"error", e}}).dump() + "\n"};
}

// Runs one command against `server` and keeps what it printed.
struct CliRun {
  explicit CliRun(const FakeApiServer& server, bool json_mode = false,
                  milliseconds timeout = std::chrono::seconds(5))
      : api(*ParseApiUrl(server.url()), "secret", "/state/token", timeout),
        ctx{api, json_mode, out, err} {}
  explicit CliRun(const std::string& url, milliseconds timeout = std::chrono::seconds(5))
      : api(*ParseApiUrl(url), "secret", "/state/token", timeout), ctx{api, false, out, err} {}

  ApiClient api;
  std::ostringstream out, err;
  Context ctx;
};

TEST(Commands, ListPrintsTableAndSendsTheToken) {
  FakeApiServer server([](const FakeRequest&) {
    return FakeResponse{200,
                        R"({"servers":[)" + ServerBody("warning", "none", "agent down") + "]}"};
  });
  CliRun run(server);
  EXPECT_EQ(ListServers(run.ctx), kExitOk);
  EXPECT_EQ(run.out.str(),
            "NAME  STATUS       TASK  AGENT  VCPUS  MEMORY   IMAGE       REASON\n"
            "web   warning (!)  -     ok     1      256 MiB  kumo-guest  agent down\n");
  EXPECT_EQ(run.err.str(), "");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, "/v1/servers");
  EXPECT_EQ(requests[0].authorization, "Bearer secret");
}

TEST(Commands, ExecWaitsAsLongAsTheProgramMayRunNotTheUsualDeadline) {
  // kumod answers an exec when the program ends: `cloud-init status --wait`
  // may take minutes, longer than the deadline of other requests.
  FakeApiServer server([](const FakeRequest& req) {
    EXPECT_EQ(json::parse(req.body)["timeout_s"], 2);
    std::this_thread::sleep_for(milliseconds(1500));
    return FakeResponse{200, R"({"exit_code":0,"stdout":"status: done\n","stderr":""})"};
  });
  CliRun run(server, /*json_mode=*/false, milliseconds(500));
  EXPECT_EQ(ExecInGuest(run.ctx, "web", {"cloud-init", "status", "--wait"}, 2), kExitOk)
      << run.err.str();
  EXPECT_EQ(run.out.str(), "status: done\n");
}

TEST(Commands, JsonModePrintsTheApiJsonAsIs) {
  const std::string body = R"({"images": [ {"name":"kumo-guest"} ]})";
  FakeApiServer server([&](const FakeRequest&) { return FakeResponse{200, body}; });
  CliRun run(server, /*json_mode=*/true);
  EXPECT_EQ(ListImages(run.ctx), kExitOk);
  EXPECT_EQ(run.out.str(), body + "\n");
}

TEST(Commands, ShowNotFoundExits4WithMessageAndHint) {
  FakeApiServer server([](const FakeRequest&) {
    return ApiError(404, "NotFound", "no server named 'nope'", "list servers: kumo list");
  });
  CliRun run(server);
  EXPECT_EQ(ShowServer(run.ctx, "nope"), kExitNotFound);
  EXPECT_EQ(run.out.str(), "");
  EXPECT_EQ(run.err.str(), "error: no server named 'nope'\nhint: list servers: kumo list\n");
  EXPECT_EQ(server.requests()[0].target, "/v1/servers/nope");
}

TEST(Commands, ShowPrintsFields) {
  FakeApiServer server([](const FakeRequest&) {
    return FakeResponse{200, ServerBody("running", "none")};
  });
  CliRun run(server);
  EXPECT_EQ(ShowServer(run.ctx, "web"), kExitOk);
  EXPECT_EQ(run.out.str().rfind("name:          web\nstatus:        running\n", 0), 0u)
      << run.out.str();
}

TEST(Commands, NamesAreEncodedIntoOnePathSegment) {
  FakeApiServer server([](const FakeRequest&) { return ApiError(404, "NotFound", "no"); });
  CliRun run(server);
  ShowServer(run.ctx, "a/b c");
  EXPECT_EQ(server.requests()[0].target, "/v1/servers/a%2Fb%20c");
}

TEST(Commands, StopConflictExits5) {
  FakeApiServer server([](const FakeRequest&) {
    return ApiError(409, "GuestAgentNotResponding", "the guest agent of web is not responding",
                    "force-stop it: kumo stop --force web");
  });
  CliRun run(server);
  EXPECT_EQ(ServerAction(run.ctx, "web", "stop", false, {}), kExitConflict);
  EXPECT_EQ(run.err.str(),
            "error: the guest agent of web is not responding\n"
            "hint: force-stop it: kumo stop --force web\n");
  auto r = server.requests()[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/v1/servers/web/actions");
  EXPECT_EQ(json::parse(r.body), json({{"action", "stop"}, {"force", false}}));
}

TEST(Commands, StopAcpiPressesThePowerButton) {
  FakeApiServer server([](const FakeRequest&) {
    return FakeResponse{202, ServerBody("pending", "stopping", "power button pressed (ACPI)")};
  });
  CliRun run(server);
  EXPECT_EQ(PressPowerButton(run.ctx, "web", {}), kExitOk);
  auto r = server.requests()[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/v1/servers/web/actions");
  EXPECT_EQ(json::parse(r.body), json({{"action", "stop"}, {"acpi", true}}));
  EXPECT_NE(run.out.str().find("power button pressed (ACPI)"), std::string::npos) << run.out.str();
}

TEST(Commands, JsonModeErrorsAlsoPrintTheApiErrorOnStdout) {
  FakeApiServer server([](const FakeRequest&) { return ApiError(409, "ServerBusy", "busy"); });
  CliRun run(server, /*json_mode=*/true);
  EXPECT_EQ(ServerAction(run.ctx, "web", "reboot", true, {}), kExitConflict);
  EXPECT_EQ(json::parse(run.out.str())["error"]["code"], "ServerBusy");
  EXPECT_EQ(run.err.str(), "error: busy\n");
  EXPECT_EQ(json::parse(server.requests()[0].body), json({{"action", "reboot"}, {"force", true}}));
}

TEST(Commands, StartSendsNoForceAndPrintsTheNewStatus) {
  FakeApiServer server([](const FakeRequest&) {
    return FakeResponse{202, ServerBody("pending", "starting", "start requested")};
  });
  CliRun run(server);
  EXPECT_EQ(ServerAction(run.ctx, "web", "start", false, {}), kExitOk);
  EXPECT_EQ(run.out.str(), "web: pending (task starting): start requested\n");
  EXPECT_EQ(json::parse(server.requests()[0].body), json({{"action", "start"}}));
}

TEST(Commands, UnauthorizedExits7) {
  FakeApiServer server([](const FakeRequest&) {
    return ApiError(401, "Unauthorized", "a valid bearer token is required", "api hint");
  });
  CliRun run(server);
  EXPECT_EQ(ListServers(run.ctx), kExitUnauthorized);
  EXPECT_NE(run.err.str().find("hint: the token sent came from /state/token"), std::string::npos);
}

TEST(Commands, UnreachableExits3AndNamesTheUrl) {
  std::string url = "http://127.0.0.1:" + std::to_string(testing::UnusedPort());
  CliRun run(url);
  EXPECT_EQ(ListServers(run.ctx), kExitUnreachable);
  EXPECT_NE(run.err.str().find("error: cannot reach kumod at " + url), std::string::npos)
      << run.err.str();
  EXPECT_NE(run.err.str().find("hint: is kumod running?"), std::string::npos);
}

TEST(Commands, NoAnswerInTimeExits3) {
  FakeApiServer server([](const FakeRequest&) {
    std::this_thread::sleep_for(milliseconds(800));
    return FakeResponse{200, "{}"};
  });
  CliRun run(server.url(), milliseconds(200));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ListServers(run.ctx), kExitUnreachable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(700));
  EXPECT_NE(run.err.str().find("did not answer within 0.2 s"), std::string::npos) << run.err.str();
}

TEST(Commands, ReplyThatIsNotJsonExits1) {
  FakeApiServer server([](const FakeRequest&) { return FakeResponse{200, "<html>"}; });
  CliRun run(server);
  EXPECT_EQ(ListServers(run.ctx), kExitApiError);
  EXPECT_NE(run.err.str().find("is not JSON"), std::string::npos);
}

TEST(Commands, CreateWaitFollowsToRunning) {
  std::atomic<int> gets{0};
  FakeApiServer server([&](const FakeRequest& r) {
    if (r.method == "POST")
      return FakeResponse{201, ServerBody("pending", "creating", "create requested")};
    int n = ++gets;
    if (n < 3) return FakeResponse{200, ServerBody("pending", "starting", "booting")};
    return FakeResponse{200, ServerBody("running", "none", "agent answered")};
  });
  CliRun run(server);
  CreateOptions options;
  options.name = "web";
  options.memory_mib = 512;
  options.wait.wait = true;
  EXPECT_EQ(CreateServer(run.ctx, options), kExitOk) << run.err.str();
  EXPECT_EQ(run.out.str(),
            "web: pending (task creating): create requested\n"
            "web: pending (task starting): booting\n"
            "web: running: agent answered\n");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(json::parse(requests[0].body), json({{"name", "web"}, {"memory_mib", 512}}));
  EXPECT_EQ(requests[1].target, "/v1/servers/web");
}

TEST(Commands, CreateWaitEndingInErrorExits1WithTheReason) {
  FakeApiServer server([&](const FakeRequest& r) {
    if (r.method == "POST") return FakeResponse{201, ServerBody("pending", "creating")};
    return FakeResponse{200, ServerBody("error", "none", "QEMU exited: cannot open disk")};
  });
  CliRun run(server);
  CreateOptions options;
  options.name = "web";
  options.wait.wait = true;
  EXPECT_EQ(CreateServer(run.ctx, options), kExitApiError);
  EXPECT_NE(run.err.str().find("error: server web is error instead of running: QEMU exited: "
                               "cannot open disk"),
            std::string::npos)
      << run.err.str();
  EXPECT_NE(run.err.str().find("hint: see what happened: kumo events web"), std::string::npos);
}

TEST(Commands, StopWaitTimesOutWith6) {
  FakeApiServer server([&](const FakeRequest&) {
    return FakeResponse{202, ServerBody("pending", "stopping", "graceful stop")};
  });
  CliRun run(server);
  EXPECT_EQ(ServerAction(run.ctx, "web", "stop", false, {true, milliseconds(500)}), kExitTimeout);
  EXPECT_NE(run.err.str().find("error: timed out after 0.5 s waiting for web to be stopped (now "
                               "web: pending (task stopping): graceful stop)"),
            std::string::npos)
      << run.err.str();
  EXPECT_GE(server.requests().size(), 3u);  // polled every 200 ms
}

TEST(Commands, DeleteWaitUntilGone) {
  FakeApiServer server([&](const FakeRequest& r) {
    if (r.method == "DELETE")
      return FakeResponse{202, ServerBody("pending", "deleting", "delete requested")};
    return ApiError(404, "NotFound", "no server named 'web'");
  });
  CliRun run(server);
  EXPECT_EQ(DeleteServer(run.ctx, "web", true, {true, milliseconds(5000)}), kExitOk);
  EXPECT_EQ(run.out.str(), "web: pending (task deleting): delete requested\nweb: deleted\n");
  EXPECT_EQ(server.requests()[0].target, "/v1/servers/web?force=true");
}

TEST(Commands, WaitForStatusReachesAndPrintsOneLine) {
  std::atomic<int> gets{0};
  FakeApiServer server([&](const FakeRequest&) {
    return FakeResponse{200, ++gets < 3 ? ServerBody("running", "none")
                                        : ServerBody("warning", "none", "agent down")};
  });
  CliRun run(server);
  EXPECT_EQ(WaitForStatus(run.ctx, "web", "warning", milliseconds(5000)), kExitOk);
  EXPECT_EQ(run.out.str(), "web: warning (!): agent down\n");
}

TEST(Commands, WaitForStatusExitsAt0nceWhenGone) {
  FakeApiServer server(
      [](const FakeRequest&) { return ApiError(404, "NotFound", "no server named 'web'"); });
  CliRun run(server);
  EXPECT_EQ(WaitForStatus(run.ctx, "web", "running", milliseconds(5000)), kExitNotFound);
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_NE(run.err.str().find("server web is gone"), std::string::npos);
}

TEST(Commands, WaitForStatusTimeout) {
  FakeApiServer server([](const FakeRequest&) {
    return FakeResponse{200, ServerBody("pending", "starting")};
  });
  CliRun run(server);
  EXPECT_EQ(WaitForStatus(run.ctx, "web", "running", milliseconds(300)), kExitTimeout);
}

TEST(Commands, EventsPrintsLinesWithQuery) {
  FakeApiServer server([](const FakeRequest&) {
    return FakeResponse{200, R"({"events":[{"id":3,"time":"2024-05-01T10:00:00.000Z",)"
                             R"("kind":"task","status":"pending","message":"stop requested"}]})"};
  });
  CliRun run(server);
  EventsOptions options;
  options.name = "web";
  options.after = 2;
  options.limit = 5;
  EXPECT_EQ(ShowEvents(run.ctx, options), kExitOk);
  EXPECT_EQ(run.out.str(),
            "TIME                      STATUS       KIND      MESSAGE\n"
            "2024-05-01T10:00:00.000Z  pending      task      stop requested\n");
  EXPECT_EQ(server.requests()[0].target, "/v1/servers/web/events?limit=5&after=2");
}

TEST(Commands, EventsShowTheNewestAndSayWhereTheOlderOnesAre) {
  FakeApiServer server([](const FakeRequest&) {
    return FakeResponse{200, R"({"more":true,"events":[{"id":41,"time":"2024-05-01T10:00:00.000Z",)"
                             R"("kind":"agent","status":"running","message":"answering"}]})"};
  });
  CliRun run(server);
  EventsOptions options;
  options.name = "web";
  EXPECT_EQ(ShowEvents(run.ctx, options), kExitOk);
  EXPECT_EQ(server.requests()[0].target, "/v1/servers/web/events?limit=100");
  EXPECT_EQ(run.err.str(), "older events: kumo events web --before 41\n");
}

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/kumo-cli-test-XXXXXX";
    int fd = mkstemp(name);
    path_ = name;
    close(fd);
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Commands, CreatePrintsWhatTheImageWillNotDoWithTheUserData) {
  TempFile user_data("#cloud-config\npackages: [nginx]\n");
  FakeApiServer server([&](const FakeRequest& r) {
    json created = json::parse(ServerBody("pending", "creating", "creating"));
    if (r.method == "POST") {
      created["warnings"] = json::array({"user data: packages: not applied by the kumo image"});
    }
    return FakeResponse{201, created.dump()};
  });
  CliRun run(server);
  CreateOptions options;
  options.name = "web";
  options.user_data_file = user_data.path();
  EXPECT_EQ(CreateServer(run.ctx, options), kExitOk) << run.err.str();
  EXPECT_EQ(run.err.str(), "warning: user data: packages: not applied by the kumo image\n");
  EXPECT_EQ(server.requests().size(), 1u);  // the warnings come with the reply

  // Without warnings nothing is printed.
  FakeApiServer plain([&](const FakeRequest&) {
    return FakeResponse{201, ServerBody("pending", "creating", "creating")};
  });
  CliRun run2(plain);
  options.user_data_file.reset();
  EXPECT_EQ(CreateServer(run2.ctx, options), kExitOk);
  EXPECT_EQ(plain.requests().size(), 1u);
  EXPECT_EQ(run2.err.str(), "");
}

TEST(CreateRequestBody, OnlyGivenFieldsAndFileContents) {
  TempFile key("ssh-ed25519 AAAA user@host\n");
  TempFile user_data("#!/bin/sh\necho hi\n");
  CreateOptions o;
  o.name = "web";
  o.image = "debian";
  o.vcpus = 2;
  o.disk_gib = 3;
  o.ssh_key_file = key.path();
  o.user_data_file = user_data.path();
  auto body = CreateRequestBody(o);
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ(*body, json({{"name", "web"},
                         {"image", "debian"},
                         {"vcpus", 2},
                         {"disk_gib", 3},
                         {"ssh_key", "ssh-ed25519 AAAA user@host"},
                         {"user_data", "#!/bin/sh\necho hi\n"}}));
  CreateOptions bare;
  bare.name = "x";
  EXPECT_EQ(*CreateRequestBody(bare), json({{"name", "x"}}));
}

TEST(CreateRequestBody, UnreadableOrEmptyFilesAreUsageErrors) {
  CreateOptions o;
  o.name = "web";
  o.ssh_key_file = "/nonexistent/key.pub";
  auto body = CreateRequestBody(o);
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.error().exit_code, kExitUsage);
  EXPECT_NE(body.error().message.find("/nonexistent/key.pub"), std::string::npos);

  TempFile empty("\n");
  o.ssh_key_file = empty.path();
  EXPECT_EQ(CreateRequestBody(o).error().exit_code, kExitUsage);

  TempFile binary(std::string("\xff\xfe\x00", 3));
  o.ssh_key_file.reset();
  o.user_data_file = binary.path();
  EXPECT_EQ(CreateRequestBody(o).error().exit_code, kExitUsage);
}

}  // namespace
}  // namespace kumo::cli
