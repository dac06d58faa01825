// HOCON parser: text -> tree of Nodes with file:line origins. Substitutions
// are resolved afterwards by hocon_resolve.cpp.
#include "config/hocon.hpp"

#include <sys/stat.h>

#include <charconv>
#include <string>
#include <utility>
#include <vector>

#include "common/log.hpp"
#include "config/hocon_internal.hpp"

namespace jvb::config::hocon {

using detail::kMaxDepth;
using detail::makeNode;

namespace {

// Characters HOCON forbids in unquoted text (besides whitespace).
bool isForbidden(char c) {
  return c != '\0' && std::string_view("$\"{}[]:=,+#`^?!@*&\\").find(c) != std::string_view::npos;
}

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

std::string showChar(char c) {
  if (c == '\n')
    return "a new line";
  const auto u = static_cast<unsigned char>(c);
  if (u < 0x20 || u == 0x7f)
    return fmt::format("character 0x{:02x}", static_cast<unsigned>(u));
  return fmt::format("'{}'", c);
}

std::string dirName(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos)
    return "";
  return path.substr(0, slash + 1);
}

bool isRegularFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

class Parser {
 public:
  Parser(std::string_view text, std::string file, const ParseOptions& options, int includeDepth,
         std::vector<std::string> keyPrefix)
      : text_(text),
        file_(std::move(file)),
        options_(options),
        includeDepth_(includeDepth),
        keyStack_(std::move(keyPrefix)) {}

  void parseDocument(Node& root) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF")
      pos_ = 3;  // UTF-8 byte order mark
    skipAll();
    if (!atEnd() && peek() == '{') {
      const int open = line_;
      advance();
      parseFields(root, true, open);
      skipAll();
      if (!atEnd())
        fail("unexpected " + showChar(peek()) + " after the closing '}' of the root");
    } else if (!atEnd() && peek() == '[') {
      fail("the root of a configuration file must be an object, not a list");
    } else {
      parseFields(root, false, 0);
    }
  }

 private:
  // --- lexing -------------------------------------------------------------------------------
  bool atEnd() const { return pos_ >= text_.size(); }
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  bool startsWith(std::string_view s) const { return text_.substr(pos_, s.size()) == s; }
  void advance(size_t n = 1) {
    for (size_t i = 0; i < n && !atEnd(); ++i, ++pos_) {
      if (text_[pos_] == '\n')
        ++line_;
    }
  }
  bool atNewline() const { return !atEnd() && peek() == '\n'; }
  bool atComment() const {
    return !atEnd() && (peek() == '#' || (peek() == '/' && peek(1) == '/'));
  }
  void skipSpaces() {
    while (!atEnd() && isSpace(peek()))
      ++pos_;
  }
  void skipSpacesAndComment() {
    skipSpaces();
    if (atComment()) {
      while (!atEnd() && peek() != '\n')
        ++pos_;
    }
  }
  // Spaces, comments and newlines.
  void skipAll() {
    for (;;) {
      skipSpacesAndComment();
      if (!atNewline())
        return;
      advance();
    }
  }

  std::string currentKey() const { return joinPath(keyStack_); }
  [[noreturn]] void fail(int line, const std::string& message) const {
    throw ConfigError(file_, line, currentKey(), message);
  }
  [[noreturn]] void fail(const std::string& message) const { fail(line_, message); }

  void enter() {
    if (++depth_ > kMaxDepth)
      fail(fmt::format("values nested too deeply (limit {})", kMaxDepth));
  }
  void leave() { --depth_; }

  Origin here() const { return Origin{file_, line_}; }

  // --- objects ------------------------------------------------------------------------------
  void parseFields(Node& obj, bool braced, int openLine) {
    for (;;) {
      skipAll();
      if (atEnd()) {
        if (braced) {
          fail(openLine, "unterminated block: the '{' on this line is never closed");
        }
        return;
      }
      const char c = peek();
      if (c == '}') {
        if (braced) {
          advance();
          return;
        }
        fail("unexpected '}' (no block is open)");
      }
      if (c == ',')
        fail("unexpected ',' (empty field)");
      if (isIncludeStatement()) {
        parseInclude(obj);
      } else {
        parseField(obj);
      }
    }
  }

  void parseField(Node& obj) {
    const int keyLine = line_;
    const std::vector<std::string> path = parseKeyPath();
    const size_t saved = keyStack_.size();
    keyStack_.insert(keyStack_.end(), path.begin(), path.end());
    if (keyStack_.size() + static_cast<size_t>(depth_) > static_cast<size_t>(kMaxDepth)) {
      fail(fmt::format("keys nested too deeply (limit {})", kMaxDepth));
    }
    skipSpaces();
    NodePtr value;
    bool append = false;
    if (!atEnd() && peek() == '{') {
      value = parseObject();
    } else if (!atEnd() && (peek() == '=' || peek() == ':' || startsWith("+="))) {
      append = peek() == '+';
      advance(append ? 2 : 1);
      skipAll();
      if (atEnd() || peek() == '}' || peek() == ']' || peek() == ',') {
        fail(keyLine, "missing value after the separator");
      }
      value = parseValue();
    } else if (atEnd() || atNewline() || atComment()) {
      fail(keyLine, "expected '=', ':' or '{' after the key");
    } else if (isForbidden(peek()) && peek() != '"') {
      fail("reserved character " + showChar(peek()) +
           " is not allowed in a key outside quotes (put the key in quotes)");
    } else {
      fail("expected '=', ':' or '{' after the key, found " + showChar(peek()));
    }
    if (value->key.empty())
      value->key = currentKey();
    if (append)
      value = appendToList(value);
    NodePtr wrapped = value;
    for (size_t i = path.size(); i-- > 1;) {
      NodePtr o = makeNode(Kind::kObject, Origin{file_, keyLine});
      o->fields.push_back(Field{path[i], wrapped});
      wrapped = o;
    }
    detail::mergeField(obj, path[0], wrapped);

    skipSpacesAndComment();
    if (!atEnd() && peek() != ',' && peek() != '\n' && peek() != '}') {
      fail("expected ',' or a new line after the value, found " + showChar(peek()));
    }
    if (!atEnd() && peek() == ',')
      advance();
    keyStack_.resize(saved);
  }

  // `a += x` is `a = ${?a} [x]`: the value `a` had so far, plus x.
  NodePtr appendToList(const NodePtr& value) const {
    NodePtr self = makeNode(Kind::kSubstitution, value->origin);
    self->optional = true;
    self->path = keyStack_;
    self->text = currentKey();
    self->key = currentKey();
    NodePtr list = makeNode(Kind::kList, value->origin);
    list->key = currentKey();
    list->items.push_back(value);
    NodePtr concat = makeNode(Kind::kConcatenation, value->origin);
    concat->key = currentKey();
    concat->items = {self, list};
    return concat;
  }

  NodePtr parseObject() {
    enter();
    const int open = line_;
    advance();  // '{'
    NodePtr node = makeNode(Kind::kObject, Origin{file_, open});
    containers_.emplace_back('{', open);
    parseFields(*node, true, open);
    containers_.pop_back();
    leave();
    return node;
  }

  // --- keys ---------------------------------------------------------------------------------
  // A path expression: elements separated by '.', each made of quoted and
  // unquoted pieces ("a.b" is one element).
  std::vector<std::string> parseKeyPath() {
    std::vector<std::string> elements;
    std::string cur;
    bool have = false;
    while (!atEnd()) {
      const char c = peek();
      if (c == '"') {
        cur += startsWith("\"\"\"") ? parseTripleQuoted() : parseQuoted();
        have = true;
      } else if (c == '.') {
        if (!have)
          fail("empty element in a key (two dots in a row, or a leading dot)");
        elements.push_back(std::move(cur));
        cur.clear();
        have = false;
        advance();
      } else if (isSpace(c)) {
        // Whitespace belongs to the key only when more key text follows.
        const size_t save = pos_;
        skipSpaces();
        if (have && !atEnd() && !atComment() && peek() != '.' && peek() != '\n' &&
            (peek() == '"' || !isForbidden(peek()))) {
          cur.append(text_.substr(save, pos_ - save));
          continue;
        }
        pos_ = save;
        break;
      } else if (c == '\n' || isForbidden(c) || atComment()) {
        break;
      } else {
        const size_t start = pos_;
        while (!atEnd() && !isSpace(peek()) && peek() != '\n' && peek() != '.' &&
               !isForbidden(peek()) && !atComment()) {
          ++pos_;
        }
        cur.append(text_.substr(start, pos_ - start));
        have = true;
      }
      if (elements.size() > static_cast<size_t>(kMaxDepth)) {
        fail(fmt::format("key has too many elements (limit {})", kMaxDepth));
      }
    }
    if (!have) {
      if (!elements.empty())
        fail("a key cannot end with '.'");
      if (atEnd() || atNewline())
        fail("expected a key");
      if (peek() == '@' || (isForbidden(peek()) && peek() != '=' && peek() != ':')) {
        fail("expected a key, found reserved character " + showChar(peek()) +
             " (put the key in quotes)");
      }
      fail("expected a key, found " + showChar(peek()));
    }
    elements.push_back(std::move(cur));
    return elements;
  }

  // --- values -------------------------------------------------------------------------------
  // A value up to the end of the line, ',' or a closing bracket. Several
  // pieces on one line concatenate (`5 seconds`, `"a"${X}`).
  NodePtr parseValue() {
    enter();
    std::vector<NodePtr> parts;
    std::string pendingSpace;
    Origin spaceOrigin;
    while (!atEnd()) {
      const char c = peek();
      if (c == '\n' || c == ',' || c == '}' || c == ']' || atComment())
        break;
      if (isSpace(c)) {
        const size_t start = pos_;
        spaceOrigin = here();
        skipSpaces();
        pendingSpace.assign(text_.substr(start, pos_ - start));
        continue;
      }
      if (!parts.empty() && !pendingSpace.empty()) {
        NodePtr ws = makeNode(Kind::kString, spaceOrigin);
        ws->text = pendingSpace;
        ws->whitespace = true;
        parts.push_back(ws);
      }
      pendingSpace.clear();
      if (c == '"') {
        const Origin origin = here();
        NodePtr s = makeNode(Kind::kString, origin);
        s->text = startsWith("\"\"\"") ? parseTripleQuoted() : parseQuoted();
        s->quoted = true;
        parts.push_back(s);
      } else if (c == '{') {
        parts.push_back(parseObject());
      } else if (c == '[') {
        parts.push_back(parseList());
      } else if (c == '$' && peek(1) == '{') {
        parts.push_back(parseSubstitution());
      } else if (isForbidden(c)) {
        failForbidden(c);
      } else {
        parts.push_back(parseUnquoted());
      }
    }
    leave();
    if (parts.empty())
      fail("expected a value");
    return combine(std::move(parts));
  }

  [[noreturn]] void failForbidden(char c) {
    if (c == '=' || c == ':' || (c == '+' && peek(1) == '=')) {
      if (!containers_.empty() && containers_.back().first == '[') {
        fail(fmt::format("unexpected {} inside the list opened at line {} (missing ']'?)",
                         showChar(c), containers_.back().second));
      }
      fail(
          fmt::format("unexpected {} in a value (missing new line or ',' between fields? "
                      "quote the value if it contains {})",
                      showChar(c), showChar(c)));
    }
    fail("reserved character " + showChar(c) +
         " is not allowed outside quotes (put the value in quotes)");
  }

  static NodePtr combine(std::vector<NodePtr> parts) {
    if (parts.size() == 1)
      return std::move(parts.front());
    bool simple = true;
    for (const auto& p : parts) {
      if (p->kind != Kind::kString && p->kind != Kind::kNumber && p->kind != Kind::kBool &&
          p->kind != Kind::kNull) {
        simple = false;
      }
    }
    if (simple) {
      NodePtr s = makeNode(Kind::kString, parts.front()->origin);
      for (const auto& p : parts)
        s->text += p->text;
      s->quoted = true;
      return s;
    }
    NodePtr concat = makeNode(Kind::kConcatenation, parts.front()->origin);
    concat->items = std::move(parts);
    return concat;
  }

  NodePtr parseUnquoted() {
    const Origin origin = here();
    const size_t start = pos_;
    while (!atEnd()) {
      const char c = peek();
      if (isSpace(c) || c == '\n' || isForbidden(c) || atComment())
        break;
      ++pos_;
    }
    const std::string_view token = text_.substr(start, pos_ - start);
    NodePtr n = makeNode(Kind::kString, origin);
    n->text = std::string(token);
    if (token == "true" || token == "false") {
      n->kind = Kind::kBool;
      n->boolean = token == "true";
    } else if (token == "null") {
      n->kind = Kind::kNull;
    } else if (detail::looksLikeNumber(token)) {
      std::int64_t i = 0;
      const auto ir = std::from_chars(token.data(), token.data() + token.size(), i);
      double d = 0;
      const auto dr = std::from_chars(token.data(), token.data() + token.size(), d);
      if (ir.ec == std::errc() && ir.ptr == token.data() + token.size()) {
        n->kind = Kind::kNumber;
        n->integer = i;
        n->number = static_cast<double>(i);
      } else if (dr.ec == std::errc() && dr.ptr == token.data() + token.size()) {
        n->kind = Kind::kNumber;
        n->number = d;
      }
    }
    return n;
  }

  std::string parseQuoted() {
    const int startLine = line_;
    advance();  // opening quote
    std::string out;
    for (;;) {
      if (atEnd())
        fail(startLine, "unterminated quoted string (reached end of file)");
      const char c = peek();
      if (c == '"') {
        advance();
        return out;
      }
      if (c == '\n') {
        fail(startLine,
             "unterminated quoted string (a quoted string cannot span lines; use \"\"\" for "
             "multi-line text)");
      }
      if (c != '\\') {
        out.push_back(c);
        ++pos_;
        continue;
      }
      ++pos_;
      if (atEnd() || peek() == '\n')
        fail(startLine, "unterminated quoted string");
      const char e = peek();
      ++pos_;
      constexpr std::string_view kEscapes = "\"\\/bfnrt";
      constexpr std::string_view kMeanings = "\"\\/\b\f\n\r\t";
      if (const size_t k = kEscapes.find(e); e != '\0' && k != std::string_view::npos) {
        out.push_back(kMeanings[k]);
      } else if (e == 'u') {
        std::uint32_t cp = parseHex4();
        if (cp >= 0xD800 && cp <= 0xDBFF && startsWith("\\u")) {
          const size_t save = pos_;
          pos_ += 2;
          const std::uint32_t low = parseHex4();
          if (low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else {
            pos_ = save;
          }
        }
        detail::appendUtf8(out, cp);
      } else {
        fail("invalid escape sequence \\" + std::string(1, e) + " in a quoted string");
      }
    }
  }

  std::uint32_t parseHex4() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = peek();
      std::uint32_t d = 0;
      if (atEnd()) {
        fail("invalid \\u escape (needs 4 hex digits)");
      } else if (c >= '0' && c <= '9') {
        d = static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        fail("invalid \\u escape (needs 4 hex digits)");
      }
      v = v * 16 + d;
      ++pos_;
    }
    return v;
  }

  std::string parseTripleQuoted() {
    const int startLine = line_;
    advance(3);
    size_t end = text_.find("\"\"\"", pos_);
    if (end == std::string_view::npos) {
      fail(startLine, "unterminated triple-quoted string (reached end of file)");
    }
    // Quotes right before the closing """ belong to the string.
    while (end + 3 < text_.size() && text_[end + 3] == '"')
      ++end;
    std::string out(text_.substr(pos_, end - pos_));
    advance(end + 3 - pos_);
    return out;
  }

  NodePtr parseList() {
    enter();
    const int open = line_;
    advance();  // '['
    NodePtr list = makeNode(Kind::kList, Origin{file_, open});
    containers_.emplace_back('[', open);
    for (;;) {
      skipAll();
      if (atEnd())
        fail(open, "unterminated list: the '[' on this line is never closed");
      const char c = peek();
      if (c == ']') {
        advance();
        break;
      }
      if (c == ',')
        fail("unexpected ',' in a list (empty element)");
      if (c == '}') {
        fail(fmt::format("unexpected '}}' inside the list opened at line {} (missing ']'?)", open));
      }
      NodePtr item = parseValue();
      if (item->key.empty())
        item->key = currentKey();
      list->items.push_back(std::move(item));
      skipSpacesAndComment();
      if (atEnd() || peek() == '\n' || peek() == ']')
        continue;
      if (peek() == ',') {
        advance();
        continue;
      }
      fail(fmt::format("expected ',' or ']' in the list opened at line {}, found {}", open,
                       showChar(peek())));
    }
    containers_.pop_back();
    leave();
    return list;
  }

  NodePtr parseSubstitution() {
    const Origin origin = here();
    advance(2);  // "${"
    NodePtr n = makeNode(Kind::kSubstitution, origin);
    if (!atEnd() && peek() == '?') {
      n->optional = true;
      advance();
    }
    skipSpaces();
    if (atEnd() || atNewline())
      fail(origin.line, "unterminated substitution: missing '}'");
    if (peek() == '}')
      fail("empty substitution ${}");
    n->path = parseKeyPath();
    n->text = joinPath(n->path);
    n->key = currentKey();
    skipSpaces();
    if (atEnd() || atNewline())
      fail(origin.line, "unterminated substitution: missing '}'");
    if (peek() != '}')
      fail("unexpected " + showChar(peek()) + " in a substitution");
    advance();
    return n;
  }

  // --- include ------------------------------------------------------------------------------
  bool isIncludeStatement() const {
    if (!startsWith("include") || !isSpace(peek(7)))
      return false;
    size_t i = pos_ + 7;
    while (i < text_.size() && isSpace(text_[i]))
      ++i;
    const std::string_view rest = text_.substr(i);
    return rest.substr(0, 1) == "\"" || rest.substr(0, 5) == "file(" ||
           rest.substr(0, 9) == "required(" || rest.substr(0, 4) == "url(" ||
           rest.substr(0, 10) == "classpath(";
  }

  void parseInclude(Node& obj) {
    const int line = line_;
    advance(7);
    skipSpaces();
    bool required = false;
    int parens = 0;
    if (startsWith("required(")) {
      required = true;
      advance(9);
      ++parens;
      skipSpaces();
    }
    if (startsWith("url(") || startsWith("classpath(")) {
      fail("include url(...) and classpath(...) are not supported; use include file(\"...\")");
    }
    if (startsWith("file(")) {
      advance(5);
      ++parens;
      skipSpaces();
    }
    if (atEnd() || peek() != '"' || startsWith("\"\"\"")) {
      fail("include needs a file name in quotes");
    }
    const std::string name = parseQuoted();
    for (; parens > 0; --parens) {
      skipSpaces();
      if (atEnd() || peek() != ')')
        fail("expected ')' in the include statement");
      advance();
    }
    skipSpacesAndComment();
    if (!atEnd() && peek() != ',' && peek() != '\n' && peek() != '}') {
      fail("expected a new line after the include statement, found " + showChar(peek()));
    }
    if (!atEnd() && peek() == ',')
      advance();
    if (!options_.allowIncludes)
      fail(line, "include statements are not allowed here");
    if (name.empty())
      fail(line, "include needs a file name");

    const std::string path = name.front() == '/' ? name : dirName(file_) + name;
    std::string found;
    if (isRegularFile(path)) {
      found = path;
    } else if (path.find('.', path.rfind('/') + 1) == std::string::npos &&
               isRegularFile(path + ".conf")) {
      found = path + ".conf";
    }
    if (found.empty()) {
      if (required)
        fail(line, "included file not found: " + path);
      LOG_DEBUG("config", "{}:{}: included file {} not found, ignored", file_, line, path);
      return;
    }
    if (includeDepth_ + 1 > detail::kMaxIncludeDepth) {
      fail(line, fmt::format("includes nested too deeply (limit {}; an include cycle?)",
                             detail::kMaxIncludeDepth));
    }
    const std::string text = detail::readConfigFile(found, file_, line);
    NodePtr included = makeNode(Kind::kObject, Origin{found, 1});
    Parser sub(text, found, options_, includeDepth_ + 1, keyStack_);
    sub.depth_ = depth_;
    sub.parseDocument(*included);
    for (auto& f : included->fields)
      detail::mergeField(obj, f.key, f.value);
  }

  std::string_view text_;
  std::string file_;
  const ParseOptions& options_;
  int includeDepth_;
  std::vector<std::string> keyStack_;             // full key path of the value being parsed
  std::vector<std::pair<char, int>> containers_;  // open '{' / '[' and their lines
  size_t pos_ = 0;
  int line_ = 1;
  int depth_ = 0;
};

}  // namespace

NodePtr parse(std::string_view text, const std::string& file, const ParseOptions& options) {
  NodePtr root = makeNode(Kind::kObject, Origin{file, 1});
  Parser parser(text, file, options, 0, {});
  parser.parseDocument(*root);
  detail::resolve(*root, options);
  return root;
}

NodePtr parseFile(const std::string& path, const ParseOptions& options) {
  const std::string text = detail::readConfigFile(path, "", 0);
  return parse(text, path, options);
}

}  // namespace jvb::config::hocon
