// kumo-agent: the guest agent. Speaks the qemu-guest-agent protocol on the
// virtio-serial port org.qemu.guest_agent.0, or on a host unix socket for
// tests and benchmarks. See docs/agent.md.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "agent/agent_loop.h"

namespace {

constexpr char kUsage[] =
    "usage: kumo-agent [options]\n"
    "  --device PATH          virtio-serial port (default: the port named\n"
    "                         org.qemu.guest_agent.0, found by name)\n"
    "  --listen unix:PATH     serve on a unix socket instead (tests, benchmarks);\n"
    "                         guest-shutdown and guest-set-user-password are then off\n"
    "                         unless --power-command / --passwd-command are given;\n"
    "                         guest-set-time and guest-fsfreeze-freeze(-list) are off\n"
    "  --allow-exec           enable guest-exec and guest-exec-status\n"
    "  --power-command PATH   guest-shutdown runs PATH powerdown|reboot|halt\n"
    "                         (default: poweroff, reboot or halt)\n"
    "  --passwd-command PATH  chpasswd(8)-compatible program (default: chpasswd)\n"
    "  --role normal|rescue   what guest-info reports as kumo-role (default normal);\n"
    "                         rescue: this is a rescue boot (kumo rescue)\n"
    "  --proc DIR             kumo-health reads DIR instead of /proc (kumod's fake\n"
    "                         driver gives its host agents a small stand-in)\n"
    "  --version\n";

// Keeps the agent alive when the guest runs out of memory: the OOM killer
// must pick something else, and the agent's pages must not be swapped out.
// MCL_ONFAULT locks pages as they are touched, so RSS stays what is used.
void ProtectFromMemoryPressure() {
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)!write(fd, "-1000", 5);
    close(fd);
  }
  mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT);
}

}  // namespace

int main(int argc, char** argv) {
  kumo::agent::AgentSettings settings;
  kumo::agent::ChannelSpec channel;
  bool power_command_given = false;
  bool passwd_command_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "kumo-agent: %s needs a value\n%s", arg.c_str(), kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--device") {
      channel = {kumo::agent::ChannelSpec::Kind::kVirtioPort, value()};
    } else if (arg == "--listen") {
      std::string spec = value();
      if (spec.rfind("unix:", 0) != 0 || spec.size() == 5) {
        std::fprintf(stderr, "kumo-agent: --listen takes unix:PATH, got '%s'\n", spec.c_str());
        return 2;
      }
      channel = {kumo::agent::ChannelSpec::Kind::kUnixListen, spec.substr(5)};
    } else if (arg == "--allow-exec") {
      settings.allow_exec = true;
    } else if (arg == "--power-command") {
      settings.power_command = {value()};
      power_command_given = true;
    } else if (arg == "--passwd-command") {
      settings.passwd_command = value();
      passwd_command_given = true;
    } else if (arg == "--role") {
      settings.role = value();
      if (settings.role != "normal" && settings.role != "rescue") {
        std::fprintf(stderr, "kumo-agent: --role takes normal or rescue, got '%s'\n",
                     settings.role.c_str());
        return 2;
      }
    } else if (arg == "--proc") {
      settings.proc_root = value();
    } else if (arg == "--version") {
      std::printf("kumo-agent %s\n", kumo::agent::kAgentVersion);
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "kumo-agent: unknown option '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  // On a host socket, a guest-shutdown must never power off the host, and a
  // guest-set-user-password must never change the host's passwords.
  const bool in_guest = channel.kind == kumo::agent::ChannelSpec::Kind::kVirtioPort;
  settings.allow_shutdown = in_guest || power_command_given;
  settings.allow_set_password = in_guest || passwd_command_given;
  settings.allow_system_changes = in_guest;

  ProtectFromMemoryPressure();
  kumo::agent::AgentLoop loop(std::move(settings), std::move(channel));
  return loop.Run();
}
