// kumo-init-status on a stock cloud image: what cloud-init did with the
// server's user data this boot, in the reply shape of init_status.h, so kumod
// reads an image with cloud-init (and kumo-agent in place of qemu-ga) as it
// reads the kumo image.
//
// cloud-init (22.4, Debian 12's) records each stage it runs in
// RUN_DIR/status.json: {"v1": {"datasource", "stage": running stage | null,
// "init-local": {"start", "finished", "errors": [..]}, "init": …,
// "modules-config": …, "modules-final": …}} with times as float seconds or
// null; after modules-final it writes RUN_DIR/result.json. Both are links
// into /var/lib/cloud/data. Each stage that started becomes one step,
// "cloud-init STAGE", exit code 1 if it recorded errors (its output: the
// errors, one a line), else 0.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "agent/init_status.h"

namespace kumo::agent {

struct CloudInitPaths {
  std::string run_dir = "/run/cloud-init";       // status.json, result.json (this boot's)
  std::string data_dir = "/var/lib/cloud/data";  // instance-id, previous-instance-id
  std::string boot_id_file = "/proc/sys/kernel/random/boot_id";
};

// What the agent read besides status.json; absent files are nullopt.
struct CloudInitFacts {
  std::optional<std::string> result_json;  // RUN_DIR/result.json: cloud-init has finished
  std::optional<std::string> instance_id;
  std::optional<std::string> previous_instance_id;
  std::string boot_id;
};

// Pure: status.json's text and the facts → the reply (see init_status.h),
// within `limit` bytes serialized. Returns false with *err naming the problem
// when status.json or result.json is malformed.
bool ComposeCloudInitStatus(std::string_view status_json, const CloudInitFacts& facts, size_t limit,
                            json* out, std::string* err);

// Pure: the reply between the start of the boot and cloud-init's first
// stage (its systemd generator has enabled it: RUN_DIR/enabled): nothing ran
// yet, not finished, "started" 0.
json ComposeCloudInitNotStarted(const CloudInitFacts& facts);

// Whether cloud-init runs this boot: its generator enabled it, or a stage
// has recorded its status. kumo-agent may answer before cloud-init's first
// stage; the enabled file keeps kumod polling instead of concluding the
// image has no cloud-init.
bool CloudInitRunsThisBoot(const CloudInitPaths& paths);

// Reads the files (each at most 1 MiB) and composes the reply.
// Returns false with *err when cloud-init does not run this boot, or when
// status.json is too large or malformed.
bool ReadCloudInitStatus(const CloudInitPaths& paths, json* out, std::string* err);

}  // namespace kumo::agent
