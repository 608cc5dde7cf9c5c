#include "diagnosis/console_reader.h"

namespace kumo::diagnosis {

void ConsoleReader::Feed(std::string_view bytes, int64_t now_ms, Observation& o,
                         const FactHandler& on_fact) {
  splitter_.Feed(bytes, [&](std::string_view line) { OnLine(line, now_ms, o, on_fact); });
}

void ConsoleReader::Reset() {
  splitter_.Reset();
  context_.clear();
}

void ConsoleReader::OnLine(std::string_view line, int64_t now_ms, Observation& o,
                           const FactHandler& on_fact) {
  std::optional<ConsoleFact> fact = ParseConsoleLine(line);
  if (fact && fact->kind == ConsoleFactKind::kBootBanner) {
    o.console.clear();
    o.health.reset();
    o.boot_ms = now_ms;
    context_.clear();
  }
  if (fact && fact->kind != ConsoleFactKind::kBootBanner) {
    TimedFact timed{now_ms, std::move(*fact), {context_.begin(), context_.end()}};
    // A progress bar redrawn many times a second is one fact, the latest.
    if (timed.fact.kind == ConsoleFactKind::kFsckProgress && !o.console.empty() &&
        o.console.back().fact.kind == ConsoleFactKind::kFsckProgress) {
      timed.context = std::move(o.console.back().context);
      o.console.back() = std::move(timed);
    } else {
      if (o.console.size() >= Observation::kMaxFacts) o.console.erase(o.console.begin());
      o.console.push_back(std::move(timed));
    }
    if (on_fact) on_fact(o.console.back());
  }
  context_.emplace_back(line);
  if (context_.size() > Observation::kContextLines) context_.pop_front();
  o.console_tail.emplace_back(line);
  if (o.console_tail.size() > Observation::kTailLines) o.console_tail.pop_front();
}

}  // namespace kumo::diagnosis
