#include "common/redact.hpp"

#include <array>

namespace jvb {

namespace {

constexpr std::string_view kMask = "***";

// Where an unquoted value (a URL query parameter) ends.
bool endsBareValue(char c) {
  switch (c) {
    case '&':
    case '\'':
    case '"':
    case ' ':
    case '\t':
    case '\r':
    case '\n':
    case '<':
    case '>':
    case '#':
      return true;
    default:
      return false;
  }
}

// True when `key` at `pos` starts a key of its own (not the tail of e.g. "xpwd=").
bool keyStartsAt(std::string_view text, size_t pos) {
  if (pos == 0) {
    return true;
  }
  const char c = text[pos - 1];
  return !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-');
}

// Masks `key=value`, `key='value'` and `key="value"` in place.
std::string maskKeyValues(std::string_view text, std::string_view key) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t hit = text.find(key, i);
    if (hit == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    size_t v = hit + key.size();
    out.append(text.substr(i, v - i));
    if (!keyStartsAt(text, hit)) {
      i = v;
      continue;
    }
    if (v < text.size() && (text[v] == '\'' || text[v] == '"')) {
      const char quote = text[v];
      const size_t close = text.find(quote, v + 1);
      out.push_back(quote);
      out.append(kMask);
      if (close == std::string_view::npos) {
        i = text.size();
      } else {
        out.push_back(quote);
        i = close + 1;
      }
      continue;
    }
    size_t end = v;
    while (end < text.size() && !endsBareValue(text[end])) {
      ++end;
    }
    if (end > v) {
      out.append(kMask);
    }
    i = end;
  }
  return out;
}

// Masks the character data of every <name ...>...</name> element.
std::string maskElementText(std::string_view text, std::string_view name) {
  std::string open = "<";
  open.append(name);
  std::string close = "</";
  close.append(name);
  close.push_back('>');
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t hit = text.find(open, i);
    if (hit == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    const size_t after = hit + open.size();
    const bool isElement = after < text.size() && (text[after] == '>' || text[after] == ' ' ||
                                                   text[after] == '/' || text[after] == '\t');
    const size_t gt = isElement ? text.find('>', after) : std::string_view::npos;
    if (gt == std::string_view::npos || text[gt - 1] == '/') {  // not it, or an empty element
      const size_t next = gt == std::string_view::npos ? after : gt + 1;
      out.append(text.substr(i, next - i));
      i = next;
      continue;
    }
    out.append(text.substr(i, gt + 1 - i));
    const size_t end = text.find(close, gt + 1);
    if (end > gt + 1) {
      out.append(kMask);
    }
    i = end == std::string_view::npos ? text.size() : end;
  }
  return out;
}

}  // namespace

std::string redactSecrets(std::string_view text) {
  std::string s = maskKeyValues(text, "pwd=");
  s = maskKeyValues(s, "password=");
  // SASL (RFC 6120 section 6.4): PLAIN carries the password itself in <auth>; SCRAM's
  // <response> carries the proof.
  s = maskElementText(s, "auth");
  s = maskElementText(s, "response");
  return s;
}

}  // namespace jvb
