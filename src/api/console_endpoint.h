// The console endpoint: joins one client's WebSocketChannel to a server's
// ConsoleBroker for as long as both last. The guest's output goes to the
// client as it arrives; every message from the client is input for the
// guest. When the server stops (the broker stops) the channel is closed
// normally with a reason; when the client goes, its subscription ends.
#pragma once

#include <memory>

#include "api/websocket_channel.h"
#include "console/console_broker.h"

namespace kumo::api {

// REQUIRES: `broker` is running (not stopped).
void JoinConsole(std::shared_ptr<console::ConsoleBroker> broker,
                 std::shared_ptr<WebSocketChannel> channel);

}  // namespace kumo::api
