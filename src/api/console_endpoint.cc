#include "api/console_endpoint.h"

namespace kumo::api {

void JoinConsole(std::shared_ptr<console::ConsoleBroker> broker,
                 std::shared_ptr<WebSocketChannel> channel) {
  // The broker holds the channel weakly (the channel lives on its own I/O),
  // and the channel holds the broker weakly (kumod owns it): no cycle, and
  // neither keeps the other alive.
  std::weak_ptr<WebSocketChannel> weak_channel = channel;
  std::weak_ptr<console::ConsoleBroker> weak_broker = broker;
  auto id = broker->Subscribe(
      [weak_channel](std::string_view bytes) {
        // A client that stopped reading overflows: Send drops it, OnClose follows.
        if (auto c = weak_channel.lock()) c->Send(std::string(bytes));
      },
      [weak_channel] {
        if (auto c = weak_channel.lock()) c->Close("the server stopped");
      });
  channel->OnMessage([weak_broker](std::string input) {
    if (auto b = weak_broker.lock()) b->Write(std::move(input));
  });
  channel->OnClose([weak_broker, id] {
    if (auto b = weak_broker.lock()) b->Unsubscribe(id);
  });
}

}  // namespace kumo::api
