// relay/smtp/mime_downgrade.cc — see mime_downgrade.h.
//
// An entity is [header block][CRLF][body]. Each entity is first checked for
// 8-bit octets; only one that has them is parsed, so 7-bit parts (and the
// separators around them) are copied as they are.

#include "relay/smtp/mime_downgrade.h"

#include <cstdint>

namespace ringpost::smtp {
namespace {

constexpr std::string_view kCrlf = "\r\n";

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

// Folding white space and comments (RFC 5322 CFWS), from the front.
void SkipCfws(std::string_view* s) {
  int comment = 0;
  while (!s->empty()) {
    const char c = s->front();
    if (c == '(') {
      ++comment;
    } else if (c == ')' && comment > 0) {
      --comment;
    } else if (c == '\\' && comment > 0 && s->size() > 1) {
      s->remove_prefix(1);
    } else if (comment == 0 && !IsWsp(c) && c != '\r' && c != '\n') {
      return;
    }
    s->remove_prefix(1);
  }
}

bool IsTokenChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 32 || u >= 127) return false;
  return std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
}

std::string_view TakeToken(std::string_view* s) {
  size_t n = 0;
  while (n < s->size() && IsTokenChar((*s)[n])) ++n;
  std::string_view t = s->substr(0, n);
  s->remove_prefix(n);
  return t;
}

struct ContentType {
  std::string_view type;     // as written; compare ignoring case
  std::string_view subtype;
  std::string boundary;      // unquoted
  bool has_boundary = false;
};

// "type/subtype *(; attribute=value)" (RFC 2045 5.1); false if malformed.
bool ParseContentType(std::string_view v, ContentType* ct) {
  SkipCfws(&v);
  ct->type = TakeToken(&v);
  SkipCfws(&v);
  if (ct->type.empty() || v.empty() || v.front() != '/') return false;
  v.remove_prefix(1);
  SkipCfws(&v);
  ct->subtype = TakeToken(&v);
  if (ct->subtype.empty()) return false;
  for (;;) {
    SkipCfws(&v);
    if (v.empty()) return true;
    if (v.front() != ';') return false;
    v.remove_prefix(1);
    SkipCfws(&v);
    if (v.empty()) return true;  // a trailing ";" is common and harmless
    const std::string_view name = TakeToken(&v);
    SkipCfws(&v);
    if (name.empty() || v.empty() || v.front() != '=') return false;
    v.remove_prefix(1);
    SkipCfws(&v);
    std::string value;
    if (!v.empty() && v.front() == '"') {
      v.remove_prefix(1);
      bool closed = false;
      while (!v.empty()) {
        char c = v.front();
        v.remove_prefix(1);
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && !v.empty()) {
          c = v.front();
          v.remove_prefix(1);
        }
        if (c == '\r' || c == '\n') continue;  // folding inside the quotes
        value.push_back(c);
      }
      if (!closed) return false;
    } else {
      value.assign(TakeToken(&v));
      if (value.empty()) return false;
    }
    if (EqualsIgnoreCase(name, "boundary")) {
      if (ct->has_boundary) return false;
      ct->has_boundary = true;
      ct->boundary = std::move(value);
    }
  }
}

// The header block of an entity, and where its body starts.
struct Entity {
  std::string_view headers;  // every header line with its CRLF
  std::string_view body;
  bool separated = false;    // a blank line ends the headers
  std::string_view content_type;  // field value, or empty
  bool has_content_type = false;
  // The Content-Transfer-Encoding field, whole (name to final CRLF), and
  // its value.
  size_t cte_begin = 0;
  size_t cte_end = 0;
  std::string_view cte;
  bool has_cte = false;
  bool has_mime_version = false;
};

// Splits `entity` into header fields and body. Fails on duplicate
// Content-Type or Content-Transfer-Encoding or a line without a colon.
bool ParseEntity(std::string_view entity, Entity* e, std::string_view* error) {
  size_t pos = 0;
  size_t field_begin = 0;
  std::string_view field_name;
  std::string_view* value_target = nullptr;
  const auto close_field = [&](size_t end) {
    if (value_target == &e->cte) e->cte_end = end;
    if (value_target != nullptr) {
      const size_t colon = entity.find(':', field_begin);
      *value_target = entity.substr(colon + 1, end - colon - 1);
    }
    value_target = nullptr;
  };
  while (pos < entity.size()) {
    size_t eol = entity.find(kCrlf, pos);
    const size_t next = eol == std::string_view::npos ? entity.size() : eol + 2;
    if (eol == std::string_view::npos) eol = entity.size();
    if (eol == pos) {  // the blank line
      close_field(pos);
      e->headers = entity.substr(0, pos);
      e->body = entity.substr(next);
      e->separated = true;
      return true;
    }
    if (IsWsp(entity[pos])) {
      if (pos == 0) {
        *error = "a part starts with a folded header line";
        return false;
      }
    } else {
      close_field(pos);
      const size_t colon = entity.find(':', pos);
      if (colon == std::string_view::npos || colon >= eol) {
        *error = "a header line has no colon";
        return false;
      }
      field_begin = pos;
      field_name = entity.substr(pos, colon - pos);
      while (!field_name.empty() && IsWsp(field_name.back())) field_name.remove_suffix(1);
      if (EqualsIgnoreCase(field_name, "Content-Type")) {
        if (e->has_content_type) {
          *error = "two Content-Type fields";
          return false;
        }
        e->has_content_type = true;
        value_target = &e->content_type;
      } else if (EqualsIgnoreCase(field_name, "Content-Transfer-Encoding")) {
        if (e->has_cte) {
          *error = "two Content-Transfer-Encoding fields";
          return false;
        }
        e->has_cte = true;
        e->cte_begin = pos;
        value_target = &e->cte;
      } else if (EqualsIgnoreCase(field_name, "MIME-Version")) {
        e->has_mime_version = true;
      }
    }
    pos = next;
  }
  close_field(entity.size());
  e->headers = entity;
  e->body = {};
  return true;
}

// The Content-Transfer-Encoding mechanism, lower-cased; "" when absent.
std::string CteMechanism(const Entity& e) {
  std::string_view v = e.cte;
  SkipCfws(&v);
  std::string m;
  for (char c : TakeToken(&v)) m.push_back(Lower(c));
  return m;
}

// A delimiter line of `boundary`: "--" boundary [ "--" ] *LWSP. Sets
// *close for the closing one.
bool IsDelimiter(std::string_view line, std::string_view boundary, bool* close) {
  if (line.size() < 2 + boundary.size() || line[0] != '-' || line[1] != '-' ||
      line.substr(2, boundary.size()) != boundary) {
    return false;
  }
  std::string_view rest = line.substr(2 + boundary.size());
  *close = rest.size() >= 2 && rest[0] == '-' && rest[1] == '-';
  if (*close) rest.remove_prefix(2);
  for (char c : rest) {
    if (!IsWsp(c)) return false;
  }
  return true;
}

bool Convert(std::string_view entity, bool digest_child, bool top, int depth,
             std::string* out, std::string_view* error);

// The parts of a multipart body, each converted, separators copied.
bool ConvertMultipart(std::string_view body, std::string_view boundary,
                      bool digest, int depth, std::string* out,
                      std::string_view* error) {
  // Walk the lines; `part_begin` is where the current part's content starts
  // (npos in the preamble).
  size_t pos = 0;
  size_t part_begin = std::string_view::npos;
  size_t copied = 0;  // body bytes already handled
  while (pos <= body.size()) {
    size_t eol = body.find(kCrlf, pos);
    const bool last = eol == std::string_view::npos;
    if (last) eol = body.size();
    bool close = false;
    if (IsDelimiter(body.substr(pos, eol - pos), boundary, &close)) {
      // The CRLF before a delimiter belongs to it (RFC 2046 5.1.1).
      const size_t content_end = pos >= 2 && pos - 2 >= copied ? pos - 2 : pos;
      if (part_begin == std::string_view::npos) {
        const std::string_view preamble = body.substr(0, pos);
        if (HasEightBit(preamble)) {
          *error = "a multipart preamble has 8-bit octets";
          return false;
        }
        out->append(preamble);
      } else {
        if (!Convert(body.substr(part_begin, content_end - part_begin), digest, false,
                     depth + 1, out, error)) {
          return false;
        }
        out->append(body.substr(content_end, pos - content_end));
      }
      const size_t next = last ? body.size() : eol + 2;
      out->append(body.substr(pos, next - pos));  // the delimiter line
      copied = next;
      if (close) {
        const std::string_view epilogue = body.substr(next);
        if (HasEightBit(epilogue)) {
          *error = "a multipart epilogue has 8-bit octets";
          return false;
        }
        out->append(epilogue);
        return true;
      }
      part_begin = next;
    }
    if (last) break;
    pos = eol + 2;
  }
  *error = "a multipart body has no closing boundary";
  return false;
}

bool Convert(std::string_view entity, bool digest_child, bool top, int depth,
             std::string* out, std::string_view* error) {
  if (!HasEightBit(entity)) {
    out->append(entity);
    return true;
  }
  if (depth > kDowngradeDepthMax) {
    *error = "multipart nesting is too deep";
    return false;
  }
  Entity e;
  if (!ParseEntity(entity, &e, error)) return false;
  if (HasEightBit(e.headers)) {
    *error = "a header has 8-bit octets";
    return false;
  }
  if (top && !e.has_mime_version) {
    *error = "the message is not MIME (no MIME-Version)";
    return false;
  }
  ContentType ct;
  if (e.has_content_type) {
    if (!ParseContentType(e.content_type, &ct)) {
      *error = "a Content-Type field is malformed";
      return false;
    }
  } else {
    ct.type = digest_child ? "message" : "text";
  }
  const std::string cte = CteMechanism(e);
  const bool identity = cte.empty() || cte == "7bit" || cte == "8bit";
  if (EqualsIgnoreCase(ct.type, "message")) {
    *error = "a message/* part has 8-bit octets";
    return false;
  }
  if (!identity) {
    *error = cte == "binary" ? "a binary part cannot be converted"
                             : "an encoded part has 8-bit octets";
    return false;
  }
  if (EqualsIgnoreCase(ct.type, "multipart")) {
    if (!ct.has_boundary || ct.boundary.empty()) {
      *error = "a multipart has no boundary";
      return false;
    }
    if (e.has_cte && cte != "7bit") {
      out->append(e.headers.substr(0, e.cte_begin));
      out->append("Content-Transfer-Encoding: 7bit\r\n");
      out->append(e.headers.substr(e.cte_end));
    } else {
      out->append(e.headers);
    }
    out->append(kCrlf);
    return ConvertMultipart(e.body, ct.boundary,
                            EqualsIgnoreCase(ct.subtype, "digest"), depth, out, error);
  }
  // A leaf whose body has the 8-bit octets (the headers have none).
  if (e.has_cte) {
    out->append(e.headers.substr(0, e.cte_begin));
    out->append("Content-Transfer-Encoding: quoted-printable\r\n");
    out->append(e.headers.substr(e.cte_end));
  } else {
    out->append(e.headers);
    out->append("Content-Transfer-Encoding: quoted-printable\r\n");
  }
  out->append(kCrlf);
  AppendQuotedPrintable(e.body, out);
  return true;
}

}  // namespace

bool HasEightBit(std::string_view content) {
  // Eight octets per step; the compiler vectorises the OR.
  const auto* p = reinterpret_cast<const unsigned char*>(content.data());
  const unsigned char* const end = p + content.size();
  unsigned acc = 0;
  while (end - p >= 64) {
    for (int i = 0; i < 64; ++i) acc |= p[i];
    if (acc & 0x80) return true;
    p += 64;
  }
  for (; p < end; ++p) acc |= *p;
  return (acc & 0x80) != 0;
}

void AppendQuotedPrintable(std::string_view body, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  constexpr size_t kLineMax = 76;  // octets per encoded line, "=" included
  out->reserve(out->size() + body.size() + body.size() / 4 + 16);
  size_t column = 0;
  size_t i = 0;
  while (i < body.size()) {
    const auto c = static_cast<unsigned char>(body[i]);
    if (c == '\r' && i + 1 < body.size() && body[i + 1] == '\n') {
      out->append(kCrlf);  // a hard line break
      column = 0;
      i += 2;
      continue;
    }
    // White space is literal unless it ends a line (or the body).
    const bool line_end = i + 1 == body.size() ||
                          (body[i + 1] == '\r' && i + 2 < body.size() && body[i + 2] == '\n');
    bool literal = (c >= 33 && c <= 126 && c != '=') ||
                   ((c == ' ' || c == '\t') && !line_end);
    if (c == '-' && column == 0) literal = false;  // never "--boundary"
    const size_t width = literal ? 1 : 3;
    // Room for this octet and, unless the line ends here, a soft break.
    if (column + width > (line_end ? kLineMax : kLineMax - 1)) {
      out->append("=\r\n");
      column = 0;
      if (c == '-') literal = false;
    }
    if (literal) {
      out->push_back(static_cast<char>(c));
      column += 1;
    } else {
      const char enc[3] = {'=', kHex[c >> 4], kHex[c & 15]};
      out->append(enc, 3);
      column += 3;
    }
    ++i;
  }
}

bool DowngradeTo7Bit(std::string_view message, std::string* out,
                     std::string_view* error) {
  out->clear();
  return Convert(message, false, true, 0, out, error);
}

}  // namespace ringpost::smtp
