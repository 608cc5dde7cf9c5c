#include "cli/commands.h"

#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cli/diagnosis_view.h"
#include "cli/server_view.h"
#include "cli/table.h"
#include "cli/waiting.h"

namespace kumo::cli {
namespace {

int Fail(Context& ctx, const CliError& error) {
  return PrintError(error, ctx.json, ctx.out, ctx.err);
}

void PrintRaw(Context& ctx, const std::string& raw) {
  ctx.out << raw;
  if (raw.empty() || raw.back() != '\n') ctx.out << "\n";
  ctx.out.flush();
}

std::string ServerPath(const std::string& name) { return "/v1/servers/" + EncodePathSegment(name); }

Outcome<std::string> ReadFile(const std::string& path, const char* option) {
  std::string data;
  if (path == "-") {
    data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return data;
  }
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string why = errno ? strerror(errno) : "cannot open";
    return CliError{kExitUsage, std::string("cannot read ") + option + " " + path + ": " + why, ""};
  }
  data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return CliError{kExitUsage, std::string("cannot read ") + option + " " + path, ""};
  }
  return data;
}

// Prints the accepted server and, with --wait, follows it to `goal`.
int FinishAction(Context& ctx, const std::string& name, const ApiReply& accepted,
                 const std::string& goal, bool want_gone, const WaitOption& wait) {
  if (!wait.wait) {
    if (ctx.json) {
      PrintRaw(ctx, accepted.raw);
    } else {
      ctx.out << StatusLine(accepted.body) << "\n" << std::flush;
    }
    return kExitOk;
  }
  WaitPlan plan;
  plan.name = name;
  plan.goal = goal;
  plan.want_gone = want_gone;
  plan.judge = [goal](const json& s) { return JudgeAfterAction(s, goal); };
  plan.timeout = wait.timeout;
  if (!ctx.json) {
    plan.last_line = StatusLine(accepted.body);
    ctx.out << plan.last_line << "\n" << std::flush;
    plan.on_change = [&ctx](const json& s) { ctx.out << StatusLine(s) << "\n" << std::flush; };
  }
  auto done = WaitForServer(ctx.api, plan);
  if (!done.ok()) return Fail(ctx, done.error());
  if (want_gone) {
    if (ctx.json) {
      PrintRaw(ctx, accepted.raw);
    } else {
      ctx.out << name << ": deleted\n" << std::flush;
    }
  } else if (ctx.json) {
    PrintRaw(ctx, done->raw);
  }
  return kExitOk;
}

}  // namespace

Outcome<json> CreateRequestBody(const CreateOptions& options) {
  json body = {{"name", options.name}};
  if (options.image) body["image"] = *options.image;
  if (options.vcpus) body["vcpus"] = *options.vcpus;
  if (options.memory_mib) body["memory_mib"] = *options.memory_mib;
  if (options.disk_gib) body["disk_gib"] = *options.disk_gib;
  if (options.ssh_key_file) {
    auto key = ReadFile(*options.ssh_key_file, "--ssh-key-file");
    if (!key.ok()) return key.error();
    std::string k = *key;
    while (!k.empty() && (k.back() == '\n' || k.back() == '\r' || k.back() == ' ')) k.pop_back();
    if (k.empty()) {
      return CliError{kExitUsage, "--ssh-key-file " + *options.ssh_key_file + " is empty",
                      "give an OpenSSH public key file, e.g. ~/.ssh/id_ed25519.pub"};
    }
    body["ssh_key"] = k;
  }
  if (options.user_data_file) {
    auto data = ReadFile(*options.user_data_file, "--user-data-file");
    if (!data.ok()) return data.error();
    body["user_data"] = *data;
  }
  try {
    (void)body.dump();  // JSON strings are UTF-8: refuse other bytes here, not halfway
  } catch (const json::exception&) {
    return CliError{kExitUsage, "the SSH key or user data is not UTF-8 text",
                    "user data must be a text script or #cloud-config"};
  }
  return body;
}

// What kumod said at create about user data the image will not apply (the
// reply's "warnings"), on stderr.
static void PrintCreateWarnings(Context& ctx, const json& server) {
  if (!server.is_object() || !server.contains("warnings") || !server["warnings"].is_array()) return;
  for (const auto& w : server["warnings"]) {
    if (w.is_string()) ctx.err << "warning: " << Printable(w.get<std::string>()) << "\n";
  }
}

int CreateServer(Context& ctx, const CreateOptions& options) {
  auto body = CreateRequestBody(options);
  if (!body.ok()) return Fail(ctx, body.error());
  auto reply = ctx.api.Call("POST", "/v1/servers", &*body);
  if (!reply.ok()) return Fail(ctx, reply.error());
  if (!ctx.json) PrintCreateWarnings(ctx, reply->body);
  return FinishAction(ctx, options.name, *reply, "running", false, options.wait);
}

int ListServers(Context& ctx) {
  auto reply = ctx.api.Call("GET", "/v1/servers");
  if (!reply.ok()) return Fail(ctx, reply.error());
  if (ctx.json) {
    PrintRaw(ctx, reply->raw);
  } else {
    ctx.out << ServerTable(reply->body) << std::flush;
  }
  return kExitOk;
}

int ExecInGuest(Context& ctx, const std::string& name, const std::vector<std::string>& argv,
                int timeout_s) {
  json body = {{"path", argv.at(0)},
               {"args", std::vector<std::string>(argv.begin() + 1, argv.end())},
               {"timeout_s", timeout_s}};
  // kumod answers when the program ends or its timeout kills it: wait that
  // long, and a little more for kumod and the agent.
  const ApiClient api = ctx.api.WithTimeout(std::chrono::seconds(timeout_s + 15));
  auto reply = api.Call("POST", ServerPath(name) + "/exec", &body);
  if (!reply.ok()) return Fail(ctx, reply.error());
  if (ctx.json) {
    PrintRaw(ctx, reply->raw);
  } else {
    ctx.out << reply->body.value("stdout", "") << std::flush;
    ctx.err << reply->body.value("stderr", "") << std::flush;
  }
  const json& signal = reply->body["signal"];
  if (signal.is_number_integer()) return 128 + signal.get<int>();
  return reply->body.value("exit_code", 1);
}

namespace {

// Reads a password: twice without echo on a terminal, else one line of stdin.
Outcome<std::string> ReadPassword(Context& ctx) {
  auto read_line = [](std::string* line) {
    return static_cast<bool>(std::getline(std::cin, *line));
  };
  std::string first;
  if (!isatty(STDIN_FILENO)) {
    if (!read_line(&first) || first.empty()) {
      return CliError{kExitUsage, "no password on standard input", "give it as one line"};
    }
    return first;
  }
  termios old_mode{};
  tcgetattr(STDIN_FILENO, &old_mode);
  termios quiet = old_mode;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  std::string second;
  ctx.err << "New password: " << std::flush;
  tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  bool ok = read_line(&first);
  ctx.err << "\nRetype new password: " << std::flush;
  ok = ok && read_line(&second);
  tcsetattr(STDIN_FILENO, TCSANOW, &old_mode);
  ctx.err << "\n";
  if (!ok || first.empty()) return CliError{kExitUsage, "no password given", ""};
  if (first != second) return CliError{kExitUsage, "the passwords do not match", "try again"};
  return first;
}

}  // namespace

int SetPassword(Context& ctx, const std::string& name, const std::string& user) {
  auto password = ReadPassword(ctx);
  if (!password.ok()) return Fail(ctx, password.error());
  json body = {{"user", user}, {"password", *password}};
  auto reply = ctx.api.Call("POST", ServerPath(name) + "/password", &body);
  if (!reply.ok()) return Fail(ctx, reply.error());
  if (ctx.json) {
    PrintRaw(ctx, reply->raw);
  } else {
    std::string set_in = reply->body.value("set_in", "");
    ctx.out << name << ": password set for " << user << (set_in.empty() ? "" : " " + set_in) << "\n"
            << std::flush;
  }
  return kExitOk;
}

int ShowServer(Context& ctx, const std::string& name) {
  auto reply = ctx.api.Call("GET", ServerPath(name));
  if (!reply.ok()) return Fail(ctx, reply.error());
  if (ctx.json) {
    PrintRaw(ctx, reply->raw);
  } else {
    ctx.out << ServerDetails(reply->body) << std::flush;
  }
  return kExitOk;
}

int ListImages(Context& ctx) {
  auto reply = ctx.api.Call("GET", "/v1/images");
  if (!reply.ok()) return Fail(ctx, reply.error());
  if (ctx.json) {
    PrintRaw(ctx, reply->raw);
  } else {
    ctx.out << ImageTable(reply->body) << std::flush;
  }
  return kExitOk;
}

int Diagnose(Context& ctx, const std::string& name) {
  auto reply = ctx.api.Call("GET", ServerPath(name) + "/diagnosis");
  if (!reply.ok()) return Fail(ctx, reply.error());
  if (ctx.json) {
    PrintRaw(ctx, reply->raw);
  } else {
    ctx.out << DiagnosisText(reply->body) << std::flush;
  }
  return kExitOk;
}

int ServerAction(Context& ctx, const std::string& name, const std::string& action, bool force,
                 const WaitOption& wait) {
  json body = {{"action", action}};
  if (action == "stop" || action == "reboot") body["force"] = force;
  auto reply = ctx.api.Call("POST", ServerPath(name) + "/actions", &body);
  if (!reply.ok()) return Fail(ctx, reply.error());
  return FinishAction(ctx, name, *reply, action == "stop" ? "stopped" : "running", false, wait);
}

int PressPowerButton(Context& ctx, const std::string& name, const WaitOption& wait) {
  json body = {{"action", "stop"}, {"acpi", true}};
  auto reply = ctx.api.Call("POST", ServerPath(name) + "/actions", &body);
  if (!reply.ok()) return Fail(ctx, reply.error());
  return FinishAction(ctx, name, *reply, "stopped", false, wait);
}

int DeleteServer(Context& ctx, const std::string& name, bool force, const WaitOption& wait) {
  auto reply = ctx.api.Call("DELETE", ServerPath(name) + (force ? "?force=true" : ""));
  if (!reply.ok()) return Fail(ctx, reply.error());
  return FinishAction(ctx, name, *reply, "gone", true, wait);
}

int ShowEvents(Context& ctx, const EventsOptions& options) {
  if (options.follow) return FollowEvents(ctx, options);
  std::string target =
      ServerPath(options.name) + "/events?limit=" + std::to_string(options.limit.value_or(100));
  if (options.after > 0) target += "&after=" + std::to_string(options.after);
  if (options.before > 0) target += "&before=" + std::to_string(options.before);
  auto reply = ctx.api.Call("GET", target);
  if (!reply.ok()) return Fail(ctx, reply.error());
  if (ctx.json) {
    PrintRaw(ctx, reply->raw);
    return kExitOk;
  }
  ctx.out << EventHeader();
  const json* events =
      reply->body.is_object() && reply->body.contains("events") && reply->body["events"].is_array()
          ? &reply->body["events"]
          : nullptr;
  if (events) {
    for (const auto& e : *events) ctx.out << EventLine(e);
  }
  ctx.out.flush();
  // Where the rest is: older events unless paging forward.
  if (events && !events->empty() && reply->body.value("more", false)) {
    const json& edge = options.after > 0 ? events->back() : events->front();
    if (edge.contains("id") && edge["id"].is_number_integer()) {
      ctx.err << (options.after > 0 ? "newer events: kumo events " + options.name + " --after "
                                    : "older events: kumo events " + options.name + " --before ")
              << edge["id"].get<int64_t>() << "\n";
    }
  }
  return kExitOk;
}

int WaitForStatus(Context& ctx, const std::string& name, const std::string& status,
                  std::chrono::milliseconds timeout) {
  WaitPlan plan;
  plan.name = name;
  plan.goal = status;
  plan.judge = [status](const json& s) { return JudgeStatus(s, status); };
  plan.timeout = timeout;
  auto done = WaitForServer(ctx.api, plan);
  if (!done.ok()) return Fail(ctx, done.error());
  if (ctx.json) {
    PrintRaw(ctx, done->raw);
  } else {
    ctx.out << StatusLine(done->body) << "\n" << std::flush;
  }
  return kExitOk;
}

}  // namespace kumo::cli
