// guest-get-vcpus from /sys/devices/system/cpu, as qemu-ga 7.2 reports it:
// for each cpuN, logical-id N, online (its "online" file, or true when the
// CPU has none) and can-offline (whether it has an "online" file), listed
// from the highest id down like qemu-ga.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace kumo::agent {

nlohmann::json Vcpus(const std::string& cpu_dir = "/sys/devices/system/cpu");

}  // namespace kumo::agent
