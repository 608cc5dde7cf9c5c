// Text helpers shared by the console line matchers; internal to kumo_diagnosis.
// All are linear in what they scan and never throw on any input.
#pragma once

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "diagnosis/console_lines.h"

namespace kumo::diagnosis::line_match {

using std::string_view;
inline constexpr size_t npos = string_view::npos;

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool Has(string_view s, string_view part) { return s.find(part) != npos; }

// Decimal digits at s[pos...]; advances pos past them. nullopt if there are
// none or the number does not fit.
inline std::optional<uint64_t> ParseUint(string_view s, size_t& pos) {
  size_t start = pos;
  uint64_t value = 0;
  for (; pos < s.size() && IsDigit(s[pos]); ++pos) {
    uint64_t digit = s[pos] - '0';
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  if (pos == start) return std::nullopt;
  return value;
}

inline std::optional<int64_t> ParseInt(string_view s, size_t& pos) {
  auto value = ParseUint(s, pos);
  if (!value || *value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return std::nullopt;
  }
  return static_cast<int64_t>(*value);
}

// "12.5" made only of digits and one optional dot, at s[pos...].
inline std::optional<double> ParseDecimal(string_view s, size_t& pos) {
  size_t end = pos;
  while (end < s.size() && end - pos < 24 && (IsDigit(s[end]) || s[end] == '.')) ++end;
  double value = 0;
  auto [ptr, ec] = std::from_chars(s.data() + pos, s.data() + end, value);
  if (ec != std::errc() || ptr != s.data() + end) return std::nullopt;
  pos = end;
  return value;
}

// At most max bytes of s, never cutting a UTF-8 character in two.
inline std::string Bounded(string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

inline string_view TrimLeft(string_view s) {
  size_t start = s.find_first_not_of(' ');
  return start == npos ? string_view() : s.substr(start);
}

// Text from s[from] up to the first of the stop characters (or the end).
inline string_view Until(string_view s, size_t from, string_view stops) {
  if (from >= s.size()) return {};
  size_t end = s.find_first_of(stops, from);
  return s.substr(from, (end == npos ? s.size() : end) - from);
}

// Fsck, e2fsck and systemd-fsck lines (console_fsck_lines.cc): sets fact.kind
// to one of the kFsck* kinds, and device / percent / detail.
bool MatchFsckLine(string_view message, ConsoleFact& fact);

}  // namespace kumo::diagnosis::line_match
