#include "cli/waiting.h"

#include <thread>

#include "cli/server_view.h"
#include "cli/table.h"

namespace kumo::cli {

using Clock = std::chrono::steady_clock;

Progress JudgeAfterAction(const json& server, const std::string& want) {
  std::string status = FieldText(server, "status");
  std::string task = FieldText(server, "task");
  bool idle = task == "none" || task == "-";
  if (status == want && idle) return Progress::kReached;
  if (status == want) return Progress::kWaiting;
  if (status == "error" || status == "warning") return Progress::kFailed;
  // The action's reply showed its task under way: with no task left, the
  // action has ended short of `want` (e.g. the guest refused to shut down).
  // Pending with no task is a guest booting towards running.
  if (task == "none" && (status == "running" || status == "stopped")) return Progress::kFailed;
  return Progress::kWaiting;
}

Progress JudgeStatus(const json& server, const std::string& want) {
  return FieldText(server, "status") == want ? Progress::kReached : Progress::kWaiting;
}

Outcome<ApiReply> WaitForServer(const ApiClient& api, const WaitPlan& plan) {
  const auto deadline = Clock::now() + plan.timeout;
  const std::string target = "/v1/servers/" + EncodePathSegment(plan.name);
  std::string last_line = plan.last_line;
  std::string now = "its status is unknown";
  while (true) {
    auto reply = api.Call("GET", target);
    if (!reply.ok()) {
      if (reply.error().exit_code != kExitNotFound) return reply.error();
      if (plan.want_gone) return ApiReply{404, "", json()};
      CliError gone = reply.error();
      gone.message = "server " + plan.name + " is gone (" + gone.message + ")";
      gone.hint = "it was deleted while waiting; list servers: kumo list";
      return gone;
    }
    const json& server = reply->body;
    std::string line = StatusLine(server);
    if (line != last_line) {
      last_line = line;
      if (plan.on_change) plan.on_change(server);
    }
    now = "now " + line;
    if (!plan.want_gone) {
      Progress p = plan.judge(server);
      if (p == Progress::kReached) return reply;
      if (p == Progress::kFailed) {
        std::string status = FieldText(server, "status");
        return CliError{
            kExitApiError,
            "server " + plan.name + " is " + StatusText(status) + " instead of " + plan.goal +
                ": " + FieldText(server, "status_reason"),
            "see what happened: kumo events " + plan.name +
                (status == "warning" ? "; a force stop always works: kumo stop --force " + plan.name
                                     : ""),
            reply->raw};
      }
    }
    auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) {
      return CliError{
          kExitTimeout,
          "timed out after " + FormatSeconds(plan.timeout) + " s waiting for " + plan.name +
              " to be " + plan.goal + " (" + now + ")",
          "wait longer with --timeout, or see what is going on: kumo events " + plan.name};
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(left, plan.interval));
  }
}

}  // namespace kumo::cli
