// What qemu-img says of a disk image kumo is asked to take in, and whether
// kumo accepts it: qcow2 or raw, a known virtual size within bounds, and
// neither a backing file nor an external data file (either would make QEMU
// read a file outside kumo's image store).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "hypervisor/spawn.h"

namespace kumo::hypervisor {

struct DiskImageInfo {
  std::string format;  // "qcow2" | "raw"
  int64_t virtual_size_bytes = 0;
};

// The largest image kumo takes in (file and virtual size): 4 TiB, the
// largest disk a server may have.
inline constexpr int64_t kMaxImageBytes = int64_t{4096} << 30;
// A raw image is a whole number of sectors and at least this large (a text
// file probes as raw too).
inline constexpr int64_t kMinRawImageBytes = int64_t{1} << 20;

// Pure: the verdict on `qemu-img info --output=json` output. Errors:
// InvalidArgument with field "path", naming what is wrong.
Result<DiskImageInfo> CheckImageInfo(const std::string& info_json);

// Runs `qemu-img info --output=json PATH` (as `run_as` when set) and checks
// its answer with CheckImageInfo. Blocks the calling thread for at most
// `timeout` (then qemu-img is killed). Errors: InvalidArgument (not an image
// kumo takes), HypervisorError (qemu-img could not be run).
Result<DiskImageInfo> InspectDiskImage(const std::string& qemu_img, const std::string& path,
                                       const std::optional<RunAs>& run_as,
                                       std::chrono::seconds timeout = std::chrono::seconds(60));

// "2.0 GiB"
std::string DescribeBytes(int64_t bytes);

}  // namespace kumo::hypervisor
