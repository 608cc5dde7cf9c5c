#include "telemetry/guest_text.h"

#include <cstdint>

namespace kumo::telemetry {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence at `s` (RFC 3629: no overlongs,
// no surrogates, nothing above U+10FFFF), or 0 if there is none.
size_t SequenceLength(std::string_view s, char32_t* code_point) {
  auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  uint8_t b0 = byte(0);
  if (b0 < 0x80) {
    *code_point = b0;
    return 1;
  }
  size_t len = b0 >= 0xC2 && b0 <= 0xDF   ? 2
               : b0 >= 0xE0 && b0 <= 0xEF ? 3
               : b0 >= 0xF0 && b0 <= 0xF4 ? 4
                                          : 0;
  if (len == 0 || s.size() < len) return 0;
  char32_t cp = b0 & (0x7F >> len);
  for (size_t i = 1; i < len; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i) & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  *code_point = cp;
  return len;
}

bool IsControl(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

}  // namespace

std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    size_t len = SequenceLength(text.substr(i), &cp);
    if (len == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::string BoundedText(std::string_view text, size_t max_bytes) {
  std::string out;
  size_t budget = 4 * max_bytes + 4;  // U+FFFD is 3 bytes; a dropped control is 1
  for (size_t i = 0; i < text.size() && i < budget;) {
    char32_t cp = 0;
    size_t len = SequenceLength(text.substr(i), &cp);
    std::string_view piece = len == 0 ? std::string_view(kReplacement) : text.substr(i, len);
    i += len == 0 ? 1 : len;
    if (len != 0 && IsControl(cp)) continue;
    if (out.size() + piece.size() > max_bytes) break;
    out.append(piece);
  }
  return out;
}

}  // namespace kumo::telemetry
