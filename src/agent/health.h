// The kumo-health snapshot: what the host needs to tell "the guest is
// overloaded" from "the guest is fine but sshd died" — uptime, load, memory,
// pressure stall (PSI), processes, root filesystem, sshd, recent OOM kills.
// Parsing is kept in pure functions over the /proc texts, tested on their own.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "agent/oom_watch.h"

namespace kumo::agent {

using json = nlohmann::json;

// /proc/loadavg → {"1m","5m","15m"} plus "running"/"total" tasks.
std::optional<json> ParseLoadavg(std::string_view text);
// /proc/meminfo → {"total_kib","available_kib"}.
std::optional<json> ParseMeminfo(std::string_view text);
// /proc/pressure/{cpu,memory,io} → {"some":{"avg10","avg60","avg300"},"full":{…}}.
std::optional<json> ParsePressure(std::string_view text);
// /proc/uptime → seconds since boot.
std::optional<double> ParseUptime(std::string_view text);

// Reads everything from the running system: its figures from `proc_root`
// (the kernel's /proc, or a stand-in holding the same files), its root
// filesystem from /. `kills` comes from OomWatch.
json CollectHealth(const std::deque<OomKill>& kills, const std::string& proc_root = "/proc");

}  // namespace kumo::agent
