#include "api/rendered_servers.h"

#include "api/router.h"

namespace kumo::api {

RenderedServers::RenderedServers(core::ServerLedger& ledger) : ledger_(ledger) {
  subscription_ = ledger_.Subscribe(
      [this](const core::ServerChange& change) { texts_.erase(change.server.name); });
}

void RenderedServers::ForEach(
    const std::function<void(const ServerRecord&, std::string_view json)>& visit) {
  ledger_.ForEach([&](const ServerRecord& r) {
    auto [it, fresh] = texts_.try_emplace(r.name);
    Text& text = it->second;
    if (fresh || text.version != r.version) {
      text.version = r.version;
      text.json = ServerJson(r).dump(-1, ' ', false, json::error_handler_t::replace);
    }
    visit(r, text.json);
  });
}

}  // namespace kumo::api
