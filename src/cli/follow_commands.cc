// `kumo events NAME --follow` and `kumo list --watch`: what is there now,
// then the changes as kumod's watch stream (watch.h) reports them.
#include <algorithm>

#include "cli/commands.h"
#include "cli/server_view.h"
#include "cli/table.h"
#include "cli/watch.h"

namespace kumo::cli {
namespace {

int Fail(Context& ctx, const CliError& error) {
  return PrintError(error, ctx.json, ctx.out, ctx.err);
}

std::string JsonLine(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::optional<int64_t> EventId(const json& event) {
  if (!event.is_object()) return std::nullopt;
  auto it = event.find("id");
  if (it == event.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

}  // namespace

int FollowEvents(Context& ctx, const EventsOptions& options) {
  // The history first, 1000 at a time (or --limit), up to the newest event.
  int64_t after = options.after;
  const int page = options.limit.value_or(1000);
  if (!ctx.json) ctx.out << EventHeader();
  while (true) {
    std::string target = "/v1/servers/" + EncodePathSegment(options.name) +
                         "/events?after=" + std::to_string(after) +
                         "&limit=" + std::to_string(page);
    auto reply = ctx.api.Call("GET", target);
    if (!reply.ok()) return Fail(ctx, reply.error());
    const json& events = reply->body.is_object() && reply->body.contains("events") &&
                                 reply->body["events"].is_array()
                             ? reply->body["events"]
                             : json::array();
    for (const auto& e : events) {
      ctx.out << (ctx.json ? JsonLine(e) : EventLine(e));
      after = std::max(after, EventId(e).value_or(after));
    }
    ctx.out.flush();
    if (static_cast<int>(events.size()) < page) break;
  }

  // Then what comes after it, each event once, until the server is deleted.
  WatchPlan plan;
  plan.server = options.name;
  plan.after = after;
  plan.notes = &ctx.err;
  plan.on_change = [&](const WatchChange& change) {
    const json& event = change.data.contains("event") ? change.data["event"] : json();
    auto id = EventId(event);
    if (id && *id > after) {
      after = *id;
      ctx.out << (ctx.json ? JsonLine(event) : EventLine(event)) << std::flush;
    }
    const json& gone = change.data.contains("deleted") ? change.data["deleted"] : json();
    return !(gone.is_boolean() && gone.get<bool>());
  };
  auto followed = FollowWatch(ctx.api, plan);
  if (!followed.ok()) return Fail(ctx, followed.error());
  (ctx.json ? ctx.err : ctx.out) << Printable(options.name) << ": deleted\n" << std::flush;
  return kExitOk;
}

int WatchServers(Context& ctx) {
  // The table is fetched once the stream is open, so no change falls between
  // the two (one may show in both).
  std::optional<CliError> failed;
  WatchPlan plan;
  plan.notes = &ctx.err;
  plan.on_open = [&] {
    auto reply = ctx.api.Call("GET", "/v1/servers");
    if (!reply.ok()) {
      failed = reply.error();
      return false;
    }
    if (ctx.json) {
      ctx.out << JsonLine(reply->body);
    } else {
      ctx.out << ServerTable(reply->body) << "\n" << WatchHeader();
    }
    ctx.out.flush();
    return true;
  };
  plan.on_change = [&](const WatchChange& change) {
    ctx.out << (ctx.json ? JsonLine(change.data) : WatchLine(change.data, NowUtc())) << std::flush;
    return true;
  };
  auto watched = FollowWatch(ctx.api, plan);
  if (failed) return Fail(ctx, *failed);
  if (!watched.ok()) return Fail(ctx, watched.error());
  return kExitOk;
}

}  // namespace kumo::cli
