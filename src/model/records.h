// The records kumo keeps: a server (its spec, its facts and the status derived
// from them), the events of its timeline, and the images servers boot from.
// The store keeps them (store/store.h); the core changes servers through its
// ledger (core/server_ledger.h); the API shows them.
#pragma once

#include <cstdint>
#include <string>

#include "model/server_state.h"

namespace kumo {

struct ServerRecord {
  std::string name;  // unique
  // spec
  std::string image;
  int vcpus = 1;
  int memory_mib = 256;
  int disk_gib = 1;
  std::string ssh_key;
  std::string user_data;
  // facts and derived status
  Power power = Power::kOff;
  AgentState agent = AgentState::kUnknown;
  Task task = Task::kNone;
  int64_t task_started_ms = 0;             // when the task began (0: no task)
  int64_t task_deadline_ms = 0;            // when it counts as stuck
  bool task_force = false;                 // the task is forced (force stop, hard reset)
  BootMode boot_mode = BootMode::kNormal;  // rescue: single-user, root shell on the console
  int ssh_port = 0;                        // host port forwarded to the guest's :22 (0: none)
  ServerStatus status = ServerStatus::kStopped;
  std::string status_reason;       // why, in words, for people
  int64_t agent_last_seen_ms = 0;  // last answer from the guest agent
  int64_t qemu_pid = 0;            // 0 when no QEMU runs
  std::string run_dir;             // per-server sockets, pidfile, disk overlay
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  // Bumped by every write the store commits; a write based on an older
  // version is refused (codes::kConflict). 0: never stored.
  int64_t version = 0;
};

struct EventRecord {
  int64_t id = 0;  // assigned by the store, increasing across all servers
  std::string server;
  int64_t time_ms = 0;  // wall clock, milliseconds since the epoch
  std::string kind;     // e.g. "task", "agent", "qemu", "deleted"
  std::string status;   // the server's status after the event ("deleted" at the end)
  std::string message;  // the reason, for people
};

struct ImageRecord {
  std::string name;  // unique
  std::string kernel;
  std::string initrd;
  std::string disk;     // base qcow2
  std::string cmdline;  // kernel command line
  std::string kernel_release;
  int64_t registered_ms = 0;
  // What the image is, for the operator and for features that depend on it.
  std::string firmware = "bios";          // "bios" | "uefi"
  std::string login_user = "root";        // the user to log in as (console, SSH)
  std::string agent_kind = "kumo-agent";  // "kumo-agent" | "qemu-ga" | "none"
  std::string os;                         // free text, e.g. "Debian 12"
  // What applies user data in the guest: "kumo" (the kumo image's kumo-init,
  // a subset), "cloud-init" (all of it), "none". Decides the warnings.
  std::string user_data_support = "kumo";
  int64_t virtual_size_bytes = 0;  // the disk's size as the guest sees it (0: unknown)
  std::string format = "qcow2";    // of `disk`: "qcow2" | "raw"
  // Imported through the API: its files live in STATE_DIR/images/NAME and go
  // with it. Registered by --image-dir: its files are the operator's.
  bool imported = false;
};

}  // namespace kumo
