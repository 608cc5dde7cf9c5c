#include "cli/watch.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <thread>
#include <vector>

#include "cli/sse_parser.h"
#include "cli/table.h"

namespace kumo::cli {
namespace {

using Clock = std::chrono::steady_clock;

std::optional<int64_t> ParseId(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  int64_t id = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), id);
  if (ec != std::errc() || end != text->data() + text->size() || id < 0) return std::nullopt;
  return id;
}

std::string Target(const WatchPlan& plan, bool first) {
  std::string query;
  if (!plan.server.empty()) query += "server=" + EncodePathSegment(plan.server);
  if (first && plan.after)
    query += (query.empty() ? "" : "&") + ("after=" + std::to_string(*plan.after));
  return "/v1/watch" + (query.empty() ? "" : "?" + query);
}

void Note(const WatchPlan& plan, const std::string& text) {
  if (plan.notes) *plan.notes << "kumo: " << Printable(text) << "\n" << std::flush;
}

}  // namespace

Outcome<int64_t> FollowWatch(const ApiClient& api, const WatchPlan& plan) {
  std::optional<int64_t> last = plan.after;  // the highest event id seen
  std::chrono::milliseconds retry(1000);
  auto last_heard = Clock::now();
  for (bool first = true;; first = false) {
    HttpHeaders headers;
    if (!first && last) headers.emplace_back("Last-Event-ID", std::to_string(*last));
    SseParser parser;
    bool stop = false;
    std::optional<std::string> dropped;
    auto on_open = [&] {
      last_heard = Clock::now();
      if (first && plan.on_open && !plan.on_open()) stop = true;
      return !stop;
    };
    auto on_chunk = [&](std::string_view chunk) {
      last_heard = Clock::now();
      std::vector<SseMessage> messages;
      bool usable = parser.Feed(chunk, &messages);
      for (const auto& m : messages) {
        if (m.event == "dropped") {
          json why = json::parse(m.data, nullptr, false);
          dropped = why.is_object() ? why.value("reason", "") : "";
          return false;  // kumod closes it anyway
        }
        if (m.event != "server") continue;
        WatchChange change{ParseId(m.id), json::parse(m.data, nullptr, false)};
        if (!change.data.is_object()) continue;
        if (change.id) {
          if (last && *change.id <= *last) continue;  // replayed twice: shown already
          last = change.id;
        }
        if (!plan.on_change(change)) {
          stop = true;
          return false;
        }
      }
      return usable;
    };
    auto streamed = api.Stream(Target(plan, first), headers, on_open, on_chunk, plan.idle_limit);
    if (stop) return last.value_or(0);
    if (!parser.error().empty()) {
      return CliError{kExitApiError, "kumod's watch stream broke its bounds: " + parser.error(),
                      "is --url (KUMO_URL) pointing at kumod?"};
    }
    if (!streamed.ok()) {
      const CliError& error = streamed.error();
      if (first || error.exit_code != kExitUnreachable ||
          Clock::now() - last_heard > plan.give_up_after) {
        return error;
      }
      Note(plan, error.message + "; retrying");
    } else if (dropped) {
      Note(plan, "kumod dropped the watch (" + (dropped->empty() ? "no reason" : *dropped) +
                     "); reconnecting");
    } else if (streamed->end == StreamEnd::kLost) {
      Note(plan, "lost the watch stream (" + streamed->why + "); reconnecting");
    } else {
      Note(plan, "kumod closed the watch stream; reconnecting");
    }
    if (parser.retry_ms()) {
      retry = std::chrono::milliseconds(std::min<long long>(*parser.retry_ms(), 1'000'000'000));
    }
    std::this_thread::sleep_for(std::clamp(retry, plan.min_retry, plan.max_retry));
  }
}

std::string NowUtc() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof(text) - n, ".%03dZ", static_cast<int>(ms % 1000));
  return text;
}

}  // namespace kumo::cli
