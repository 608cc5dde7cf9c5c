// Fuzzes the console line path the way bytes arrive from a guest's serial
// console: the input is one stream, fed to ConsoleLineSplitter in chunks, and
// every line is given to ParseConsoleLine. The raw input is also parsed as one
// line, as a caller that skipped the splitter would.
//
// Invariants (a violation aborts):
//  - the lines do not depend on how the stream is cut into reads;
//  - a line is non-empty, at most kMaxConsoleLine bytes, valid UTF-8, with no
//    control character (C0, DEL, C1) and no trailing space; so is Pending();
//  - a fact quotes its line, keeps process / device within kMaxFactField and
//    detail / text within kMaxConsoleLine, valid UTF-8 when the line was, and
//    holds sane numbers (pid, seconds >= 0; percent -1 or 0..100; time >= 0).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "diagnosis/console_lines.h"

namespace {

using kumo::diagnosis::ConsoleFact;
using kumo::diagnosis::ConsoleFactKindName;
using kumo::diagnosis::ConsoleLineSplitter;
using kumo::diagnosis::kMaxConsoleLine;
using kumo::diagnosis::kMaxFactField;
using kumo::diagnosis::ParseConsoleLine;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "console_lines_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

// FNV-1a: the cuts follow the data, so a crash reproduces from the input alone.
uint64_t Hash(std::string_view data) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Valid UTF-8 (no overlongs, surrogates, or code points above U+10FFFF);
// with `clean`, also no C0/DEL/C1 control characters.
bool IsUtf8(std::string_view s, bool clean) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (clean && (c < 0x20 || c == 0x7F)) return false;
      ++i;
      continue;
    }
    size_t n = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    if (n == 0 || i + n > s.size()) return false;
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (c1 < lo || c1 > hi) return false;
    for (size_t k = 2; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    if (clean && c == 0xC2 && c1 < 0xA0) return false;
    i += n;
  }
  return true;
}

void CheckLine(std::string_view line) {
  if (line.empty()) Fail("empty line reported");
  if (line.size() > kMaxConsoleLine) Fail("line longer than kMaxConsoleLine");
  if (line.back() == ' ') Fail("line keeps a trailing space");
  if (!IsUtf8(line, /*clean=*/true)) Fail("line is not clean UTF-8");
}

void CheckFact(std::string_view line, const ConsoleFact& fact, bool clean) {
  if (fact.text.size() > kMaxConsoleLine) Fail("text too long");
  if (line.size() <= kMaxConsoleLine && fact.text != line) Fail("text is not the line");
  if (fact.process.size() > kMaxFactField) Fail("process too long");
  if (fact.device.size() > kMaxFactField) Fail("device too long");
  if (fact.detail.size() > kMaxConsoleLine) Fail("detail too long");
  if (ConsoleFactKindName(fact.kind) == "unknown") Fail("kind without a name");
  if (fact.pid < 0 || fact.seconds < 0) Fail("negative pid or seconds");
  if (fact.percent != -1 && !(fact.percent >= 0 && fact.percent <= 100)) Fail("bad percent");
  if (fact.kernel_time_s && !(std::isfinite(*fact.kernel_time_s) && *fact.kernel_time_s >= 0)) {
    Fail("bad kernel time");
  }
  if (clean && !(IsUtf8(fact.process, true) && IsUtf8(fact.device, true) &&
                 IsUtf8(fact.detail, true) && IsUtf8(fact.text, true))) {
    Fail("a field of a clean line is not clean UTF-8");
  }
}

std::vector<std::string> SplitInChunks(std::string_view data, uint64_t h) {
  std::vector<size_t> cuts = {0, data.size()};
  for (int i = 0; i < static_cast<int>(h % 6); ++i) {
    cuts.push_back((h >> (10 * i)) % (data.size() + 1));
  }
  std::sort(cuts.begin(), cuts.end());
  ConsoleLineSplitter splitter;
  std::vector<std::string> lines;
  auto sink = [&](std::string_view line) { lines.emplace_back(line); };
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    splitter.Feed(data.substr(cuts[i], cuts[i + 1] - cuts[i]), sink);
    std::string_view pending = splitter.Pending();
    if (pending.size() > kMaxConsoleLine || !IsUtf8(pending, true)) Fail("bad pending line");
  }
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  std::vector<std::string> lines = SplitInChunks(data, Hash(data));
  std::vector<std::string> whole;
  ConsoleLineSplitter splitter;
  splitter.Feed(data, [&](std::string_view line) { whole.emplace_back(line); });
  if (whole != lines) Fail("lines depend on how the stream is cut");

  for (const std::string& line : lines) {
    CheckLine(line);
    if (auto fact = ParseConsoleLine(line)) CheckFact(line, *fact, /*clean=*/true);
  }
  if (auto fact = ParseConsoleLine(data)) CheckFact(data, *fact, /*clean=*/false);
  return 0;
}
