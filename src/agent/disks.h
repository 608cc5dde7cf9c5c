// guest-get-fsinfo and guest-get-disks from /sys, in qemu-ga 7.2's shape for
// virtio disks: each filesystem with its device name ("vda1", "dm-0"), type,
// used and total bytes (total as an unprivileged user sees it) and the disks
// beneath it (through partitions and device-mapper slaves), each disk with its
// PCI address, bus type "virtio", bus/target/unit 0, its /dev node and its
// serial when it has one. Disks that are not virtio report bus type
// "unknown"; devices not on PCI report no address (qemu-ga does the same).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/mounts.h"

namespace kumo::agent {

// {"domain", "bus", "slot", "function"} of the last PCI device in a sysfs
// path such as /sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda.
std::optional<nlohmann::json> PciAddress(std::string_view syspath);

// The address of the whole disk at `disk_syspath` (a /sys/devices/... path),
// or nullopt when it is not on PCI.
std::optional<nlohmann::json> DiskAddress(const std::string& disk_syspath);

nlohmann::json FilesystemInfo(const std::vector<Mount>& mounts);
nlohmann::json Disks();

}  // namespace kumo::agent
