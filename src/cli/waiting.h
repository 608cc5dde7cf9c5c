// Waiting for a server to reach a state: the decisions (pure, table-tested)
// and the polling loop behind `--wait` and `kumo wait`.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "cli/api_client.h"

namespace kumo::cli {

enum class Progress { kWaiting, kReached, kFailed };

// After an action with --wait: reached when the server shows `want` with no
// task under way; failed when it shows error or warning instead (QEMU died, a
// start failed, the agent stopped answering, a task overran its deadline), or
// when its task ended elsewhere (a stop the guest refused: running again).
// REQUIRES: the action was accepted, so its task was under way before.
Progress JudgeAfterAction(const json& server, const std::string& want);

// `kumo wait --status`: reached when the status is `want`, whatever else.
Progress JudgeStatus(const json& server, const std::string& want);

struct WaitPlan {
  std::string name;
  std::string goal;                            // "running", "stopped", "gone": for messages
  bool want_gone = false;                      // delete: reached when the server no longer exists
  std::function<Progress(const json&)> judge;  // unused when want_gone
  std::chrono::milliseconds timeout{300000};
  std::chrono::milliseconds interval{200};
  // Called with each server whose StatusLine differs from the last one seen
  // (starting from `last_line`); may be empty.
  std::function<void(const json&)> on_change;
  std::string last_line;
};

// Polls GET /v1/servers/NAME every `interval` until the plan's goal. Returns
// the last reply (for want_gone, the 404 turned into an empty reply), or a
// CliError: exit 1 if the server failed, 4 if it is gone (unless wanted),
// 6 on timeout, or the API's own error.
Outcome<ApiReply> WaitForServer(const ApiClient& api, const WaitPlan& plan);

}  // namespace kumo::cli
