// One read buffer for everything on an event loop's thread that reads a
// socket or a FIFO and is done with the bytes before it returns to the loop
// (kumod's agent links and console brokers). Such a reader waits until its
// descriptor is readable (async_wait), then reads into this buffer without
// blocking: a thousand idle servers hold no read buffer each, where an
// async_read_some would pin one per server for as long as it waits.
#pragma once

#include <span>
#include <vector>

namespace kumo {

inline constexpr size_t kLoopReadBufferBytes = 64 * 1024;

// This thread's buffer, kLoopReadBufferBytes long. Valid until the caller
// returns to the loop; nothing else on the thread may read into it meanwhile.
inline std::span<char> LoopReadBuffer() {
  thread_local std::vector<char> buffer(kLoopReadBufferBytes);
  return buffer;
}

}  // namespace kumo
