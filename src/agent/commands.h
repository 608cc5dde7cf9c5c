// The commands kumo-agent answers: QGA's standard set with their argument and
// reply shapes, plus kumo's own (kumo- prefix).
#pragma once

#include <string>
#include <vector>

#include "agent/exec_manager.h"
#include "agent/guest_files.h"
#include "agent/init_sources.h"
#include "agent/oom_watch.h"
#include "agent/qga_dispatcher.h"

namespace kumo::agent {

inline constexpr char kAgentVersion[] = "0.1.0";

struct AgentSettings {
  bool allow_exec = false;
  bool allow_shutdown = true;
  bool allow_set_password = true;
  // guest-set-time and guest-fsfreeze-freeze(-list) change the whole system:
  // off when the agent serves a host socket (tests), so they never touch the host.
  bool allow_system_changes = true;
  // guest-shutdown runs `power_command MODE` (MODE: powerdown|reboot|halt);
  // when empty it runs poweroff, reboot or halt.
  std::vector<std::string> power_command;
  // guest-set-user-password feeds "user:password" to this chpasswd(8)-like
  // program (with -e when the password is crypted).
  std::string passwd_command = "chpasswd";
  // Where kumo-init or cloud-init record their results (kumo-init-status
  // reads them).
  InitSources init_sources;
  // What system the agent runs in, reported by guest-info as "kumo-role":
  // "normal", or "rescue" when it serves kumo's rescue system (or the kumo
  // image booted with kumo.rescue). kumod reports rescue mode only on
  // "rescue".
  std::string role = "normal";
  // Where kumo-health reads the system's figures. kumod's fake driver gives
  // its host agents a small stand-in: the host's /proc lists every fake
  // server's agent, and each poll would read all their names.
  std::string proc_root = "/proc";
};

// Everything the commands act on, owned by the agent loop.
struct AgentServices {
  ExecManager& exec;
  const OomWatch& oom;
  GuestFiles& files;
};

// guest-file-open/-read/-write/-seek/-flush/-close (file_commands.cc).
void RegisterFileCommands(QgaDispatcher& dispatcher, GuestFiles& files);

// guest-fsfreeze-*, guest-fstrim, guest-get-fsinfo, guest-get-disks (fs_commands.cc).
void RegisterFsCommands(QgaDispatcher& dispatcher);

void RegisterCommands(QgaDispatcher& dispatcher, const AgentSettings& settings,
                      AgentServices services);

}  // namespace kumo::agent
