// Router against a real ServerCore on FakeDriver machines and a Store in a
// temporary directory: every route, its refusals (401, 404, 405, 400 with
// nothing changed) and its answers. No guest agent ever answers here, so
// servers stay pending after a launch and exec/password meet a silent agent.
#include "api/router.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "api/http_server.h"
#include "api/watch_endpoint.h"
#include "hypervisor/fake_driver.h"
#include "hypervisor/spawn.h"
#include "store/sqlite_store.h"
#include "support/child_process.h"
#include "support/core_fixtures.h"

namespace kumo::api {
namespace {

using namespace std::chrono_literals;
constexpr char kToken[] = "s3cret-token";

// A server core on `driver` with its store in `dir`, given an image.
struct TestCore {
  std::unique_ptr<store::Store> store;
  std::unique_ptr<Clock> clock;
  std::unique_ptr<core::ServerLedger> ledger;
  std::unique_ptr<core::ServerCore> core;
  std::unique_ptr<WatchEndpoint> watch;
};

// The one place the store and the core are built (their constructors and
// record types are changing: keep every use of them here; the tests read
// servers back through the API).
TestCore NewCore(boost::asio::io_context& io, hypervisor::FakeDriver& driver,
                 const testing::TempDir& dir) {
  TestCore out;
  auto opened = store::SqliteStore::Open(dir / "kumod.db");
  EXPECT_TRUE(opened.ok()) << opened.status().message();
  if (!opened.ok()) return out;
  out.store = std::move(*opened);
  out.clock = MakeSystemClock(io);
  out.ledger = std::make_unique<core::ServerLedger>(*out.store, *out.clock);
  core::CoreConfig config;
  config.state_dir = dir.path().string();
  out.core = std::make_unique<core::ServerCore>(
      core::CoreParts{
          io, *out.clock, *out.ledger, *out.store, driver,
          [&io](const std::string& socket) { return guestlink::ConnectGuestAgent(io, socket); }},
      config);
  out.core->Recover();
  out.watch = std::make_unique<WatchEndpoint>(*out.ledger);
  EXPECT_TRUE(out.core->RegisterImage(testing::TestImage()).ok());
  return out;
}

// A console that nobody attaches to: HandleUpgrade's refusals only.
class NullChannel : public WebSocketChannel {
 public:
  bool Send(std::string) override { return true; }
  void OnMessage(std::function<void(std::string)>) override {}
  void OnClose(std::function<void()>) override {}
  void Close(std::string) override {}
  bool closed() const override { return false; }
};

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core_ = NewCore(io_, driver_, dir_);
    ASSERT_TRUE(core_.core);
    router_ = std::make_unique<Router>(*core_.core, *core_.watch, kToken);
  }

  static ApiRequest Request(const std::string& method, const std::string& target,
                            const std::string& body = "",
                            const std::string& authorization = std::string("Bearer ") + kToken) {
    ApiRequest r;
    r.method = method;
    SplitTarget(target, &r.path, &r.query);
    r.authorization = authorization;
    r.content_type = body.empty() ? "" : "application/json";
    r.body = body;
    return r;
  }

  // Through Router::Handle, as kumod serves it; waits (running the loop)
  // for routes that answer later.
  ApiResponse Call(const ApiRequest& request) {
    std::optional<ApiResponse> response;
    int calls = 0;
    router_->Handle(request, [&](ApiResponse r) {
      ++calls;
      response = std::move(r);
    });
    RunUntil([&] { return response.has_value(); });
    EXPECT_EQ(calls, 1) << request.method << " " << request.path;
    // A body sent as text (the server list) is read as a client reads it.
    if (response && response->content_type == "application/json") {
      response->body = json::parse(response->raw_body);
    }
    return response.value_or(ApiResponse{-1, nullptr});
  }
  ApiResponse Call(const std::string& method, const std::string& target,
                   const std::string& body = "") {
    return Call(Request(method, target, body));
  }

  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      io_.restart();
      io_.run_for(5ms);
    }
    return true;
  }

  // A field of the server as GET /v1/servers/NAME shows it; "gone" if none.
  std::string Field(const std::string& name, const std::string& field) {
    ApiResponse r = router_->HandleNow(Request("GET", "/v1/servers/" + name));
    return r.status == 200 ? r.body.value(field, "") : "gone";
  }
  std::string StatusOf(const std::string& name) { return Field(name, "status"); }
  bool PowerReaches(const std::string& name, const std::string& power) {
    return RunUntil([&] { return Field(name, "power") == power; });
  }
  size_t ServerCount() { return Call("GET", "/v1/servers").body["servers"].size(); }
  size_t EventCount(const std::string& name) {
    return Call("GET", "/v1/servers/" + name + "/events?limit=1000").body["events"].size();
  }
  void CreateStopped(const std::string& name) {
    ASSERT_EQ(Call("POST", "/v1/servers", R"({"name": ")" + name + R"("})").status, 201);
    ASSERT_EQ(
        Call("POST", "/v1/servers/" + name + "/actions", R"({"action": "stop", "force": true})")
            .status,
        202);
    ASSERT_TRUE(RunUntil([&] { return StatusOf(name) == "stopped"; })) << StatusOf(name);
  }

  testing::TempDir dir_;
  boost::asio::io_context io_;
  hypervisor::FakeDriver driver_{io_};
  TestCore core_;
  std::unique_ptr<Router> router_;
};

// The JSON error shape with the HTTP status for its code.
::testing::AssertionResult IsError(const ApiResponse& r, int status, const std::string& code) {
  const json& error = r.body.is_object() ? r.body.value("error", json()) : json();
  if (r.status != status || !error.is_object() || error.value("code", "") != code ||
      !error.contains("message") || !error["message"].is_string() ||
      error["message"].get<std::string>().empty()) {
    return ::testing::AssertionFailure()
           << "want " << status << " " << code << ", got " << r.status << " " << r.body.dump();
  }
  return ::testing::AssertionSuccess();
}

TEST_F(RouterTest, EventsAreTheNewestByDefaultAndPageBothWays) {
  CreateStopped("log");
  for (int i = 0; i < 150; ++i) {
    ASSERT_TRUE(core_.ledger->Note("log", "test", "note " + std::to_string(i)).ok());
  }
  ApiResponse newest = Call("GET", "/v1/servers/log/events");
  ASSERT_EQ(newest.status, 200) << newest.body.dump();
  const json& page = newest.body["events"];
  ASSERT_EQ(page.size(), 100u);
  EXPECT_EQ(page.back()["message"], "note 149") << "the newest is there";
  EXPECT_EQ(page.front()["message"], "note 50");
  EXPECT_EQ(newest.body["more"], true);

  // Back: what came before the page, down to the first event.
  ApiResponse back = Call("GET", "/v1/servers/log/events?limit=1000&before=" +
                                     std::to_string(page.front()["id"].get<int64_t>()));
  ASSERT_EQ(back.status, 200);
  EXPECT_EQ(back.body["more"], false);
  EXPECT_EQ(back.body["events"].back()["message"], "note 49");
  EXPECT_EQ(back.body["events"].front()["message"].get<std::string>().rfind("created", 0), 0u);

  // Forward from an id: the oldest after it.
  const int64_t first = back.body["events"].front()["id"];
  ApiResponse forward =
      Call("GET", "/v1/servers/log/events?limit=2&after=" + std::to_string(first));
  ASSERT_EQ(forward.body["events"].size(), 2u);
  EXPECT_EQ(forward.body["more"], true);
  EXPECT_GT(forward.body["events"][0]["id"].get<int64_t>(), first);

  EXPECT_TRUE(IsError(Call("GET", "/v1/servers/log/events?after=1&before=5"), 400,
                      codes::kInvalidArgument));
  EXPECT_TRUE(
      IsError(Call("GET", "/v1/servers/log/events?before=0"), 400, codes::kInvalidArgument));
}

std::string Concrete(const std::string& pattern) {
  std::string path = pattern;
  if (auto at = path.find("{name}"); at != std::string::npos) path.replace(at, 6, "web");
  return path;
}

TEST_F(RouterTest, EveryRouteButHealthWantsTheToken) {
  for (const auto& route : Router::Routes()) {
    std::string path = Concrete(route.pattern);
    for (const std::string auth : {"", "Bearer wrong", "Bearer s3cret-toke", "Bearer s3cret-token2",
                                   "Basic s3cret-token", "s3cret-token", "bearer s3cret-token"}) {
      ApiResponse r = Call(Request(route.method, path, "{}", auth));
      if (route.needs_token) {
        EXPECT_TRUE(IsError(r, 401, codes::kUnauthorized)) << route.method << " " << path;
      } else if (route.pattern == "/v1/session") {
        EXPECT_TRUE(r.headers.empty()) << "no session without the token";
      } else {
        EXPECT_EQ(r.status, 200) << route.method << " " << path;
      }
    }
  }
  EXPECT_EQ(Call(Request("GET", "/healthz", "", "")).body, json({{"ok", true}}));
  EXPECT_TRUE(ServerCount() == 0);
}

// The panel signs in with the token once and then uses a cookie; what a
// cookie may do is guarded against cross-site forgery.
TEST_F(RouterTest, SignInGivesAnHttpOnlyStrictCookieThatWorksOnlyWithItsCsrfToken) {
  ApiRequest wrong = Request("POST", "/v1/session", R"({"token": "nope"})", "");
  EXPECT_TRUE(IsError(Call(wrong), 401, codes::kUnauthorized));
  ApiRequest form = Request("POST", "/v1/session", std::string("token=") + kToken, "");
  form.content_type = "application/x-www-form-urlencoded";
  EXPECT_EQ(Call(form).status, 415);
  for (const char* body : {"not json", "[]", R"({"token": 1})", R"({"token": "x", "extra": 1})"}) {
    ApiResponse r = Call(Request("POST", "/v1/session", body, ""));
    EXPECT_TRUE(IsError(r, 400, codes::kInvalidArgument)) << body << ": " << r.body.dump();
    EXPECT_TRUE(r.headers.empty()) << body;
  }
  ApiRequest cross =
      Request("POST", "/v1/session", std::string(R"({"token": ")") + kToken + "\"}", "");
  cross.host = "127.0.0.1:8470";
  cross.origin = "http://evil.example";
  EXPECT_TRUE(IsError(Call(cross), 403, codes::kForbidden));

  ApiRequest good = cross;
  good.origin = "http://127.0.0.1:8470";
  ApiResponse signed_in = Call(good);
  ASSERT_EQ(signed_in.status, 201) << signed_in.body.dump();
  ASSERT_EQ(signed_in.headers.size(), 2u);
  const std::string cookie = signed_in.headers[0].second;
  EXPECT_EQ(signed_in.headers[0].first, "Set-Cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  EXPECT_EQ(cookie.find(kToken), std::string::npos) << "the token itself never goes to the browser";
  const std::string id = cookie.substr(0, cookie.find(';'));
  const std::string csrf = signed_in.body["csrf_token"];

  auto with_cookie = [&](const std::string& method, const std::string& target,
                         const std::string& body) {
    ApiRequest r = Request(method, target, body, "");
    r.cookie = "other=1; " + id;
    r.host = "127.0.0.1:8470";
    r.origin = "http://127.0.0.1:8470";
    r.sec_fetch_site = "same-origin";
    return r;
  };
  EXPECT_EQ(Call(with_cookie("GET", "/v1/servers", "")).status, 200);
  ApiResponse session = Call(with_cookie("GET", "/v1/session", ""));
  EXPECT_EQ(session.body["csrf_token"], csrf) << "a reloaded page gets its CSRF token back";

  const std::string create = R"({"name": "web", "image": "kumo-guest"})";
  EXPECT_TRUE(IsError(Call(with_cookie("POST", "/v1/servers", create)), 403, codes::kForbidden));
  ApiRequest forged = with_cookie("POST", "/v1/servers", create);
  forged.csrf_token = csrf;
  forged.origin = "http://evil.example";
  forged.sec_fetch_site = "cross-site";
  EXPECT_TRUE(IsError(Call(forged), 403, codes::kForbidden));
  ApiRequest wrong_csrf = with_cookie("POST", "/v1/servers", create);
  wrong_csrf.csrf_token = csrf.substr(1) + "0";
  EXPECT_TRUE(IsError(Call(wrong_csrf), 403, codes::kForbidden));
  EXPECT_EQ(ServerCount(), 0) << "nothing was created by a refused request";

  ApiRequest from_panel = with_cookie("POST", "/v1/servers", create);
  from_panel.csrf_token = csrf;
  EXPECT_EQ(Call(from_panel).status, 201);

  // The console's WebSocket carries the cookie from any page: only the
  // panel's origin may use it.
  auto channel = std::make_shared<NullChannel>();
  ApiRequest ws = with_cookie("GET", "/v1/servers/web/console", "");
  ws.origin = "http://evil.example";
  auto refused = router_->HandleUpgrade(ws, channel);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);

  ApiRequest sign_out = with_cookie("DELETE", "/v1/session", "");
  sign_out.csrf_token = csrf;
  ApiResponse out = Call(sign_out);
  EXPECT_EQ(out.status, 200);
  EXPECT_NE(out.headers.at(0).second.find("Max-Age=0"), std::string::npos);
  EXPECT_TRUE(IsError(Call(with_cookie("GET", "/v1/servers", "")), 401, codes::kUnauthorized));
}

TEST_F(RouterTest, ServerMetricsTakeOnlyAKnownWindow) {
  for (const char* window : {"7d", "", "1H", "24h%3B"}) {
    ApiResponse r = Call("GET", std::string("/v1/servers/web/metrics?window=") + window);
    EXPECT_TRUE(IsError(r, 400, codes::kInvalidArgument)) << window << ": " << r.body.dump();
  }
}

// The panel's page loads without a token (it signs in), and serving it does
// not open the API: everything under /v1/ still wants the token.
TEST_F(RouterTest, ThePanelIsServedOutsideTheApiAndOnlyThere) {
  auto dir =
      std::filesystem::temp_directory_path() / ("kumo-router-panel-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / "v1");
  std::ofstream(dir / "index.html") << "<!doctype html>";
  std::ofstream(dir / "v1" / "servers") << "not the API";
  EXPECT_TRUE(IsError(Call(Request("GET", "/", "", "")), 404, codes::kNotFound));
  router_->ServePanel(PanelFiles::Load(dir.string()));
  std::filesystem::remove_all(dir);

  ApiResponse page = Call(Request("GET", "/", "", ""));
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.raw_body, "<!doctype html>");
  EXPECT_TRUE(IsError(Call(Request("GET", "/v1/servers", "", "")), 401, codes::kUnauthorized));
  EXPECT_TRUE(IsError(Call(Request("POST", "/", "{}", "")), 404, codes::kNotFound));
  EXPECT_TRUE(IsError(Call(Request("GET", "/nothing.js", "", "")), 404, codes::kNotFound));
}

TEST_F(RouterTest, UnknownPathsAre404AndOtherMethods405) {
  for (const std::string path : {"/", "/v1", "/v2/servers", "/v1/server", "/v1/servers/web/nothing",
                                 "/v1/servers/a/b/c", "/v1/images/kumo-guest/kernel"}) {
    EXPECT_TRUE(IsError(Call("GET", path), 404, codes::kNotFound)) << path;
    // The path decides first: even without a token.
    EXPECT_TRUE(IsError(Call(Request("GET", path, "", "")), 404, codes::kNotFound)) << path;
  }
  for (const auto& route : Router::Routes()) {
    for (const std::string method : {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}) {
      bool served = false;
      for (const auto& other : Router::Routes()) {
        served |= other.pattern == route.pattern && other.method == method;
      }
      if (served) continue;
      EXPECT_TRUE(IsError(Call(method, Concrete(route.pattern)), 405, codes::kMethodNotAllowed))
          << method << " " << route.pattern;
    }
  }
}

TEST_F(RouterTest, HealthImagesAndServers) {
  EXPECT_EQ(Call("GET", "/healthz").body, json({{"ok", true}}));
  ApiResponse images = Call("GET", "/v1/images");
  ASSERT_EQ(images.status, 200);
  ASSERT_EQ(images.body["images"].size(), 1u);
  EXPECT_EQ(images.body["images"][0]["name"], "kumo-guest");
  EXPECT_EQ(images.body["images"][0]["kernel_release"], "6.1");
  // The state directory's disk space, the figure an operator watches before
  // a full disk bites.
  ApiResponse host = Call("GET", "/v1/host");
  ASSERT_EQ(host.status, 200) << host.body.dump();
  EXPECT_EQ(host.body["state_dir"]["path"], dir_.path().string());
  EXPECT_GT(host.body["state_dir"]["total_bytes"].get<uint64_t>(), 0u);
  EXPECT_LE(host.body["state_dir"]["free_bytes"].get<uint64_t>(),
            host.body["state_dir"]["total_bytes"].get<uint64_t>());
  EXPECT_EQ(host.body["state_dir"]["unsaved_changes"], 0);

  EXPECT_EQ(Call("GET", "/v1/servers").body, json({{"servers", json::array()}}));
  ApiResponse created = Call("POST", "/v1/servers",
                             R"({"name": "web", "vcpus": 2, "memory_mib": 512, "disk_gib": 4,
                                 "ssh_key": "ssh-ed25519 AAAA test", "user_data": null})");
  ASSERT_EQ(created.status, 201) << created.body.dump();
  EXPECT_EQ(created.body["name"], "web");
  EXPECT_EQ(created.body["image"], "kumo-guest");
  EXPECT_EQ(created.body["vcpus"], 2);
  EXPECT_EQ(created.body["memory_mib"], 512);
  EXPECT_EQ(created.body["disk_gib"], 4);
  EXPECT_EQ(created.body["has_ssh_key"], true);
  EXPECT_EQ(created.body["status"], "pending");
  EXPECT_EQ(created.body["task"], "creating");

  EXPECT_TRUE(
      IsError(Call("POST", "/v1/servers", R"({"name": "web"})"), 409, codes::kAlreadyExists));
  ApiResponse got = Call("GET", "/v1/servers/web");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body["name"], "web");
  ApiResponse list = Call("GET", "/v1/servers");
  ASSERT_EQ(list.body["servers"].size(), 1u);
  EXPECT_EQ(list.body["servers"][0]["name"], "web");
  EXPECT_TRUE(IsError(Call("GET", "/v1/servers/nope"), 404, codes::kNotFound));
  // Refused by the core's own validation, still a 400 with nothing made.
  EXPECT_TRUE(IsError(Call("POST", "/v1/servers", R"({"name": "no/slashes"})"), 400,
                      codes::kInvalidArgument));
  EXPECT_TRUE(IsError(Call("POST", "/v1/servers", R"({"name": "db", "image": "missing"})"), 404,
                      codes::kNotFound));
  EXPECT_EQ(ServerCount(), 1u);
}

// Each body route: whatever is wrong with the body, 400 and nothing changes.
// The panel's create form shows each error at its field: bad input names it.
TEST_F(RouterTest, CreateErrorsNameTheFieldTheyAreAbout) {
  CreateStopped("taken");
  struct Case {
    std::string body;
    std::string field;
  };
  const std::vector<Case> cases = {
      {R"({"name": "Bad_Name"})", "name"},
      {R"({"name": "taken"})", "name"},
      {R"({"image": "kumo-guest"})", "name"},
      {R"({"name": "db", "image": "nope"})", "image"},
      {R"({"name": "db", "vcpus": 0})", "vcpus"},
      {R"({"name": "db", "vcpus": "2"})", "vcpus"},
      {R"({"name": "db", "memory_mib": 1})", "memory_mib"},
      {R"({"name": "db", "disk_gib": 0})", "disk_gib"},
      {R"({"name": "db", "ssh_key": "not a key"})", "ssh_key"},
      {R"({"name": "db", "user_data": "a\u0000b"})", "user_data"},
  };
  for (const auto& c : cases) {
    ApiResponse r = Call("POST", "/v1/servers", c.body);
    EXPECT_GE(r.status, 400) << c.body;
    EXPECT_EQ(r.body["error"].value("field", ""), c.field) << c.body << ": " << r.body.dump();
  }
  EXPECT_EQ(ServerCount(), 1u);
  // An error about no one field carries none.
  EXPECT_FALSE(Call("POST", "/v1/servers", "[]").body["error"].contains("field"));
}

TEST_F(RouterTest, MalformedBodiesAre400AndChangeNothing) {
  CreateStopped("web");
  const int launches = driver_.launch_count();
  const size_t events = EventCount("web");
  struct Case {
    std::string target;
    std::string body;
  };
  const std::vector<Case> cases = {
      // every body route: not JSON, not an object, empty, an unknown field
      {"/v1/servers", ""},
      {"/v1/servers", "{"},
      {"/v1/servers", R"({"name": "db",})"},
      {"/v1/servers", "[]"},
      {"/v1/servers", R"("db")"},
      {"/v1/servers", "null"},
      {"/v1/servers", R"({"name": "db", "color": "red"})"},
      {"/v1/servers/web/actions", ""},
      {"/v1/servers/web/actions", "{action: start}"},
      {"/v1/servers/web/actions", "[\"start\"]"},
      {"/v1/servers/web/actions", R"({"action": "start", "now": true})"},
      {"/v1/servers/web/exec", ""},
      {"/v1/servers/web/exec", R"({"path": "/bin/true")"},
      {"/v1/servers/web/exec", "42"},
      {"/v1/servers/web/exec", R"({"path": "/bin/true", "env": []})"},
      {"/v1/servers/web/password", ""},
      {"/v1/servers/web/password", "{'password': 'x'}"},
      {"/v1/servers/web/password", "true"},
      {"/v1/servers/web/password", R"({"password": "x", "hash": false})"},
      // create: a wrong type for each field, the required field missing
      {"/v1/servers", R"({"name": 5})"},
      {"/v1/servers", R"({"name": ["db"]})"},
      {"/v1/servers", R"({"name": "db", "image": 1})"},
      {"/v1/servers", R"({"name": "db", "vcpus": "2"})"},
      {"/v1/servers", R"({"name": "db", "vcpus": 1.5})"},
      {"/v1/servers", R"({"name": "db", "vcpus": 4294967296})"},
      {"/v1/servers", R"({"name": "db", "memory_mib": "512"})"},
      {"/v1/servers", R"({"name": "db", "disk_gib": true})"},
      {"/v1/servers", R"({"name": "db", "ssh_key": 1})"},
      {"/v1/servers", R"({"name": "db", "user_data": {}})"},
      {"/v1/servers", R"({})"},
      {"/v1/servers", R"({"name": null, "image": "kumo-guest"})"},
      // actions: wrong types, the action missing or unknown, force misused
      {"/v1/servers/web/actions", R"({"action": 1})"},
      {"/v1/servers/web/actions", R"({"action": "start", "force": "yes"})"},
      {"/v1/servers/web/actions", R"({"action": "start", "force": 1})"},
      {"/v1/servers/web/actions", R"({})"},
      {"/v1/servers/web/actions", R"({"force": true})"},
      {"/v1/servers/web/actions", R"({"action": "explode"})"},
      {"/v1/servers/web/actions", R"({"action": "START"})"},
      {"/v1/servers/web/actions", R"({"action": "start", "force": true})"},
      {"/v1/servers/web/actions", R"({"action": "rescue", "force": true})"},
      {"/v1/servers/web/actions", R"({"action": "unrescue", "force": true})"},
      // acpi: only for stop, never with force, a boolean
      {"/v1/servers/web/actions", R"({"action": "stop", "acpi": true, "force": true})"},
      {"/v1/servers/web/actions", R"({"action": "stop", "acpi": "yes"})"},
      {"/v1/servers/web/actions", R"({"action": "stop", "acpi": 1})"},
      {"/v1/servers/web/actions", R"({"action": "reboot", "acpi": true})"},
      {"/v1/servers/web/actions", R"({"action": "start", "acpi": true})"},
      // exec: wrong types, the path missing, the timeout out of range
      {"/v1/servers/web/exec", R"({"path": 1})"},
      {"/v1/servers/web/exec", R"({"path": "/bin/ls", "args": "-l"})"},
      {"/v1/servers/web/exec", R"({"path": "/bin/ls", "args": ["-l", 2]})"},
      {"/v1/servers/web/exec", R"({"path": "/bin/ls", "input": 5})"},
      {"/v1/servers/web/exec", R"({"path": "/bin/ls", "timeout_s": "10"})"},
      {"/v1/servers/web/exec", R"({"path": "/bin/ls", "timeout_s": 0})"},
      {"/v1/servers/web/exec", R"({"path": "/bin/ls", "timeout_s": 601})"},
      {"/v1/servers/web/exec", R"({"args": ["x"]})"},
      {"/v1/servers/web/exec", R"({"path": ""})"},
      // password: wrong types, the password missing
      {"/v1/servers/web/password", R"({"password": 1234})"},
      {"/v1/servers/web/password", R"({"user": 0, "password": "x"})"},
      {"/v1/servers/web/password", R"({"user": "root"})"},
      {"/v1/servers/web/password", R"({})"},
  };
  for (const auto& c : cases) {
    EXPECT_TRUE(IsError(Call("POST", c.target, c.body), 400, codes::kInvalidArgument))
        << "POST " << c.target << " " << c.body;
  }
  RunUntil([] { return false; }, 50ms);  // anything started would show now
  EXPECT_EQ(ServerCount(), 1u);
  EXPECT_EQ(StatusOf("web"), "stopped");
  EXPECT_EQ(driver_.launch_count(), launches);
  EXPECT_EQ(EventCount("web"), events);
}

// More input than the guest agent takes in one request is refused before it
// reaches the guest, with the way to send it.
TEST_F(RouterTest, ExecInputBeyondWhatTheAgentTakesIsRefused) {
  CreateStopped("web");
  auto body = [](size_t n) {
    return nlohmann::json{{"path", "/bin/cat"}, {"input", std::string(n, 'x')}}.dump();
  };
  auto refused = Call("POST", "/v1/servers/web/exec", body(core::ExecRequest::kMaxInputBytes + 1));
  ASSERT_TRUE(IsError(refused, 400, codes::kInvalidArgument)) << refused.body.dump();
  EXPECT_NE(refused.body["error"]["message"].get<std::string>().find("'input' is larger than 160"),
            std::string::npos)
      << refused.body.dump();
  EXPECT_NE(refused.body["error"]["hint"].get<std::string>().find("in pieces"), std::string::npos);
  // At the bound it goes on to the server (stopped here: 409, not 400).
  auto taken = Call("POST", "/v1/servers/web/exec", body(core::ExecRequest::kMaxInputBytes));
  EXPECT_NE(taken.status, 400) << taken.body.dump();
}

TEST_F(RouterTest, QueryParametersAreValidated) {
  CreateStopped("web");
  for (const std::string target :
       {"/v1/servers/web/events?limit=0", "/v1/servers/web/events?limit=1001",
        "/v1/servers/web/events?limit=ten", "/v1/servers/web/events?limit=5x",
        "/v1/servers/web/events?limit=", "/v1/servers/web/events?after=-1",
        "/v1/servers/web/events?after=99999999999999999999", "/v1/servers/web/console-log?tail=-1",
        "/v1/servers/web/console-log?tail=1000001", "/v1/servers/web/console-log?tail=all"}) {
    EXPECT_TRUE(IsError(Call("GET", target), 400, codes::kInvalidArgument)) << target;
  }
  for (const std::string force : {"yes", "", "TRUE", "2"}) {
    EXPECT_TRUE(
        IsError(Call("DELETE", "/v1/servers/web?force=" + force), 400, codes::kInvalidArgument))
        << force;
  }
  EXPECT_EQ(StatusOf("web"), "stopped");

  ApiResponse all = Call("GET", "/v1/servers/web/events");
  ASSERT_EQ(all.status, 200);
  const json& events = all.body["events"];
  ASSERT_GE(events.size(), 2u);
  for (const auto& e : events) {
    EXPECT_TRUE(e.contains("id") && e.contains("time") && e.contains("kind") &&
                e.contains("status") && e.contains("message"))
        << e.dump();
  }
  ApiResponse newest = Call("GET", "/v1/servers/web/events?limit=1");
  ASSERT_EQ(newest.body["events"].size(), 1u);
  EXPECT_EQ(newest.body["events"][0]["id"], events.back()["id"]);
  int64_t after = events[0]["id"];
  ApiResponse rest = Call("GET", "/v1/servers/web/events?after=" + std::to_string(after));
  EXPECT_EQ(rest.body["events"].size(), events.size() - 1);
  EXPECT_TRUE(IsError(Call("GET", "/v1/servers/nope/events"), 404, codes::kNotFound));

  ApiResponse log = Call("GET", "/v1/servers/web/console-log?tail=10");
  ASSERT_EQ(log.status, 200) << log.body.dump();
  EXPECT_EQ(log.body["name"], "web");
  EXPECT_TRUE(log.body["text"].is_string());
  EXPECT_EQ(log.body["bytes"], log.body["text"].get<std::string>().size());
  EXPECT_TRUE(IsError(Call("GET", "/v1/servers/nope/console-log"), 404, codes::kNotFound));
}

TEST_F(RouterTest, ActionsAndTheirRefusals) {
  ASSERT_EQ(Call("POST", "/v1/servers", R"({"name": "web"})").status, 201);
  const std::string actions = "/v1/servers/web/actions";
  // One task at a time: the create is under way.
  for (const std::string action : {"start", "stop", "reboot", "rescue"}) {
    EXPECT_TRUE(IsError(Call("POST", actions, R"({"action": ")" + action + R"("})"), 409,
                        codes::kServerBusy))
        << action;
  }
  EXPECT_TRUE(
      IsError(Call("POST", actions, R"({"action": "unrescue"})"), 409, codes::kInvalidState));
  // A force stop is the way out that always works.
  ApiResponse stopping = Call("POST", actions, R"({"action": "stop", "force": true})");
  ASSERT_EQ(stopping.status, 202) << stopping.body.dump();
  EXPECT_EQ(stopping.body["task"], "stopping");
  ASSERT_TRUE(RunUntil([&] { return StatusOf("web") == "stopped"; }));

  EXPECT_TRUE(IsError(Call("POST", actions, R"({"action": "stop"})"), 409, codes::kInvalidState));
  EXPECT_TRUE(IsError(Call("POST", actions, R"({"action": "stop", "acpi": true})"), 409,
                      codes::kInvalidState));
  EXPECT_TRUE(IsError(Call("POST", actions, R"({"action": "reboot", "force": true})"), 409,
                      codes::kInvalidState));
  EXPECT_TRUE(
      IsError(Call("POST", actions, R"({"action": "unrescue"})"), 409, codes::kInvalidState));

  ApiResponse starting = Call("POST", actions, R"({"action": "start", "force": false})");
  ASSERT_EQ(starting.status, 202) << starting.body.dump();
  EXPECT_EQ(starting.body["task"], "starting");
  EXPECT_EQ(starting.body["status"], "pending");
  ASSERT_TRUE(PowerReaches("web", "running"));
  EXPECT_TRUE(IsError(Call("POST", actions, R"({"action": "start"})"), 409, codes::kServerBusy));
  EXPECT_TRUE(IsError(Call("POST", actions, R"({"action": "stop", "acpi": true})"), 409,
                      codes::kServerBusy));
  EXPECT_EQ(driver_.machine("web")->power_button_count(), 0);

  ASSERT_EQ(Call("POST", actions, R"({"action": "stop", "force": true})").status, 202);
  ASSERT_TRUE(RunUntil([&] { return StatusOf("web") == "stopped"; }));
  ApiResponse rescuing = Call("POST", actions, R"({"action": "rescue"})");
  ASSERT_EQ(rescuing.status, 202) << rescuing.body.dump();
  EXPECT_EQ(rescuing.body["boot_mode"], "rescue");
  EXPECT_EQ(rescuing.body["task"], "rescuing");
  ASSERT_TRUE(PowerReaches("web", "running"));
  ASSERT_EQ(Call("POST", actions, R"({"action": "stop", "force": true})").status, 202);
  ASSERT_TRUE(RunUntil([&] { return StatusOf("web") == "stopped"; }));
  ApiResponse unrescuing = Call("POST", actions, R"({"action": "unrescue"})");
  ASSERT_EQ(unrescuing.status, 202) << unrescuing.body.dump();
  EXPECT_EQ(unrescuing.body["boot_mode"], "normal");
  ASSERT_TRUE(PowerReaches("web", "running"));

  EXPECT_TRUE(IsError(Call("POST", "/v1/servers/nope/actions", R"({"action": "start"})"), 404,
                      codes::kNotFound));
}

TEST_F(RouterTest, DeleteWantsForceWhileRunning) {
  ASSERT_EQ(Call("POST", "/v1/servers", R"({"name": "web"})").status, 201);
  ASSERT_TRUE(PowerReaches("web", "running"));
  EXPECT_TRUE(IsError(Call("DELETE", "/v1/servers/web"), 409, codes::kServerBusy));
  EXPECT_TRUE(IsError(Call("DELETE", "/v1/servers/web?force=false"), 409, codes::kServerBusy));
  ApiResponse deleting = Call("DELETE", "/v1/servers/web?force=true");
  ASSERT_EQ(deleting.status, 202) << deleting.body.dump();
  EXPECT_EQ(deleting.body["task"], "deleting");
  ASSERT_TRUE(RunUntil([&] { return StatusOf("web") == "gone"; }));
  EXPECT_TRUE(IsError(Call("GET", "/v1/servers/web"), 404, codes::kNotFound));
  EXPECT_TRUE(IsError(Call("DELETE", "/v1/servers/web"), 404, codes::kNotFound));

  CreateStopped("db");
  ApiResponse deleted = Call("DELETE", "/v1/servers/db?force=0");
  ASSERT_EQ(deleted.status, 202) << deleted.body.dump();
  ASSERT_TRUE(RunUntil([&] { return StatusOf("db") == "gone"; }));
  EXPECT_EQ(Call("GET", "/v1/servers").body["servers"].size(), 0u);
}

TEST_F(RouterTest, ExecAndPasswordNeedTheAgent) {
  ASSERT_EQ(Call("POST", "/v1/servers", R"({"name": "web"})").status, 201);
  ASSERT_TRUE(PowerReaches("web", "running"));
  EXPECT_TRUE(IsError(Call("POST", "/v1/servers/web/exec",
                           R"({"path": "/bin/echo", "args": ["hi"], "input": "", "timeout_s": 5})"),
                      409, codes::kGuestAgentNotResponding));
  EXPECT_TRUE(IsError(Call("POST", "/v1/servers/web/password", R"({"password": "pw"})"), 409,
                      codes::kGuestAgentNotResponding));
  EXPECT_TRUE(
      IsError(Call("POST", "/v1/servers/web/password", R"({"user": "admin", "password": "pw"})"),
              409, codes::kGuestAgentNotResponding));
  EXPECT_TRUE(IsError(Call("POST", "/v1/servers/nope/exec", R"({"path": "/bin/true"})"), 404,
                      codes::kNotFound));
  EXPECT_TRUE(IsError(Call("POST", "/v1/servers/nope/password", R"({"password": "pw"})"), 404,
                      codes::kNotFound));
  // They answer later, so HandleNow cannot serve them.
  EXPECT_TRUE(IsError(
      router_->HandleNow(Request("POST", "/v1/servers/web/exec", R"({"path": "/bin/true"})")), 500,
      codes::kInternal));
  // The rest of the routes are the same through HandleNow.
  EXPECT_EQ(router_->HandleNow(Request("GET", "/v1/servers/web")).status, 200);
  EXPECT_TRUE(IsError(router_->HandleNow(Request("GET", "/v1/servers/web", "", "")), 401,
                      codes::kUnauthorized));
}

TEST_F(RouterTest, TheConsoleIsAWebSocket) {
  ASSERT_EQ(Call("POST", "/v1/servers", R"({"name": "web"})").status, 201);
  ApiResponse plain = Call("GET", "/v1/servers/web/console");
  EXPECT_TRUE(IsError(plain, 400, codes::kInvalidArgument));
  EXPECT_NE(plain.body["error"].value("hint", "").find("kumo console web"), std::string::npos);

  auto channel = std::make_shared<NullChannel>();
  auto refused = router_->HandleUpgrade(Request("GET", "/v1/servers/web/console", "", ""), channel);
  ASSERT_TRUE(refused);
  EXPECT_TRUE(IsError(*refused, 401, codes::kUnauthorized));
  refused = router_->HandleUpgrade(Request("GET", "/v1/servers/web/console?token=wrong", "", ""),
                                   channel);
  ASSERT_TRUE(refused);
  EXPECT_TRUE(IsError(*refused, 401, codes::kUnauthorized));
  refused = router_->HandleUpgrade(Request("GET", "/v1/servers/web/events"), channel);
  ASSERT_TRUE(refused);
  EXPECT_TRUE(IsError(*refused, 404, codes::kNotFound));
  refused = router_->HandleUpgrade(Request("GET", "/v1/servers/nope/console"), channel);
  ASSERT_TRUE(refused);
  EXPECT_TRUE(IsError(*refused, 404, codes::kNotFound));
  refused = router_->HandleUpgrade(Request("GET", "/v1/servers/web/console?tail=-5"), channel);
  ASSERT_TRUE(refused);
  EXPECT_TRUE(IsError(*refused, 400, codes::kInvalidArgument));
}

// Images through the API: a real ImageLibrary (real qemu-img, real files).
class RouterImagesTest : public RouterTest {
 protected:
  void SetUp() override {
    RouterTest::SetUp();
    library_ = std::make_unique<core::ImageLibrary>(
        io_, *core_.store, core::ImageLibraryConfig{dir_.path().string()},
        [this](const std::string& image) {
          std::vector<std::string> users;
          const json servers = Call("GET", "/v1/servers").body["servers"];
          for (const auto& s : servers) {
            if (s["image"] == image) users.push_back(s["name"]);
          }
          return users;
        });
    router_->ServeImages(library_.get());
  }
  void TearDown() override { library_.reset(); }

  std::string MakeQcow2(const std::string& name, const std::string& size) {
    std::string path = files_ / name;
    auto pid = hypervisor::SpawnProcess({"qemu-img", "create", "-q", "-f", "qcow2", path, size},
                                        "/dev/null");
    EXPECT_TRUE(pid.ok());
    int status = -1;
    if (pid.ok()) waitpid(*pid, &status, 0);
    EXPECT_EQ(status, 0);
    return path;
  }
  json Image(const std::string& name) {
    const json images = Call("GET", "/v1/images").body["images"];
    for (const auto& i : images) {
      if (i["name"] == name) return i;
    }
    return nullptr;
  }

  testing::TempDir files_;
  std::unique_ptr<core::ImageLibrary> library_;
};

TEST_F(RouterImagesTest, ImportShowsTheImageAndItsDiskSizeIsTheDefault) {
  std::string path = MakeQcow2("ubuntu.qcow2", "2560M");
  ApiResponse r = Call("POST", "/v1/images",
                       json({{"name", "ubuntu"},
                             {"path", path},
                             {"agent_kind", "qemu-ga"},
                             {"login_user", "ubuntu"},
                             {"os", "Ubuntu 24.04"}})
                           .dump());
  ASSERT_EQ(r.status, 201) << r.body.dump();
  json image = Image("ubuntu");
  ASSERT_TRUE(image.is_object());
  EXPECT_EQ(image["format"], "qcow2");
  EXPECT_EQ(image["virtual_size_bytes"], int64_t{2560} << 20);
  EXPECT_EQ(image["agent_kind"], "qemu-ga");
  EXPECT_EQ(image["login_user"], "ubuntu");
  EXPECT_EQ(image["os"], "Ubuntu 24.04");
  EXPECT_EQ(image["firmware"], "bios");
  EXPECT_EQ(image["imported"], true);
  EXPECT_EQ(Image("kumo-guest")["agent_kind"], "kumo-agent");  // the defaults

  // No disk_gib: the image's 2.5 GiB rounded up.
  ApiResponse web = Call("POST", "/v1/servers", R"({"name": "web", "image": "ubuntu"})");
  ASSERT_EQ(web.status, 201) << web.body.dump();
  EXPECT_EQ(web.body["disk_gib"], 3);
  // Smaller than the image: refused, naming both sizes.
  ApiResponse small =
      Call("POST", "/v1/servers", R"({"name": "db", "image": "ubuntu", "disk_gib": 2})");
  EXPECT_TRUE(IsError(small, 400, codes::kInvalidArgument));
  EXPECT_EQ(small.body["error"]["field"], "disk_gib");
  EXPECT_EQ(small.body["error"]["message"],
            "disk_gib 2 is smaller than the image ubuntu (2.5 GiB); give at least 3");
  EXPECT_EQ(
      Call("POST", "/v1/servers", R"({"name": "db", "image": "ubuntu", "disk_gib": 3})").status,
      201);

  // Used: not deleted, the servers named.
  ApiResponse used = Call("DELETE", "/v1/images/ubuntu");
  EXPECT_TRUE(IsError(used, 409, codes::kInvalidState));
  EXPECT_NE(used.body["error"]["message"].get<std::string>().find("2 servers: db, web"),
            std::string::npos)
      << used.body.dump();
  EXPECT_TRUE(Image("ubuntu").is_object());
}

TEST_F(RouterImagesTest, BadImportsAreRefusedNamingTheField) {
  std::string good = MakeQcow2("good.qcow2", "1G");
  testing::WriteFile(files_ / "notes.txt", "hello\n");
  struct Case {
    json body;
    int status;
    const char* field;
  };
  const std::vector<Case> cases = {
      {{{"name", "x"}}, 400, "path"},
      {{{"path", good}}, 400, "name"},
      {{{"name", "Bad"}, {"path", good}}, 400, "name"},
      {{{"name", "x"}, {"path", "good.qcow2"}}, 400, "path"},
      {{{"name", "x"}, {"path", good}, {"firmware", "efi"}}, 400, "firmware"},
      {{{"name", "x"}, {"path", good}, {"agent_kind", "vmtools"}}, 400, "agent_kind"},
      {{{"name", "x"}, {"path", good}, {"os", 12}}, 400, "os"},
      {{{"name", "x"}, {"path", files_ / "notes.txt"}}, 400, "path"},
      {{{"name", "kumo-guest"}, {"path", good}}, 409, "name"},
  };
  for (const auto& c : cases) {
    ApiResponse r = Call("POST", "/v1/images", c.body.dump());
    EXPECT_EQ(r.status, c.status) << c.body.dump() << ": " << r.body.dump();
    EXPECT_EQ(r.body["error"].value("field", ""), c.field) << c.body.dump();
  }
  EXPECT_TRUE(IsError(Call("POST", "/v1/images", R"({"name": "x", "path": "/a", "size": 1})"), 400,
                      codes::kInvalidArgument));
  EXPECT_EQ(Call("GET", "/v1/images").body["images"].size(), 1u);
  EXPECT_TRUE(IsError(Call("DELETE", "/v1/images/nope"), 404, codes::kNotFound));
}

TEST_F(RouterImagesTest, DeleteOfAnUnusedImportRemovesItsFiles) {
  ASSERT_EQ(Call("POST", "/v1/images",
                 json({{"name", "tmp"}, {"path", MakeQcow2("t.qcow2", "1G")}}).dump())
                .status,
            201);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "images/tmp/disk.qcow2"));
  ApiResponse r = Call("DELETE", "/v1/images/tmp");
  EXPECT_EQ(r.status, 200) << r.body.dump();
  EXPECT_FALSE(Image("tmp").is_object());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "images/tmp"));
}

TEST(RouterWithoutImages, ImportAnswers503) {
  boost::asio::io_context io;
  hypervisor::FakeDriver driver{io};
  testing::TempDir dir;
  TestCore core = NewCore(io, driver, dir);
  Router router(*core.core, *core.watch, kToken);
  ApiRequest r;
  r.method = "DELETE";
  r.path = "/v1/images/kumo-guest";
  r.authorization = std::string("Bearer ") + kToken;
  EXPECT_EQ(router.HandleNow(r).status, 503);
}

TEST(HttpStatusFor, EveryCode) {
  const std::pair<const char*, int> cases[] = {
      {codes::kInvalidArgument, 400},    {codes::kUnauthorized, 401},
      {codes::kNotFound, 404},           {codes::kMethodNotAllowed, 405},
      {codes::kAlreadyExists, 409},      {codes::kServerBusy, 409},
      {codes::kInvalidState, 409},       {codes::kGuestAgentNotResponding, 409},
      {codes::kConflict, 409},           {codes::kPayloadTooLarge, 413},
      {codes::kGuestCommandFailed, 502}, {codes::kHypervisorError, 500},
      {codes::kStoreError, 500},         {codes::kStoreFull, 507},
      {codes::kInternal, 500},           {"SomethingNew", 500},
  };
  for (const auto& [code, status] : cases) EXPECT_EQ(HttpStatusFor(code), status) << code;
}

}  // namespace
}  // namespace kumo::api
