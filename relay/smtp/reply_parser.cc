// relay/smtp/reply_parser.cc — SMTP reply parsing for the client side.
//
// Complete lines are parsed straight from the caller's buffer; only a line
// cut by the end of a chunk is copied into `partial_` (bounded by
// kLineOctetsMax). A finished reply is swapped into the caller's object so
// the text buffers are reused from reply to reply.

#include "relay/smtp/reply_parser.h"

#include <utility>

#include "base/check.h"

namespace ringpost::smtp {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

// Reads 1..3 digits at text[*i]; false if there are none or more than 3.
bool ReadSubCode(std::string_view text, size_t* i, uint16_t* out) {
  size_t n = 0;
  uint16_t v = 0;
  while (*i < text.size() && IsDigit(text[*i])) {
    if (++n > 3) return false;
    v = static_cast<uint16_t>(v * 10 + (text[*i] - '0'));
    ++*i;
  }
  *out = v;
  return n > 0;
}

// "c.s.d" at the start of `text`, followed by a space or the end. Returns
// its length, or 0.
size_t ParseEnhanced(std::string_view text, int code, EnhancedCode* out) {
  if (text.size() < 5 || !IsDigit(text[0]) || text[1] != '.') return 0;
  if (text[0] - '0' != code / 100) return 0;
  EnhancedCode e;
  e.klass = static_cast<uint8_t>(text[0] - '0');
  size_t i = 2;
  if (!ReadSubCode(text, &i, &e.subject)) return 0;
  if (i >= text.size() || text[i] != '.') return 0;
  ++i;
  if (!ReadSubCode(text, &i, &e.detail)) return 0;
  if (i < text.size() && text[i] != ' ') return 0;
  *out = e;
  return i;
}

uint64_t ParseSize(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return 0;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  return v;
}

}  // namespace

void ReplyParser::Reset() {
  partial_.clear();
  pending_.code = 0;
  pending_.has_enhanced = false;
  pending_.enhanced = EnhancedCode{};
  pending_.enhanced_length = 0;
  pending_.line_count = 0;
  pending_.text.clear();
  error_ = Error::kNone;
}

ReplyParser::Error ReplyParser::ProcessLine(std::string_view line,
                                            bool* final) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() < 3 || !IsDigit(line[0]) || !IsDigit(line[1]) ||
      !IsDigit(line[2]) || line[0] < '2' || line[0] > '5') {
    return Error::kBadCode;
  }
  const int code =
      (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  const char separator = line.size() > 3 ? line[3] : ' ';
  if (separator != ' ' && separator != '-') return Error::kBadSeparator;
  const std::string_view text = line.size() > 4 ? line.substr(4) : "";

  if (pending_.line_count == 0) {
    pending_.code = code;
    const size_t n = ParseEnhanced(text, code, &pending_.enhanced);
    pending_.has_enhanced = n > 0;
    pending_.enhanced_length = static_cast<uint8_t>(n);
  } else {
    if (code != pending_.code) return Error::kCodeMismatch;
    pending_.text.push_back('\n');
  }
  if (++pending_.line_count > kLinesMax) return Error::kTooManyLines;
  pending_.text.append(text);
  *final = separator == ' ';
  return Error::kNone;
}

ReplyParser::Result ReplyParser::Parse(std::string_view input,
                                       ServerReply* out) {
  if (error_ != Error::kNone) return {Status::kError, 0};
  size_t i = 0;
  while (i < input.size()) {
    const size_t lf = input.find('\n', i);
    if (lf == std::string_view::npos) {
      const size_t n = input.size() - i;
      if (partial_.size() + n >= kLineOctetsMax) {
        error_ = Error::kLineTooLong;
        return {Status::kError, input.size()};
      }
      partial_.append(input.data() + i, n);
      return {Status::kNeedMore, input.size()};
    }
    const size_t n = lf - i;  // line octets without the LF
    if (partial_.size() + n + 1 > kLineOctetsMax) {
      error_ = Error::kLineTooLong;
      return {Status::kError, lf + 1};
    }
    std::string_view line = input.substr(i, n);
    if (!partial_.empty()) {
      partial_.append(line);
      line = partial_;
    }
    i = lf + 1;
    bool final = false;
    const Error e = ProcessLine(line, &final);
    partial_.clear();
    if (e != Error::kNone) {
      error_ = e;
      return {Status::kError, i};
    }
    if (final) {
      CHECK(pending_.line_count > 0);
      // Scalars copied, text swapped: both strings keep their storage.
      out->code = pending_.code;
      out->has_enhanced = pending_.has_enhanced;
      out->enhanced = pending_.enhanced;
      out->enhanced_length = pending_.enhanced_length;
      out->line_count = pending_.line_count;
      out->text.swap(pending_.text);
      pending_.code = 0;
      pending_.has_enhanced = false;
      pending_.enhanced = EnhancedCode{};
      pending_.enhanced_length = 0;
      pending_.line_count = 0;
      pending_.text.clear();
      return {Status::kReply, i};
    }
  }
  return {Status::kNeedMore, i};
}

EhloCapabilities ParseEhloCapabilities(const ServerReply& reply) {
  EhloCapabilities caps;
  if (reply.code != 250) return caps;
  std::string_view rest = reply.text;
  const size_t first_end = rest.find('\n');
  if (first_end == std::string_view::npos) return caps;  // greeting only
  rest.remove_prefix(first_end + 1);
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);

    const size_t space = line.find(' ');
    const std::string_view keyword = line.substr(0, space);
    const std::string_view params =
        space == std::string_view::npos ? std::string_view()
                                        : line.substr(space + 1);
    if (EqualsIgnoreCase(keyword, "PIPELINING")) {
      caps.extensions |= kExtPipelining;
    } else if (EqualsIgnoreCase(keyword, "SIZE")) {
      caps.extensions |= kExtSize;
      caps.size_max = ParseSize(params);
    } else if (EqualsIgnoreCase(keyword, "8BITMIME")) {
      caps.extensions |= kExt8BitMime;
    } else if (EqualsIgnoreCase(keyword, "CHUNKING")) {
      caps.extensions |= kExtChunking;
    } else if (EqualsIgnoreCase(keyword, "SMTPUTF8")) {
      caps.extensions |= kExtSmtpUtf8;
    } else if (EqualsIgnoreCase(keyword, "STARTTLS")) {
      caps.extensions |= kExtStartTls;
    } else if (EqualsIgnoreCase(keyword, "ENHANCEDSTATUSCODES")) {
      caps.extensions |= kExtEnhancedStatusCodes;
    } else if (EqualsIgnoreCase(keyword, "DSN")) {
      caps.extensions |= kExtDsn;
    } else if (EqualsIgnoreCase(keyword, "BINARYMIME")) {
      caps.extensions |= kExtBinaryMime;
    } else if (EqualsIgnoreCase(keyword, "AUTH")) {
      caps.extensions |= kExtAuth;
      std::string_view mechs = params;
      while (!mechs.empty()) {
        const size_t sp = mechs.find(' ');
        const std::string_view mech = mechs.substr(0, sp);
        mechs.remove_prefix(sp == std::string_view::npos ? mechs.size()
                                                         : sp + 1);
        if (EqualsIgnoreCase(mech, "PLAIN")) caps.auth_mechanisms |= kAuthPlain;
        if (EqualsIgnoreCase(mech, "LOGIN")) caps.auth_mechanisms |= kAuthLogin;
      }
    }
  }
  return caps;
}

}  // namespace ringpost::smtp
