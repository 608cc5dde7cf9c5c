#include "diagnosis/console_lines.h"

namespace kumo::diagnosis {

using LineSink = std::function<void(std::string_view)>;

ConsoleLineSplitter::ConsoleLineSplitter() { line_.reserve(kMaxConsoleLine); }

void ConsoleLineSplitter::Feed(std::string_view bytes, const LineSink& on_line) {
  for (char c : bytes) Consume(static_cast<unsigned char>(c), on_line);
}

void ConsoleLineSplitter::Reset() {
  line_.clear();
  dropping_ = false;
  escape_ = Escape::kNone;
  escape_bytes_ = 0;
  utf8_have_ = utf8_need_ = 0;
}

std::string_view ConsoleLineSplitter::Pending() const {
  return dropping_ ? std::string_view() : std::string_view(line_);
}

void ConsoleLineSplitter::Consume(unsigned char c, const LineSink& on_line) {
  if (escape_ != Escape::kNone && ConsumeEscape(c)) return;
  if (utf8_need_ != 0) {
    Utf8Step step = ConsumeUtf8(c);
    if (step == Utf8Step::kMore) return;
    if (step == Utf8Step::kDone) {
      std::string_view ch(utf8_, utf8_have_);
      utf8_have_ = utf8_need_ = 0;
      // U+0080-U+009F are C1 controls (CSI among them): dropped like C0 ones.
      bool c1 = ch.size() == 2 && static_cast<unsigned char>(ch[0]) == 0xC2 &&
                static_cast<unsigned char>(ch[1]) < 0xA0;
      if (!c1) Append(ch, on_line);
      return;
    }
    Append("?", on_line);  // the character was cut short; c is read afresh
  }
  if (c == '\n' || c == '\r') {
    EndLine(on_line);
  } else if (c == 0x1B) {
    escape_ = Escape::kEsc;
    escape_bytes_ = 1;
  } else if (c == '\t') {
    Append(" ", on_line);
  } else if (c < 0x20 || c == 0x7F) {
    // other control characters: dropped
  } else if (c < 0x80) {
    char ch = static_cast<char>(c);
    Append(std::string_view(&ch, 1), on_line);
  } else if (c >= 0xC2 && c <= 0xF4) {
    StartUtf8(c);
  } else {
    Append("?", on_line);  // a continuation byte without a lead, or a lead never valid
  }
}

// ECMA-48: ESC [ params(0x30-0x3F) intermediates(0x20-0x2F) final(0x40-0x7E);
// ESC ] P X ^ _ open a string ended by BEL or ESC \; ESC intermediates final.
// A byte that does not fit the sequence ends it unfinished and is read afresh,
// so a newline always ends its line.
bool ConsoleLineSplitter::ConsumeEscape(unsigned char c) {
  if (++escape_bytes_ > kMaxEscape) {
    escape_ = Escape::kNone;
    return false;
  }
  switch (escape_) {
    case Escape::kEsc:
      if (c == '[') {
        escape_ = Escape::kCsi;
      } else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
        escape_ = Escape::kString;
      } else if (c >= 0x20 && c <= 0x2F) {
        escape_ = Escape::kEscIntermediate;
      } else if (c >= 0x30 && c <= 0x7E) {
        escape_ = Escape::kNone;
      } else {
        break;
      }
      return true;
    case Escape::kEscIntermediate:
      if (c >= 0x20 && c <= 0x2F) return true;
      if (c < 0x30 || c > 0x7E) break;
      escape_ = Escape::kNone;
      return true;
    case Escape::kCsi:
      if (c >= 0x20 && c <= 0x3F) return true;
      if (c < 0x40 || c > 0x7E) break;
      escape_ = Escape::kNone;
      return true;
    case Escape::kString:
      if (c == 0x07) {
        escape_ = Escape::kNone;
      } else if (c == 0x1B) {
        escape_ = Escape::kStringEsc;
      } else if (c == '\n' || c == '\r') {
        break;
      }
      return true;
    case Escape::kStringEsc:
      if (c == '\\') {
        escape_ = Escape::kNone;
        return true;
      }
      escape_ = Escape::kEsc;  // ESC then something else: a new sequence began
      escape_bytes_ = 1;
      return ConsumeEscape(c);
    case Escape::kNone:
      break;
  }
  escape_ = Escape::kNone;
  return false;
}

void ConsoleLineSplitter::StartUtf8(unsigned char lead) {
  utf8_[0] = static_cast<char>(lead);
  utf8_have_ = 1;
  utf8_need_ = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Unicode's well-formed UTF-8 table: the second byte's range depends on the
// lead (no overlongs, no surrogates, nothing above U+10FFFF).
ConsoleLineSplitter::Utf8Step ConsoleLineSplitter::ConsumeUtf8(unsigned char c) {
  unsigned char lo = 0x80, hi = 0xBF;
  if (utf8_have_ == 1) {
    auto lead = static_cast<unsigned char>(utf8_[0]);
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  }
  if (c < lo || c > hi) {
    utf8_have_ = utf8_need_ = 0;
    return Utf8Step::kBroken;
  }
  utf8_[utf8_have_++] = static_cast<char>(c);
  return utf8_have_ < utf8_need_ ? Utf8Step::kMore : Utf8Step::kDone;
}

void ConsoleLineSplitter::Append(std::string_view text, const LineSink& on_line) {
  if (dropping_) return;
  if (line_.size() + text.size() > kMaxConsoleLine) {
    EndLine(on_line);
    dropping_ = true;
    return;
  }
  line_.append(text);
  if (line_.size() == kMaxConsoleLine) {
    EndLine(on_line);
    dropping_ = true;
  }
}

void ConsoleLineSplitter::EndLine(const LineSink& on_line) {
  if (dropping_) {
    dropping_ = false;
    return;
  }
  size_t end = line_.find_last_not_of(' ');
  if (end != std::string::npos) on_line(std::string_view(line_).substr(0, end + 1));
  line_.clear();
}

}  // namespace kumo::diagnosis
