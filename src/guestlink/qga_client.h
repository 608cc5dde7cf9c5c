// QgaClient talks to a guest agent (kumo-agent or qemu-ga) over a unix socket:
// the QEMU chardev of a guest's org.qemu.guest_agent.0 port, or an agent in
// --listen mode. It is blocking, with a deadline on every call; kumod's
// event-loop client builds on the same protocol rules.
//
// Protocol rules it follows (QEMU's qemu-ga-ref, "guest-sync-delimited"):
// a fresh connection may hold stale replies or a half-written request, so
// Sync() sends 0xFF (the agent discards any partial request) and
// guest-sync-delimited with a new id, then drops every reply until the one
// with that id.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qga/qga_framer.h"

namespace kumo::guestlink {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// A reply: `value` holds "return", or `error_class`/`error_desc` are set.
// `timed_out` means no reply arrived before the deadline.
struct QgaReply {
  bool ok = false;
  bool timed_out = false;
  json value;
  std::string error_class;
  std::string error_desc;
};

class QgaClient {
 public:
  QgaClient() = default;
  QgaClient(const QgaClient&) = delete;
  QgaClient& operator=(const QgaClient&) = delete;
  ~QgaClient();

  // Connects to the socket, retrying until `deadline` while it does not exist
  // yet or refuses connections.
  bool Connect(const std::string& socket_path, Clock::time_point deadline, std::string* err);
  void Close();
  bool connected() const { return fd_ >= 0; }

  // Resynchronises the stream (see above). Re-sends the sync every
  // `retry_every`, since a request written while the guest side was not
  // listening is lost. True once the matching reply arrived.
  bool Sync(Clock::time_point deadline,
            std::chrono::milliseconds retry_every = std::chrono::milliseconds(500));

  // Sends one command and waits for its reply.
  QgaReply Call(const std::string& command, const json& arguments, Clock::time_point deadline);
  QgaReply Call(const std::string& command, Clock::time_point deadline) {
    return Call(command, json(), deadline);
  }

  // Low-level access for protocol tests: raw bytes out, next framed item in.
  bool SendRaw(std::string_view bytes);
  // Next reply object; nullopt on timeout or EOF. Framing errors from our side
  // of the stream are never expected, so they end the read too.
  std::optional<json> ReadMessage(Clock::time_point deadline);
  // True if the peer closed the connection (seen by the last read).
  bool peer_closed() const { return peer_closed_; }

 private:
  int fd_ = -1;
  bool peer_closed_ = false;
  uint64_t next_sync_id_ = 0;
  qga::QgaFramer framer_;
  std::vector<qga::FramedItem> ready_;
};

QgaReply ToReply(const json& message);

}  // namespace kumo::guestlink
