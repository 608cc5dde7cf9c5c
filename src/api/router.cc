#include "api/router.h"

#include <chrono>
#include <set>

#include "api/console_endpoint.h"
#include "api/request_fields.h"
#include "common/disk_space.h"
#include "qga/qga_framer.h"

namespace kumo::api {
namespace {

// GET .../console?tail=N replays at most this many lines of scrollback.
constexpr int64_t kMaxConsoleReplayLines = 10000;

// Splits "/v1/servers/web/actions" into segments.
std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t start = i;
    while (i < path.size() && path[i] != '/') ++i;
    if (i > start) out.push_back(path.substr(start, i - start));
  }
  return out;
}

}  // namespace

// Matches `path` against `pattern`; captures {name}.
bool Match(const std::string& pattern, const std::string& path, std::string* name) {
  auto p = Segments(pattern), s = Segments(path);
  if (p.size() != s.size()) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == "{name}") {
      *name = s[i];
    } else if (p[i] != s[i]) {
      return false;
    }
  }
  return true;
}

namespace {

ApiResponse FromResult(const Result<ServerRecord>& r, int ok_status) {
  if (!r.ok()) return ErrorResponse(r.status());
  return {ok_status, ServerJson(*r)};
}

bool ParseQueryInt(const ApiRequest& req, const char* key, int64_t min, int64_t max, int64_t* out,
                   ApiResponse* error) {
  auto it = req.query.find(key);
  if (it == req.query.end()) return true;
  try {
    size_t used = 0;
    long long v = std::stoll(it->second, &used);
    if (used != it->second.size() || v < min || v > max) throw std::out_of_range("");
    *out = v;
    return true;
  } catch (const std::exception&) {
    *error = BadRequest(std::string("query parameter '") + key + "' must be an integer from " +
                        std::to_string(min) + " to " + std::to_string(max));
    return false;
  }
}

bool ParseQueryBool(const ApiRequest& req, const char* key, bool* out, ApiResponse* error) {
  auto it = req.query.find(key);
  if (it == req.query.end()) return true;
  if (it->second == "true" || it->second == "1") {
    *out = true;
  } else if (it->second == "false" || it->second == "0") {
    *out = false;
  } else {
    *error = BadRequest(std::string("query parameter '") + key + "' must be true or false");
    return false;
  }
  return true;
}

std::string Iso(int64_t ms) {
  if (ms == 0) return "";
  time_t t = static_cast<time_t>(ms / 1000);
  tm tm_utc{};
  gmtime_r(&t, &tm_utc);
  char buf[40];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm_utc);
  char out[48];
  snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

}  // namespace

json ServerJson(const ServerRecord& r) {
  json j = {{"name", r.name},
            {"status", ToString(r.status)},
            {"status_reason", r.status_reason},
            {"power", ToString(r.power)},
            {"agent", ToString(r.agent)},
            {"task", ToString(r.task)},
            {"image", r.image},
            {"vcpus", r.vcpus},
            {"memory_mib", r.memory_mib},
            {"disk_gib", r.disk_gib},
            {"has_ssh_key", !r.ssh_key.empty()},
            {"user_data_bytes", r.user_data.size()},
            {"created", Iso(r.created_ms)},
            {"updated", Iso(r.updated_ms)}};
  j["agent_last_seen"] = r.agent_last_seen_ms ? json(Iso(r.agent_last_seen_ms)) : json(nullptr);
  j["task_started"] = r.task_started_ms ? json(Iso(r.task_started_ms)) : json(nullptr);
  j["task_deadline"] = r.task_deadline_ms ? json(Iso(r.task_deadline_ms)) : json(nullptr);
  j["qemu_pid"] = r.qemu_pid ? json(r.qemu_pid) : json(nullptr);
  j["boot_mode"] = ToString(r.boot_mode);
  j["ssh_port"] = r.ssh_port ? json(r.ssh_port) : json(nullptr);
  return j;
}

json EventJson(const EventRecord& e) {
  return {{"id", e.id},
          {"time", Iso(e.time_ms)},
          {"kind", e.kind},
          {"status", e.status},
          {"message", e.message}};
}

json ImageJson(const ImageRecord& i) {
  json j = {{"name", i.name},
            {"kernel_release", i.kernel_release},
            {"registered", Iso(i.registered_ms)},
            {"firmware", i.firmware},
            {"login_user", i.login_user},
            {"agent_kind", i.agent_kind},
            {"os", i.os},
            {"user_data_support", i.user_data_support},
            {"format", i.format},
            {"imported", i.imported}};
  j["virtual_size_bytes"] = i.virtual_size_bytes ? json(i.virtual_size_bytes) : json(nullptr);
  return j;
}

std::optional<ApiResponse> Router::HandleUpgrade(const ApiRequest& req,
                                                 std::shared_ptr<WebSocketChannel> channel) {
  std::string name;
  if (req.method != "GET" || !Match("/v1/servers/{name}/console", req.path, &name)) {
    return ErrorResponse(404, codes::kNotFound, "no WebSocket endpoint at " + req.path,
                         "the console is at /v1/servers/NAME/console");
  }
  auto token = req.query.find("token");
  Credential credential = Authenticate(req);
  // A browser opens a WebSocket from any page with the cookie attached: a
  // session counts only from the panel's own origin.
  if (credential == Credential::kSession && !SameOrigin(req)) {
    return ErrorResponse(403, codes::kForbidden,
                         "the console may be opened by the panel only (Origin '" +
                             req.origin.substr(0, 100) + "' is not this kumod)");
  }
  if (credential == Credential::kNone &&
      (token == req.query.end() || !TokenMatches(token->second))) {
    return Unauthorized(
        "send 'Authorization: Bearer TOKEN' or ?token=TOKEN; the token is in "
        "STATE_DIR/token");
  }
  int64_t tail = 0;
  ApiResponse error;
  if (!ParseQueryInt(req, "tail", 0, kMaxConsoleReplayLines, &tail, &error)) return error;
  auto broker = core_.Console(name);
  if (!broker.ok()) return ErrorResponse(broker.status());
  // Context first: the last lines the guest printed (an OOM report, a login
  // prompt) come from the scrollback, then the live output.
  if (tail > 0) {
    auto recent = core_.ConsoleLog(name, static_cast<size_t>(tail));
    if (recent.ok() && !recent->empty()) channel->Send(std::move(*recent));
  }
  JoinConsole(*broker, std::move(channel));
  return std::nullopt;
}

Router::Router(core::ServerCore& core, WatchEndpoint& watch, std::string token,
               Observability observability)
    : core_(core),
      watch_(watch),
      servers_(watch.ledger()),
      token_(std::move(token)),
      observability_(std::move(observability)),
      sessions_([&core] { return core.NowMs(); }) {}

ApiResponse Router::Watch(const ApiRequest& req, const std::string&) { return watch_.Open(req); }

Router::Credential Router::Authenticate(const ApiRequest& req, Session* session) {
  const std::string prefix = "Bearer ";
  if (req.authorization.rfind(prefix, 0) == 0) {
    return TokenMatches(req.authorization.substr(prefix.size())) ? Credential::kToken
                                                                 : Credential::kNone;
  }
  std::string id = CookieValue(req.cookie, SessionStore::kCookieName);
  if (id.empty()) return Credential::kNone;
  auto found = sessions_.Find(id);
  if (!found) return Credential::kNone;
  if (session) *session = *found;
  return Credential::kSession;
}

bool Router::TokenMatches(const std::string& given) const { return SecretsEqual(token_, given); }

const std::vector<Router::RouteEntry>& Router::Table() {
  static const std::vector<RouteEntry> kTable = {
      {{"GET", "/healthz", false}, &Router::GetHealth},
      {{"GET", "/v1/host"}, &Router::GetHost},
      {{"POST", "/v1/session", false}, &Router::SignIn},
      {{"GET", "/v1/session"}, &Router::GetSession},
      {{"DELETE", "/v1/session"}, &Router::SignOut},
      {{"GET", "/v1/images"}, &Router::ListImages},
      {{"POST", "/v1/images"}, &Router::ImportImage},
      {{"DELETE", "/v1/images/{name}"}, &Router::DeleteImage},
      {{"PUT", "/v1/images/{name}/disk"}, &Router::UploadNeedsStream},
      {{"GET", "/v1/servers"}, &Router::ListServers},
      {{"POST", "/v1/servers"}, &Router::CreateServer},
      {{"GET", "/v1/servers/{name}"}, &Router::GetServer},
      {{"DELETE", "/v1/servers/{name}"}, &Router::DeleteServer},
      {{"POST", "/v1/servers/{name}/actions"}, &Router::RunAction},
      {{"GET", "/v1/servers/{name}/events"}, &Router::ListEvents},
      {{"POST", "/v1/servers/{name}/exec"}, &Router::Exec},
      {{"POST", "/v1/servers/{name}/password"}, &Router::SetPassword},
      {{"GET", "/v1/servers/{name}/console"}, &Router::ConsoleWithoutUpgrade},
      {{"GET", "/v1/servers/{name}/console-log"}, &Router::GetConsoleLog},
      {{"GET", "/v1/servers/{name}/diagnosis"}, &Router::GetDiagnosis},
      {{"GET", "/v1/servers/{name}/metrics"}, &Router::GetServerMetrics},
      {{"GET", "/v1/watch"}, &Router::Watch},
      {{"GET", "/metrics"}, &Router::GetMetrics},
  };
  return kTable;
}

const std::vector<Route>& Router::Routes() {
  static const std::vector<Route> kRoutes = [] {
    std::vector<Route> routes;
    for (const auto& entry : Table()) routes.push_back(entry.route);
    return routes;
  }();
  return kRoutes;
}

const Router::RouteEntry* Router::Find(const ApiRequest& req, std::string* name,
                                       ApiResponse* refusal) {
  const RouteEntry* found = nullptr;
  bool path_known = false;
  for (const auto& entry : Table()) {
    std::string captured;
    if (!Match(entry.route.pattern, req.path, &captured)) continue;
    path_known = true;
    if (entry.route.method == req.method) {
      found = &entry;
      *name = captured;
      break;
    }
  }
  if (!found) {
    *refusal = path_known ? ErrorResponse(405, codes::kMethodNotAllowed,
                                          req.method + " is not allowed on " + req.path)
                          : ErrorResponse(404, codes::kNotFound, "no such endpoint: " + req.path,
                                          "the API is described in docs/openapi.json");
    return nullptr;
  }
  if (!found->route.needs_token) return found;
  Session session;
  Credential credential = Authenticate(req, &session);
  if (credential == Credential::kNone) {
    *refusal = Unauthorized(
        "send 'Authorization: Bearer TOKEN' (the token is in STATE_DIR/token), or sign in to the "
        "panel");
    return nullptr;
  }
  if (credential == Credential::kSession) {
    if (auto forged = RefuseForgery(req, session)) {
      *refusal = std::move(*forged);
      return nullptr;
    }
  }
  return found;
}

void Router::ServePanel(Result<PanelFiles> panel) { panel_ = std::move(panel); }

std::optional<ApiResponse> Router::PanelFile(const ApiRequest& req) const {
  if (req.method != "GET" || req.path.rfind("/v1/", 0) == 0) return std::nullopt;
  if (panel_.ok()) return panel_->Serve(req.path, req.accept_encoding);
  if (req.path == "/" || req.path == "/index.html") return ErrorResponse(panel_.status());
  return std::nullopt;
}

void Router::Handle(const ApiRequest& req, Respond respond) {
  if (auto file = PanelFile(req)) {
    if (ApiStats* stats = observability_.stats) stats->Record(req.method, "panel", file->status, 0);
    return respond(std::move(*file));
  }
  std::string name;
  ApiResponse refusal;
  const RouteEntry* entry = Find(req, &name, &refusal);
  if (ApiStats* stats = observability_.stats) {
    auto started = std::chrono::steady_clock::now();
    std::string route = entry ? entry->route.pattern : "unmatched";
    respond = [stats, started, route, method = req.method,
               respond = std::move(respond)](ApiResponse r) {
      std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
      stats->Record(method, route, r.stream ? 200 : r.status, took.count());
      respond(std::move(r));
    };
  }
  if (!entry) return respond(refusal);
  if (entry->later) return (this->*entry->later)(req, name, std::move(respond));
  respond((this->*entry->now)(req, name));
}

ApiResponse Router::HandleNow(const ApiRequest& req) {
  if (auto file = PanelFile(req)) return std::move(*file);
  std::string name;
  ApiResponse refusal;
  const RouteEntry* entry = Find(req, &name, &refusal);
  if (!entry) return refusal;
  if (entry->later) {
    return ErrorResponse(500, codes::kInternal,
                         entry->route.method + " " + entry->route.pattern +
                             " answers asynchronously: it goes through Router::Handle");
  }
  return (this->*entry->now)(req, name);
}

ApiResponse Router::GetHealth(const ApiRequest&, const std::string&) {
  return {200, {{"ok", true}}};
}

ApiResponse Router::GetHost(const ApiRequest&, const std::string&) {
  const std::string& dir = core_.state_dir();
  auto space = DiskSpaceOf(dir);
  if (!space.ok()) return ErrorResponse(space.status());
  json state_dir = {{"path", dir},
                    {"free_bytes", space->free_bytes},
                    {"total_bytes", space->total_bytes},
                    {"low", space->low()},
                    {"unsaved_changes", core_.unsaved_changes()}};
  return {200, {{"state_dir", state_dir}}};
}

ApiResponse Router::ListImages(const ApiRequest&, const std::string&) {
  json list = json::array();
  for (const auto& i : core_.Images()) list.push_back(ImageJson(i));
  return {200, {{"images", list}}};
}

// Each record's text is kept from one change to the next (RenderedServers);
// the top finding, which changes apart from the record, is added per
// request as the object's last member.
ApiResponse Router::ListServers(const ApiRequest&, const std::string&) {
  std::string body = "{\"servers\":[";
  const diagnosis::ServerObserver* observer = observability_.observer;
  servers_.ForEach([&](const ServerRecord& r, std::string_view record) {
    if (body.back() != '[') body += ',';
    if (!observer) {
      body += record;
      return;
    }
    body += record.substr(0, record.size() - 1);  // without its closing brace
    body += ",\"top_finding\":";
    const diagnosis::Finding* top = observer->TopFinding(r.name);
    body += top ? json{{"code", top->code},
                       {"severity", std::string(diagnosis::SeverityName(top->severity))},
                       {"summary", top->summary}}
                      .dump(-1, ' ', false, json::error_handler_t::replace)
                : "null";
    body += '}';
  });
  body += "]}\n";
  ApiResponse response{200, nullptr};
  response.content_type = "application/json";
  response.raw_body = std::move(body);
  return response;
}

ApiResponse Router::CreateServer(const ApiRequest& req, const std::string&) {
  json body;
  ApiResponse error;
  if (!ParseBody(req, {"name", "image", "vcpus", "memory_mib", "disk_gib", "ssh_key", "user_data"},
                 &body, &error)) {
    return error;
  }
  core::ServerSpec spec;
  spec.image = "kumo-guest";
  int disk_gib = 0;
  if (!Field(body, "name", &spec.name, &error, "a string") ||
      !Field(body, "image", &spec.image, &error, "a string") ||
      !Field(body, "vcpus", &spec.vcpus, &error, "an integer") ||
      !Field(body, "memory_mib", &spec.memory_mib, &error, "an integer") ||
      !Field(body, "disk_gib", &disk_gib, &error, "an integer") ||
      !Field(body, "ssh_key", &spec.ssh_key, &error, "a string") ||
      !Field(body, "user_data", &spec.user_data, &error, "a string")) {
    return error;
  }
  if (!body.contains("name")) {
    return ErrorResponse(400, codes::kInvalidArgument, "field 'name' is required", "", "name");
  }
  if (body.contains("disk_gib") && !body["disk_gib"].is_null()) spec.disk_gib = disk_gib;
  auto created = core_.Create(spec);
  if (!created.ok()) return ErrorResponse(created.status());
  json server = ServerJson(*created);
  server["warnings"] = core_.UserDataWarnings(*created);
  return {201, server};
}

ApiResponse Router::GetServer(const ApiRequest&, const std::string& name) {
  auto r = core_.Get(name);
  if (!r.ok()) return ErrorResponse(r.status());
  // How to log in, as the image says: its user, and SSH through kumod's
  // forward (on kumod's host: the forward listens on loopback only).
  json server = ServerJson(*r);
  const std::string user = core_.LoginUserOf(*r);
  server["login_user"] = user;
  server["ssh_command"] =
      r->ssh_port ? json("ssh -p " + std::to_string(r->ssh_port) + " " + user + "@127.0.0.1")
                  : json(nullptr);
  return {200, server};
}

ApiResponse Router::DeleteServer(const ApiRequest& req, const std::string& name) {
  bool force = false;
  ApiResponse error;
  if (!ParseQueryBool(req, "force", &force, &error)) return error;
  return FromResult(core_.Delete(name, force), 202);
}

ApiResponse Router::RunAction(const ApiRequest& req, const std::string& name) {
  json body;
  ApiResponse error;
  if (!ParseBody(req, {"action", "force", "acpi"}, &body, &error)) return error;
  std::string action;
  bool force = false;
  bool acpi = false;
  if (!Field(body, "action", &action, &error, "a string") ||
      !Field(body, "force", &force, &error, "a boolean") ||
      !Field(body, "acpi", &acpi, &error, "a boolean")) {
    return error;
  }
  if (acpi && action != "stop") return BadRequest("'acpi' applies to stop only");
  if (acpi && force) {
    return BadRequest("give 'acpi' (press the power button) or 'force' (pull the cord), not both");
  }
  if (acpi) return FromResult(core_.StopByPowerButton(name), 202);
  if (action == "start") {
    if (force) return BadRequest("'force' does not apply to start");
    return FromResult(core_.Start(name), 202);
  }
  if (action == "stop") return FromResult(core_.Stop(name, force), 202);
  if (action == "reboot") return FromResult(core_.Reboot(name, force), 202);
  if (action == "rescue" || action == "unrescue") {
    if (force) return BadRequest("'force' does not apply to " + action + " (it always forces)");
    return FromResult(action == "rescue" ? core_.Rescue(name) : core_.Unrescue(name), 202);
  }
  return BadRequest("unknown action '" + action + "'",
                    "actions: start, stop, reboot, rescue, unrescue");
}

// The newest events by default; `before` pages back, `after` forward.
// `more`: there are further events in the direction read.
ApiResponse Router::ListEvents(const ApiRequest& req, const std::string& name) {
  int64_t after = 0, before = INT64_MAX, limit = 100;
  ApiResponse error;
  if (!ParseQueryInt(req, "after", 0, INT64_MAX, &after, &error) ||
      !ParseQueryInt(req, "before", 1, INT64_MAX, &before, &error) ||
      !ParseQueryInt(req, "limit", 1, 1000, &limit, &error)) {
    return error;
  }
  const bool forward = req.query.count("after") > 0;
  if (forward && req.query.count("before")) {
    return BadRequest("give 'after' (page forward) or 'before' (page back), not both");
  }
  const int want = static_cast<int>(limit) + 1;  // one more tells whether there is more
  auto events = forward ? core_.Events(name, after, want) : core_.EventsBefore(name, before, want);
  if (!events.ok()) return ErrorResponse(events.status());
  const bool more = events->size() > static_cast<size_t>(limit);
  if (more && forward) events->pop_back();
  if (more && !forward) events->erase(events->begin());
  json list = json::array();
  for (const auto& e : *events) list.push_back(EventJson(e));
  return {200, {{"events", list}, {"more", more}}};
}

// The console itself is served by HandleUpgrade.
ApiResponse Router::ConsoleWithoutUpgrade(const ApiRequest&, const std::string& name) {
  return BadRequest("the console is a WebSocket: send an upgrade request",
                    "attach with: kumo console " + name);
}

ApiResponse Router::GetConsoleLog(const ApiRequest& req, const std::string& name) {
  int64_t tail = 0;
  ApiResponse error;
  if (!ParseQueryInt(req, "tail", 0, 1000000, &tail, &error)) return error;
  auto text = core_.ConsoleLog(name, static_cast<size_t>(tail));
  if (!text.ok()) return ErrorResponse(text.status());
  return {200, {{"name", name}, {"text", *text}, {"bytes", text->size()}}};
}

void Router::Exec(const ApiRequest& req, const std::string& name, Respond respond) {
  json body;
  ApiResponse error;
  if (!ParseBody(req, {"path", "args", "input", "timeout_s"}, &body, &error)) return respond(error);
  core::ExecRequest exec;
  int timeout_s = 30;
  if (!Field(body, "path", &exec.path, &error, "a string") ||
      !Field(body, "input", &exec.input, &error, "a string") ||
      !Field(body, "timeout_s", &timeout_s, &error, "an integer")) {
    return respond(error);
  }
  if (exec.path.empty()) return respond(BadRequest("field 'path' is required"));
  static_assert(core::ExecRequest::kMaxInputBytes * 4 / 3 + 4096 <
                qga::QgaFramer::kMaxRequestBytes);
  if (exec.input.size() > core::ExecRequest::kMaxInputBytes) {
    return respond(BadRequest("field 'input' is larger than " +
                                  std::to_string(core::ExecRequest::kMaxInputBytes / 1024) +
                                  " KiB, more than the guest agent takes in one request",
                              "feed it in pieces: one exec per piece, appending to a file"));
  }
  if (timeout_s < 1 || timeout_s > 600) {
    return respond(BadRequest("field 'timeout_s' must be between 1 and 600"));
  }
  exec.timeout = std::chrono::seconds(timeout_s);
  if (auto it = body.find("args"); it != body.end()) {
    if (!it->is_array()) return respond(BadRequest("field 'args' must be an array of strings"));
    for (const auto& a : *it) {
      if (!a.is_string()) return respond(BadRequest("field 'args' must be an array of strings"));
      exec.args.push_back(a.get<std::string>());
    }
  }
  core_.Exec(name, exec, [respond](Result<core::ExecResult> r) {
    if (!r.ok()) return respond(ErrorResponse(r.status()));
    json out = {
        {"exit_code", r->exit_code}, {"stdout", r->stdout_text}, {"stderr", r->stderr_text}};
    out["signal"] = r->signal ? json(r->signal) : json(nullptr);
    respond({200, out});
  });
}

void Router::SetPassword(const ApiRequest& req, const std::string& name, Respond respond) {
  json body;
  ApiResponse error;
  if (!ParseBody(req, {"user", "password"}, &body, &error)) return respond(error);
  std::string user = "root", password;
  if (!Field(body, "user", &user, &error, "a string") ||
      !Field(body, "password", &password, &error, "a string")) {
    return respond(error);
  }
  if (!body.contains("password")) return respond(BadRequest("field 'password' is required"));
  core_.SetPassword(name, user, password, [respond](Result<std::string> set_in) {
    if (!set_in.ok()) return respond(ErrorResponse(set_in.status()));
    respond({200, {{"set_in", *set_in}}});
  });
}

}  // namespace kumo::api
