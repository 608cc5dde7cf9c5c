// Text that came from a guest, made safe to keep and to show: valid UTF-8,
// no control characters, bounded in size. Pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kumo::telemetry {

// `text` as valid UTF-8: each byte that does not start a well-formed sequence
// becomes U+FFFD. Control characters are kept.
std::string ValidUtf8(std::string_view text);

// `text` as valid UTF-8 without control characters (C0, DEL, C1), cut to at
// most `max_bytes` at a character boundary. Reads at most 4 * max_bytes + 4
// bytes of `text`, so a huge input costs little.
std::string BoundedText(std::string_view text, size_t max_bytes);

}  // namespace kumo::telemetry
