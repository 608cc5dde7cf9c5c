// Plain-text output for people: aligned columns (like `virsh list`) and
// "key: value" blocks. Text from the API may carry guest-controlled strings,
// so control characters (terminal escapes, newlines) are replaced.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace kumo::cli {

using Row = std::vector<std::string>;

// Columns separated by two spaces, each as wide as its widest cell; the last
// column is not padded. One line per row, header first.
std::string FormatTable(const Row& header, const std::vector<Row>& rows);

// "key:   value" lines with the values aligned.
std::string FormatFields(const std::vector<std::pair<std::string, std::string>>& fields);

// Replaces control characters (and DEL) with a space, so one cell stays on
// one line and cannot drive the terminal.
std::string Printable(const std::string& text);

// Columns a string takes on a terminal, counting UTF-8 code points.
size_t DisplayWidth(const std::string& text);

// "300" or "0.5", for messages.
std::string FormatSeconds(std::chrono::milliseconds d);

}  // namespace kumo::cli
