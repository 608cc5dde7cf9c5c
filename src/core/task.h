// A server's task (one at a time: creating, starting, stopping, ...) as the
// facts record it: when it began, when it counts as stuck, whether forced.
#pragma once

#include <chrono>

#include "model/records.h"

namespace kumo::core {

inline void BeginTask(ServerRecord& r, Task task, std::chrono::milliseconds timeout, int64_t now_ms,
                      bool force = false) {
  r.task = task;
  r.task_force = force;
  r.task_started_ms = task == Task::kNone ? 0 : now_ms;
  r.task_deadline_ms = task == Task::kNone ? 0 : now_ms + timeout.count();
}

inline void EndTask(ServerRecord& r) { BeginTask(r, Task::kNone, {}, 0); }

// The tasks that end when the guest's agent first answers.
inline bool IsBootTask(Task t) {
  return t == Task::kCreating || t == Task::kStarting || t == Task::kRescuing;
}

}  // namespace kumo::core
