// kumo: the command-line client. For now it talks to a guest agent socket
// directly (`kumo agent`), like `virsh qemu-agent-command`; the server
// commands (create, list, stop, ...) arrive with kumod's REST API.
#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>

#include "guestlink/qga_client.h"

namespace {

using kumo::guestlink::json;
using kumo::guestlink::QgaClient;
using Clock = std::chrono::steady_clock;

// Exit codes scripts can rely on.
constexpr int kExitOk = 0;
constexpr int kExitCommandFailed = 1;  // the agent answered with an error
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;  // no answer from the agent

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
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(wait_seconds * 1000));
  QgaClient client;
  std::string err;
  if (!client.Connect(socket, deadline, &err)) {
    std::cerr << "error: " << err << "\n"
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kumo: control QEMU virtual servers"};
  app.require_subcommand(1);

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
  return kExitUsage;
}
