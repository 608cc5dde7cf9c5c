#include "cli/table.h"

#include <algorithm>
#include <sstream>

namespace kumo::cli {
namespace {

void Pad(std::string* line, size_t width, size_t used) {
  if (width > used) line->append(width - used, ' ');
}

}  // namespace

std::string Printable(const std::string& text) {
  std::string out = text;
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  return out;
}

size_t DisplayWidth(const std::string& text) {
  return std::count_if(text.begin(), text.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

std::string FormatTable(const Row& header, const std::vector<Row>& rows) {
  std::vector<Row> all;
  all.reserve(rows.size() + 1);
  all.push_back(header);
  for (const auto& row : rows) all.push_back(row);
  size_t columns = 0;
  for (auto& row : all) {
    for (auto& cell : row) cell = Printable(cell);
    columns = std::max(columns, row.size());
  }
  std::vector<size_t> widths(columns, 0);
  for (const auto& row : all) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  }
  std::string out;
  for (const auto& row : all) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        Pad(&line, widths[i], DisplayWidth(row[i]));
        line += "  ";
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string FormatFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [key, value] : fields) width = std::max(width, DisplayWidth(key) + 1);
  std::string out;
  for (const auto& [key, value] : fields) {
    std::string line = Printable(key) + ":";
    Pad(&line, width, DisplayWidth(key) + 1);
    line += " " + Printable(value);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string FormatSeconds(std::chrono::milliseconds d) {
  std::ostringstream out;
  out << d.count() / 1000.0;
  return out.str();
}

}  // namespace kumo::cli
