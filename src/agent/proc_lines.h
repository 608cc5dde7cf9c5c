// Reads a /proc or /sys text file line by line through a 4 KiB buffer, so
// that a large file (mountinfo with thousands of mounts, /proc/stat on a big
// machine) never becomes one large allocation in the agent.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace kumo::agent {

// Calls `line` for each line (without its newline) of at most 8 KiB; longer
// lines are cut. Stops after `max_bytes`, or when `line` returns false.
// Returns false if the file cannot be opened.
bool ForEachLine(const char* path, size_t max_bytes,
                 const std::function<bool(std::string_view)>& line);

}  // namespace kumo::agent
