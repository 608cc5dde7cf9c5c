// kumo-init-status: what kumo-init (the kumo image's user-data runner,
// guest/rootfs/sbin/kumo-init) recorded this boot — each step's exit status,
// times and the tail of its output — so the host can put "init script exited
// 3" in a server's timeline without SSH. kumo-init writes STATE_DIR/result.json
// (names and numbers only) and STATE_DIR/output/STEP.log (raw output); this
// joins them into one bounded reply.
#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace kumo::agent {

using json = nlohmann::json;

inline constexpr char kInitStateDir[] = "/var/lib/kumo/init";
inline constexpr size_t kInitStatusMaxBytes = 64 * 1024;  // the whole reply, serialized
inline constexpr size_t kInitOutputTailBytes = 4096;      // per step, at most

// The last `max_bytes` of a step's output ("" if it has none); sets
// *truncated when there was more.
using OutputTailReader =
    std::function<std::string(const std::string& step, size_t max_bytes, bool* truncated)>;

// Pure: result.json's text and the output reader → the reply:
//   {"instance_id": "i-1" | null, "seed": bool, "boot_id": "...",
//    "first_boot": bool, "finished": bool, "started": T, "ended": T | null,
//    "running": {"step", "started", "output", "output_truncated"} | null,
//    "ran": [{"step", "exit_code", "started", "ended", "output", "output_truncated"}],
//    "steps_omitted": N}
// (times in seconds since the epoch). Serialized it stays within `limit`
// bytes: output tails shrink first, then the oldest successful steps are left
// out (counted in steps_omitted).
// Returns false with *err naming the problem when result.json is malformed.
bool ComposeInitStatus(std::string_view result_json, const OutputTailReader& read_tail,
                       size_t limit, json* out, std::string* err);

// The reply of ComposeInitStatus from a record already in result.json's
// shape (checked, or built by the agent itself: cloud_init_status.h), bounded
// the same way.
json ComposeInitReply(const json& record, const OutputTailReader& read_tail, size_t limit);

// Reads STATE_DIR/result.json and STATE_DIR/output/STEP.log.
// Returns false with *err when result.json is missing, too large or malformed.
bool ReadInitStatus(const std::string& state_dir, json* out, std::string* err);

// Whether ReadFileTail opens a symbolic link's target. Files a guest user may
// place are read without following; cloud-init's /run/cloud-init/*.json are
// links by design (into /var/lib/cloud/data), in directories only root writes.
enum class Symlinks { kRefuse, kFollow };

// The last `max_bytes` of the regular file at `path`; nullopt (errno set) if
// it cannot be read.
std::optional<std::string> ReadFileTail(const std::string& path, size_t max_bytes, bool* truncated,
                                        Symlinks symlinks = Symlinks::kRefuse);

}  // namespace kumo::agent
