// Base64 (RFC 4648, standard alphabet, with padding) as QGA uses it for
// passwords and guest-exec data.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kumo {

std::string Base64Encode(std::string_view bytes);

// Returns nullopt when `text` is not valid padded base64. Whitespace is not
// accepted: QGA clients send it without.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace kumo
