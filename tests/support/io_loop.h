// Test support: running a real-time event loop until something has happened.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "common/asio.h"

namespace kumo::testing {

// Runs `io` one handler at a time until `pred` holds (true) or `limit` has
// passed (false). `pred` is checked before the first handler and after each
// one, so a test sees the state the handler that made it true left behind.
// The loop is restarted as needed: running out of work does not end the wait
// early (work may arrive from another thread or a child process), and
// RunUntil([] { return false; }, d) simply runs the loop for `d`.
inline bool RunUntil(boost::asio::io_context& io, const std::function<bool()>& pred,
                     std::chrono::milliseconds limit) {
  using Clock = std::chrono::steady_clock;
  constexpr std::chrono::milliseconds kStep(20);
  const auto deadline = Clock::now() + limit;
  while (!pred()) {
    auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return false;
    io.restart();
    auto step = std::min<Clock::duration>(left, kStep);
    // No work at all returns at once: sleep a little instead of spinning.
    if (io.run_one_for(step) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace kumo::testing
