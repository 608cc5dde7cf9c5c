// RenderedServers: every server's JSON (ServerJson, as GET /v1/servers/NAME
// shows it) kept as text, rendered once after each change instead of once
// per request: GET /v1/servers at a thousand servers then copies text rather
// than building a thousand JSON objects on the event loop. It hears the
// ledger's change feed, which drops a changed or deleted server's text; a
// record whose store version moved without a change being published (a
// write that lost a race, a change written once space came back) is caught
// by its version. The next list renders what was dropped.
//
// Runs on kumod's event loop; not thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/server_ledger.h"

namespace kumo::api {

class RenderedServers {
 public:
  explicit RenderedServers(core::ServerLedger& ledger);
  RenderedServers(const RenderedServers&) = delete;
  RenderedServers& operator=(const RenderedServers&) = delete;

  // Visits every server, ordered by name, with its JSON object as text.
  void ForEach(const std::function<void(const ServerRecord&, std::string_view json)>& visit);

  // How many servers' texts are kept (for tests).
  size_t kept() const { return texts_.size(); }

 private:
  struct Text {
    int64_t version = 0;
    std::string json;
  };

  core::ServerLedger& ledger_;
  std::unordered_map<std::string, Text> texts_;
  core::ServerLedger::Subscription subscription_;
};

}  // namespace kumo::api
