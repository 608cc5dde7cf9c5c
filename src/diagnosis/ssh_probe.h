// The host's probe of a server's SSH forward: a fresh TCP connection to
// 127.0.0.1:PORT must bring an SSH banner ("SSH-2.0-…", RFC 4253 §4.2)
// within the timeout. QEMU's user-mode network accepts the connection on the
// host even when nothing listens in the guest, so the banner, not the
// connect, is the test. Reads at most kMaxBannerBytes.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "common/asio.h"

namespace kumo::diagnosis {

inline constexpr size_t kMaxBannerBytes = 256;

// Whether the first bytes a server sent are an SSH identification string;
// `line` is what to quote (cleaned, bounded).
bool IsSshBanner(std::string_view first_bytes, std::string* line);

struct SshProbeResult {
  bool banner = false;
  std::string detail;  // the banner, or what happened instead
};

// Probes 127.0.0.1:port; `done` is called once, on the loop.
void ProbeSsh(boost::asio::io_context& io, int port, std::chrono::milliseconds timeout,
              std::function<void(SshProbeResult)> done);

}  // namespace kumo::diagnosis
