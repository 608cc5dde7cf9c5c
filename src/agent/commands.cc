#include "agent/commands.h"

#include <time.h>

#include <chrono>

#include "agent/guest_clock.h"
#include "agent/guest_stats.h"
#include "agent/guest_users.h"
#include "agent/health.h"
#include "agent/init_sources.h"
#include "agent/process.h"
#include "agent/system_info.h"
#include "agent/vcpus.h"
#include "common/base64.h"

namespace kumo::agent {
namespace {

constexpr auto kHelperDeadline = std::chrono::seconds(10);

CommandResult Sync(const Arguments& args) { return CommandResult::Return(args.RequiredInt("id")); }

CommandResult GetTime(const Arguments&) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return CommandResult::Return(static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec);
}

CommandResult SetClock(const Arguments& args) {
  std::string err;
  if (!SetTime(args.OptionalInt("time"), &err)) return CommandResult::Error(err);
  return CommandResult::Return(json::object());
}

CommandResult Shutdown(const AgentSettings& settings, const Arguments& args) {
  std::string mode = args.OptionalString("mode").value_or("powerdown");
  if (mode != "powerdown" && mode != "reboot" && mode != "halt") {
    return CommandResult::Error("Parameter 'mode' does not accept value '" + mode + "'");
  }
  std::vector<std::string> argv = settings.power_command;
  if (argv.empty()) {
    argv.push_back(mode == "powerdown" ? "poweroff" : mode);
  } else {
    argv.push_back(mode);
  }
  RunOutcome outcome;
  std::string err;
  if (!RunToCompletion(argv, "", kHelperDeadline, &outcome, &err)) {
    return CommandResult::Error("Guest agent command failed, error was '" + err + "'");
  }
  if (!outcome.exited || outcome.exit_code != 0) {
    return CommandResult::Error("child process has failed to shutdown");
  }
  return CommandResult::None();  // QGA: no reply once the shutdown is under way
}

CommandResult SetUserPassword(const AgentSettings& settings, const Arguments& args) {
  std::string user = args.RequiredString("username");
  std::string encoded = args.RequiredString("password");
  bool crypted = args.OptionalBool("crypted").value_or(false);
  auto password = Base64Decode(encoded);
  if (!password) return CommandResult::Error("Invalid base64 in parameter 'password'");
  if (user.empty() || user.find_first_of(":\n") != std::string::npos) {
    return CommandResult::Error(
        "Parameter 'username' must not be empty or contain ':' or newlines");
  }
  if (password->empty() || password->find_first_of("\n", 0) != std::string::npos ||
      password->find('\0') != std::string::npos) {
    return CommandResult::Error("Parameter 'password' must not be empty or contain newlines");
  }
  std::vector<std::string> argv = {settings.passwd_command};
  if (crypted) argv.push_back("-e");
  RunOutcome outcome;
  std::string err;
  if (!RunToCompletion(argv, user + ":" + *password + "\n", kHelperDeadline, &outcome, &err)) {
    return CommandResult::Error("Guest agent command failed, error was '" + err + "'");
  }
  if (!outcome.exited || outcome.exit_code != 0) {
    return CommandResult::Error("child process has failed to set user password");
  }
  return CommandResult::Return(json::object());
}

CommandResult Exec(ExecManager& exec, const Arguments& args) {
  std::string path = args.RequiredString("path");
  std::vector<std::string> argv = {path};
  for (auto& a : args.OptionalStringList("arg")) argv.push_back(std::move(a));
  std::optional<std::vector<std::string>> env;
  if (auto list = args.OptionalStringList("env"); !list.empty()) env = std::move(list);
  std::string input;
  if (auto data = args.OptionalString("input-data")) {
    auto decoded = Base64Decode(*data);
    if (!decoded) return CommandResult::Error("Invalid base64 in parameter 'input-data'");
    input = std::move(*decoded);
  }
  bool capture = args.OptionalBool("capture-output").value_or(false);
  std::string err;
  auto pid = exec.Start({std::move(argv), std::move(env), false, capture}, std::move(input), &err);
  if (!pid) return CommandResult::Error("Guest agent command failed, error was '" + err + "'");
  return CommandResult::Return({{"pid", *pid}});
}

CommandResult ExecStatus(ExecManager& exec, const Arguments& args) {
  int64_t pid = args.RequiredInt("pid");
  auto status = exec.Status(static_cast<pid_t>(pid));
  if (!status) return CommandResult::Error("Invalid parameter 'pid'");
  return CommandResult::Return(std::move(*status));
}

}  // namespace

void RegisterCommands(QgaDispatcher& d, const AgentSettings& settings, AgentServices services) {
  d.Add({"guest-sync", {"id"}, Sync});
  d.Add({"guest-sync-delimited", {"id"}, Sync});
  d.Add({"guest-ping", {}, [](const Arguments&) { return CommandResult::Return(json::object()); }});
  d.Add({"guest-info", {}, [&d, &settings](const Arguments&) {
           return CommandResult::Return({{"version", kAgentVersion},
                                         {"supported_commands", d.SupportedCommands()},
                                         {"kumo-role", settings.role}});
         }});
  d.Add({"guest-get-osinfo", {}, [](const Arguments&) { return CommandResult::Return(OsInfo()); }});
  d.Add({"guest-get-host-name", {}, [](const Arguments&) {
           return CommandResult::Return({{"host-name", HostName()}});
         }});
  d.Add({"guest-get-time", {}, GetTime});
  d.Add({"guest-set-time", {"time"}, SetClock});
  d.Add({"guest-get-timezone", {}, [](const Arguments&) {
           return CommandResult::Return(Timezone());
         }});
  d.Add({"guest-get-users", {}, [](const Arguments&) {
           return CommandResult::Return(LoggedInUsers());
         }});
  d.Add({"guest-get-vcpus", {}, [](const Arguments&) { return CommandResult::Return(Vcpus()); }});
  d.Add({"guest-get-cpustats", {}, [](const Arguments&) {
           return CommandResult::Return(CpuStats());
         }});
  d.Add({"guest-get-diskstats", {}, [](const Arguments&) {
           return CommandResult::Return(DiskStats());
         }});
  RegisterFileCommands(d, services.files);
  RegisterFsCommands(d);
  d.Add({"guest-network-get-interfaces", {}, [](const Arguments&) {
           return CommandResult::Return(NetworkInterfaces());
         }});
  d.Add({"guest-shutdown",
         {"mode"},
         [&settings](const Arguments& a) { return Shutdown(settings, a); },
         true,
         false});
  d.Add({"guest-set-user-password",
         {"username", "password", "crypted"},
         [&settings](const Arguments& a) { return SetUserPassword(settings, a); }});
  ExecManager& exec = services.exec;
  d.Add({"guest-exec",
         {"path", "arg", "env", "input-data", "capture-output"},
         [&exec](const Arguments& a) { return Exec(exec, a); }});
  d.Add(
      {"guest-exec-status", {"pid"}, [&exec](const Arguments& a) { return ExecStatus(exec, a); }});
  const OomWatch& oom = services.oom;
  d.Add({"kumo-health", {}, [&oom, &settings](const Arguments&) {
           return CommandResult::Return(CollectHealth(oom.kills(), settings.proc_root));
         }});
  d.Add({"kumo-init-status", {}, [&settings](const Arguments&) {
           json status;
           std::string err;
           if (!ReadInitStatusFromSources(settings.init_sources, &status, &err)) {
             return CommandResult::Error(err);
           }
           return CommandResult::Return(std::move(status));
         }});

  if (!settings.allow_exec) {
    d.Disable("guest-exec");
    d.Disable("guest-exec-status");
  }
  if (!settings.allow_shutdown) d.Disable("guest-shutdown");
  if (!settings.allow_set_password) d.Disable("guest-set-user-password");
  if (!settings.allow_system_changes) {
    for (const char* name :
         {"guest-set-time", "guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list"}) {
      d.Disable(name);
    }
  }
}

}  // namespace kumo::agent
