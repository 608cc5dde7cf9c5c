// ConsoleReader: turns one server's console output into its Observation's
// console evidence — the kernel and boot facts of the current boot (a kernel
// banner starts a new one), the last lines, and for each fact the lines just
// before it. Guest text is untrusted: lines are cleaned and bounded by
// ConsoleLineSplitter, and what is kept is bounded by Observation's limits.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "diagnosis/console_lines.h"
#include "diagnosis/observation.h"

namespace kumo::diagnosis {

class ConsoleReader {
 public:
  using FactHandler = std::function<void(const TimedFact&)>;

  // Reads `bytes` of output seen at `now_ms` into `o`; calls `on_fact` for
  // every fact kept (after it is in `o`). A kernel banner empties o.console
  // and o.health and sets o.boot_ms.
  void Feed(std::string_view bytes, int64_t now_ms, Observation& o, const FactHandler& on_fact);
  // A new connection or QEMU: forget the partial line and the context.
  void Reset();
  // The line being printed, not ended yet (a login prompt waits so).
  std::string_view partial() const { return splitter_.Pending(); }

 private:
  void OnLine(std::string_view line, int64_t now_ms, Observation& o, const FactHandler& on_fact);

  ConsoleLineSplitter splitter_;
  std::deque<std::string> context_;
};

}  // namespace kumo::diagnosis
