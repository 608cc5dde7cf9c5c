// kumo: the command-line client, a thin client of kumod's REST API (create,
// list, show, start, stop, reboot, delete, events, wait), plus `kumo agent`,
// which talks to a guest agent socket directly like `virsh
// qemu-agent-command`. Exit codes: cli/cli_error.h, and `kumo --help`.
#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <optional>

#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/console_command.h"
#include "common/state_dir.h"
#include "guestlink/qga_client.h"

namespace {

using kumo::guestlink::QgaClient;
using Clock = std::chrono::steady_clock;
using namespace kumo::cli;  // NOLINT: the CLI's own names
using json = nlohmann::json;

// `kumo agent` uses the same table: 1 the agent answered with an error,
// 3 no answer from the agent.
constexpr int kExitCommandFailed = kExitApiError;

int RunAgentCommand(const std::string& socket, const std::string& command,
                    const std::string& arguments_text, double wait_seconds, bool raw) {
  json arguments;
  if (!arguments_text.empty()) {
    arguments = json::parse(arguments_text, nullptr, false);
    if (arguments.is_discarded() || !arguments.is_object()) {
      std::cerr << "error: ARGUMENTS must be a JSON object, got: " << arguments_text << "\n"
                << "hint: for example '{\"id\": 1}'\n";
      return kExitUsage;
    }
  }
  auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(wait_seconds * 1000));
  QgaClient client;
  std::string err;
  if (!client.Connect(socket, deadline, &err)) {
    std::cerr
        << "error: " << err << "\n"
        << "hint: is the server running? The agent socket is agent.sock in its run directory\n";
    return kExitUnreachable;
  }
  if (!client.Sync(deadline)) {
    std::cerr << "error: the guest agent did not answer within " << wait_seconds << " s\n"
              << "hint: the guest may still be booting (use --wait), or the agent is down; "
                 "the serial console shows why\n";
    return kExitUnreachable;
  }
  auto reply = client.Call(command, arguments, Clock::now() + std::chrono::seconds(30));
  if (reply.timed_out) {
    std::cerr << "error: no reply to " << command << ": " << reply.error_desc << "\n";
    return kExitUnreachable;
  }
  if (!reply.ok) {
    std::cerr << "error: " << reply.error_class << ": " << reply.error_desc << "\n";
    return kExitCommandFailed;
  }
  std::cout << (raw ? reply.value.dump() : reply.value.dump(2)) << "\n";
  return kExitOk;
}

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Options of the commands that can wait for their end state.
struct WaitFlags {
  bool wait = false;
  double timeout_s = 300;
  WaitOption Get() const { return {wait, Millis(timeout_s)}; }
};

void AddWaitFlags(CLI::App* command, WaitFlags* flags, const std::string& until) {
  command->add_flag("--wait", flags->wait, "wait until the server is " + until);
  command
      ->add_option("--timeout", flags->timeout_s,
                   "seconds --wait may take (default 300; exit 6 when it runs out)")
      ->check(CLI::Range(0.0, 1e6));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kumo: control QEMU virtual servers through kumod's REST API"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the command
  app.footer(kExitCodeHelp);

  std::string url_text = kDefaultApiUrl;
  std::string state_dir = kumo::DefaultStateDir();
  std::string token_flag;
  bool json_mode = false;
  app.add_option("--url", url_text, "kumod's API (default " + url_text + ")")->envname("KUMO_URL");
  app.add_option("--state-dir", state_dir,
                 "kumod's state dir, for its token file (default " + state_dir + ")")
      ->envname("KUMO_STATE_DIR");
  app.add_option("--token", token_flag, "the API token (default: read STATE_DIR/token)")
      ->envname("KUMO_TOKEN");
  app.add_flag("--json", json_mode, "print the API's JSON as is");

  CreateOptions create;
  WaitFlags create_wait;
  auto* create_cmd = app.add_subcommand("create", "Create a server and start it");
  create_cmd->add_option("name", create.name, "the server's name (like a host name)")->required();
  std::string image, ssh_key_file, user_data_file;
  int vcpus = 0, memory = 0, disk = 0;
  auto* image_opt =
      create_cmd->add_option("--image", image, "image (default kumo-guest; see kumo images)");
  auto* vcpus_opt = create_cmd->add_option("--vcpus", vcpus, "virtual CPUs (default 1)");
  auto* memory_opt = create_cmd->add_option("--memory", memory, "memory in MiB (default 256)");
  auto* disk_opt = create_cmd->add_option("--disk", disk, "disk in GiB (default 1)");
  auto* key_opt =
      create_cmd->add_option("--ssh-key-file", ssh_key_file,
                             "an OpenSSH public key to install (e.g. ~/.ssh/id_ed25519.pub)");
  auto* user_data_opt =
      create_cmd->add_option("--user-data-file", user_data_file,
                             "init script or #cloud-config to run at boot ('-': stdin)");
  AddWaitFlags(create_cmd, &create_wait, "running");

  auto* list_cmd =
      app.add_subcommand("list", "List servers: NAME STATUS TASK AGENT VCPUS MEMORY IMAGE REASON");
  bool list_watch = false;
  list_cmd->add_flag("--watch,-w", list_watch,
                     "then print each change as it happens (TIME SERVER STATUS MESSAGE) until "
                     "Ctrl-C; with --json, the list and then each change as one JSON line");
  std::string name;
  auto* show_cmd = app.add_subcommand("show", "Show one server's details");
  show_cmd->add_option("name", name, "the server")->required();
  auto* images_cmd =
      app.add_subcommand("images", "List the registered images; import or delete one");
  ImageImportOptions image_import;
  std::string image_firmware, image_login, image_agent, image_os, image_user_data;
  auto* import_cmd = images_cmd->add_subcommand(
      "import", "Import a qcow2 or raw file from kumod's host (PATH is read by kumod)");
  import_cmd->add_option("name", image_import.name, "the image's name")->required();
  import_cmd->add_option("path", image_import.path, "absolute path on kumod's host")->required();
  auto* upload_cmd = images_cmd->add_subcommand(
      "upload", "Upload a qcow2 or raw file from this machine (streamed; progress on a terminal)");
  upload_cmd->add_option("name", image_import.name, "the image's name")->required();
  upload_cmd->add_option("file", image_import.path, "the disk image file here")->required();
  // The image's metadata, the same for import and upload (one of them runs).
  struct ImageMetaOptions {
    CLI::Option *firmware, *login, *agent, *os, *user_data;
  };
  auto add_image_meta = [&](CLI::App* cmd) {
    return ImageMetaOptions{
        cmd->add_option("--firmware", image_firmware, "bios (default) or uefi")
            ->check(CLI::IsMember({"bios", "uefi"})),
        cmd->add_option("--login-user", image_login, "default root"),
        cmd->add_option("--agent-kind", image_agent, "kumo-agent (default), qemu-ga or none")
            ->check(CLI::IsMember({"kumo-agent", "qemu-ga", "none"})),
        cmd->add_option("--os", image_os, "free text, e.g. \"Debian 12\""),
        cmd->add_option("--user-data-support", image_user_data,
                        "what applies user data in the image: cloud-init, kumo or none (default: "
                        "kumo with kumo-agent, else cloud-init)")
            ->check(CLI::IsMember({"kumo", "cloud-init", "none"}))};
  };
  const ImageMetaOptions import_meta = add_image_meta(import_cmd);
  const ImageMetaOptions upload_meta = add_image_meta(upload_cmd);
  std::string image_to_delete;
  auto* image_delete_cmd = images_cmd->add_subcommand("delete", "Delete an image no server uses");
  image_delete_cmd->add_option("name", image_to_delete, "the image")->required();
  auto* diagnose_cmd = app.add_subcommand("diagnose",
                                          "Say why a server is in trouble: findings with evidence "
                                          "and the ways out, and every check made");
  diagnose_cmd->add_option("name", name, "the server")->required();

  bool stop_acpi = false;
  struct ActionCommand {
    const char* action;
    const char* help;
    const char* until;
    bool has_force;
    CLI::App* command = nullptr;
    bool force = false;
    WaitFlags wait;
  };
  ActionCommand actions[] = {
      {"start", "Start a stopped server", "running", false, nullptr, false, {}},
      {"stop",
       "Stop a server (graceful through its agent; --acpi: press its power button; --force: "
       "power off at once)",
       "stopped",
       true,
       nullptr,
       false,
       {}},
      {"reboot",
       "Reboot a server (graceful through its agent; --force: hard reset)",
       "running",
       true,
       nullptr,
       false,
       {}},
      {"rescue",
       "Restart a server (forced if it runs) into rescue mode: a root shell on the serial "
       "console, no password",
       "running",
       false,
       nullptr,
       false,
       {}},
      {"unrescue",
       "Restart a server in rescue mode into a normal boot",
       "running",
       false,
       nullptr,
       false,
       {}},
  };
  for (auto& a : actions) {
    a.command = app.add_subcommand(a.action, a.help);
    a.command->add_option("name", name, "the server")->required();
    if (a.has_force) {
      auto* force = a.command->add_flag("--force", a.force,
                                        "do not ask the guest: works even when its agent is down");
      if (std::string(a.action) == "stop") {
        a.command
            ->add_flag("--acpi", stop_acpi,
                       "press the ACPI power button instead of asking the agent: the guest's OS "
                       "shuts down if it handles the button, agent or not")
            ->excludes(force);
      }
    }
    AddWaitFlags(a.command, &a.wait, a.until);
  }

  bool delete_force = false;
  WaitFlags delete_wait;
  auto* delete_cmd = app.add_subcommand("delete", "Delete a server and its disk");
  delete_cmd->add_option("name", name, "the server")->required();
  delete_cmd->add_flag("--force", delete_force, "delete even if it is running or busy");
  AddWaitFlags(delete_cmd, &delete_wait, "gone");

  EventsOptions events;
  int events_limit = 0;
  auto* events_cmd = app.add_subcommand(
      "events",
      "Show a server's event timeline, the newest 100 by default: TIME STATUS KIND MESSAGE");
  events_cmd->add_option("name", events.name, "the server")->required();
  auto* after_opt =
      events_cmd->add_option("--after", events.after, "the events after this id (paging forward)")
          ->check(CLI::NonNegativeNumber);
  events_cmd->add_option("--before", events.before, "the events before this id (paging back)")
      ->check(CLI::PositiveNumber)
      ->excludes(after_opt);
  auto* limit_opt =
      events_cmd->add_option("--limit", events_limit, "at most this many (1-1000, default 100)")
          ->check(CLI::Range(1, 1000));
  events_cmd->add_flag("--follow,-f", events.follow,
                       "then keep printing new events as they happen, until the server is "
                       "deleted or Ctrl-C; with --json, one event object per line");

  std::string wait_status;
  double wait_timeout_s = 300;
  auto* wait_cmd = app.add_subcommand(
      "wait", "Wait until a server has a status (for scripts; polls every 200 ms)");
  wait_cmd->add_option("name", name, "the server")->required();
  wait_cmd->add_option("--status", wait_status, "pending, running, warning, stopped or error")
      ->required()
      ->check(CLI::IsMember({"pending", "running", "warning", "stopped", "error"}));
  wait_cmd->add_option("--timeout", wait_timeout_s, "seconds to wait (default 300; exit 6 after)")
      ->check(CLI::Range(0.0, 1e6));

  std::string password_user = "root";
  auto* password_cmd = app.add_subcommand(
      "set-password",
      "Set a user's password in the guest through its agent (asked on the terminal, or one "
      "line from standard input)");
  password_cmd->add_option("name", name, "the server")->required();
  password_cmd->add_option("--user", password_user, "the user (default root)");

  auto* exec_cmd = app.add_subcommand(
      "exec", "Run a program in a server's guest through its agent; exits with its exit code");
  std::vector<std::string> exec_argv;
  int exec_timeout_s = 20;
  exec_cmd->add_option("name", name, "the server")->required();
  exec_cmd
      ->add_option("--timeout", exec_timeout_s,
                   "seconds the program may run before it is killed (default 20, at most 600)")
      ->check(CLI::Range(1, 600));
  exec_cmd->add_option("command", exec_argv, "the program and its arguments (after --)")
      ->required();

  auto* console_cmd = app.add_subcommand(
      "console",
      "Attach to a server's serial console (like virsh console); Ctrl-] detaches. Works while "
      "network, SSH and the agent are down");
  console_cmd->add_option("name", name, "the server")->required();
  int console_replay = 0;
  console_cmd
      ->add_option("--tail", console_replay,
                   "first show the last N lines the console printed (default 0: only new output)")
      ->check(CLI::Range(0, 10000));

  int console_tail = 0;
  auto* console_log_cmd = app.add_subcommand(
      "console-log", "Print the console scrollback kumod keeps on disk (boot log and all)");
  console_log_cmd->add_option("name", name, "the server")->required();
  console_log_cmd->add_option("--tail", console_tail, "only the last N lines (default: all)")
      ->check(CLI::Range(0, 1000000));

  auto* agent = app.add_subcommand(
      "agent", "Send one QGA command to a guest agent socket and print its reply");
  std::string socket, command, arguments;
  double wait_seconds = 10;
  bool raw = false;
  agent->add_option("--socket", socket, "the agent channel's unix socket")->required();
  agent->add_option("--wait", wait_seconds, "seconds to wait for the agent to answer")
      ->check(CLI::Range(0.1, 3600.0));
  agent->add_flag("--json", raw, "print the reply as one line of JSON");
  agent->add_option("command", command, "e.g. guest-ping, guest-get-osinfo, kumo-health")
      ->required();
  agent->add_option("arguments", arguments, "the command's arguments as a JSON object");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (agent->parsed()) return RunAgentCommand(socket, command, arguments, wait_seconds, raw);

  auto url = ParseApiUrl(url_text);
  if (!url.ok()) return PrintError(url.error(), false, std::cout, std::cerr);
  std::string token = token_flag;
  std::string token_source = "--token / KUMO_TOKEN";
  if (token.empty()) {
    token_source = state_dir + "/token";
    auto read = ReadTokenFile(token_source);
    if (!read.ok()) return PrintError(read.error(), false, std::cout, std::cerr);
    token = *read;
  }
  // An import answers once the image is copied: give it time.
  ApiClient api(*url, token, token_source,
                import_cmd->parsed() ? std::chrono::milliseconds(std::chrono::hours(2))
                                     : std::chrono::milliseconds(std::chrono::seconds(30)));
  Context ctx{api, json_mode, std::cout, std::cerr};

  if (create_cmd->parsed()) {
    if (image_opt->count()) create.image = image;
    if (vcpus_opt->count()) create.vcpus = vcpus;
    if (memory_opt->count()) create.memory_mib = memory;
    if (disk_opt->count()) create.disk_gib = disk;
    if (key_opt->count()) create.ssh_key_file = ssh_key_file;
    if (user_data_opt->count()) create.user_data_file = user_data_file;
    create.wait = create_wait.Get();
    return CreateServer(ctx, create);
  }
  if (list_cmd->parsed()) return list_watch ? WatchServers(ctx) : ListServers(ctx);
  if (show_cmd->parsed()) return ShowServer(ctx, name);
  if (import_cmd->parsed() || upload_cmd->parsed()) {
    const ImageMetaOptions& meta = import_cmd->parsed() ? import_meta : upload_meta;
    if (meta.firmware->count()) image_import.firmware = image_firmware;
    if (meta.login->count()) image_import.login_user = image_login;
    if (meta.agent->count()) image_import.agent_kind = image_agent;
    if (meta.os->count()) image_import.os = image_os;
    if (meta.user_data->count()) image_import.user_data_support = image_user_data;
    return import_cmd->parsed() ? ImportImage(ctx, image_import) : UploadImage(ctx, image_import);
  }
  if (image_delete_cmd->parsed()) return DeleteImage(ctx, image_to_delete);
  if (images_cmd->parsed()) return ListImages(ctx);
  if (diagnose_cmd->parsed()) return Diagnose(ctx, name);
  for (const auto& a : actions) {
    if (!a.command->parsed()) continue;
    if (stop_acpi) return PressPowerButton(ctx, name, a.wait.Get());
    return ServerAction(ctx, name, a.action, a.force, a.wait.Get());
  }
  if (delete_cmd->parsed()) return DeleteServer(ctx, name, delete_force, delete_wait.Get());
  if (events_cmd->parsed()) {
    if (limit_opt->count()) events.limit = events_limit;
    return ShowEvents(ctx, events);
  }
  if (password_cmd->parsed()) return SetPassword(ctx, name, password_user);
  if (exec_cmd->parsed()) return ExecInGuest(ctx, name, exec_argv, exec_timeout_s);
  if (console_cmd->parsed()) {
    ConsoleOptions options;
    options.token_source = token_source;
    options.tail_lines = console_replay;
    return AttachConsole(*url, token, name, options);
  }
  if (console_log_cmd->parsed()) return ShowConsoleLog(ctx, name, console_tail);
  if (wait_cmd->parsed()) return WaitForStatus(ctx, name, wait_status, Millis(wait_timeout_s));
  return kExitUsage;
}
