// Unit tests of the HOCON reader (config/hocon.hpp).
#include "config/hocon.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

namespace jvb::config::hocon {
namespace {

using Env = std::map<std::string, std::string>;

NodePtr parseText(std::string_view text, const Env& env = {}) {
  ParseOptions options;
  options.environment = [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end())
      return std::nullopt;
    return it->second;
  };
  return parse(text, "test.conf", options);
}

// The node at a dotted path (plain keys only), or nullptr.
const Node* at(const NodePtr& root, std::string_view dotted) {
  const Node* cur = root.get();
  size_t start = 0;
  for (;;) {
    const size_t dot = dotted.find('.', start);
    const std::string key(dotted.substr(start, dot - start));
    if (cur == nullptr || !cur->isObject())
      return nullptr;
    cur = cur->find(key);
    if (dot == std::string_view::npos)
      return cur;
    start = dot + 1;
  }
}

std::string str(const NodePtr& root, std::string_view dotted) {
  const Node* n = at(root, dotted);
  if (n == nullptr)
    return "<missing>";
  return n->text;
}

std::optional<std::int64_t> integer(const NodePtr& root, std::string_view dotted) {
  const Node* n = at(root, dotted);
  if (n == nullptr || n->kind != Kind::kNumber)
    return std::nullopt;
  return n->integer;
}

std::optional<ConfigError> errorOf(std::string_view text, const Env& env = {}) {
  try {
    parseText(text, env);
  } catch (const ConfigError& e) {
    return e;
  }
  return std::nullopt;
}

// --- syntax ---------------------------------------------------------------------------------

TEST(Hocon, NestedBlocksAndDottedPathsAreTheSameTree) {
  auto a = parseText("a { b { c = 1 } }");
  auto b = parseText("a.b.c = 1");
  EXPECT_EQ(integer(a, "a.b.c"), 1);
  EXPECT_EQ(integer(b, "a.b.c"), 1);
  auto mixed = parseText("a.b { c = 1 }\na { b.d = 2 }");
  EXPECT_EQ(integer(mixed, "a.b.c"), 1);
  EXPECT_EQ(integer(mixed, "a.b.d"), 2);
}

TEST(Hocon, QuotedKeyWithDotIsOneKey) {
  auto root = parseText("\"a.b\" = 1\nx.\"y.z\".w = 2");
  ASSERT_NE(root->find("a.b"), nullptr);
  EXPECT_EQ(root->find("a.b")->integer, 1);
  EXPECT_EQ(root->find("a"), nullptr);
  const Node* x = root->find("x");
  ASSERT_NE(x, nullptr);
  ASSERT_NE(x->find("y.z"), nullptr);
  EXPECT_EQ(x->find("y.z")->find("w")->integer, 2);
}

TEST(Hocon, Separators) {
  auto root = parseText("a = 1\nb : 2\nc { d = 3 }\ne={f:4}\ng:{h=5}");
  EXPECT_EQ(integer(root, "a"), 1);
  EXPECT_EQ(integer(root, "b"), 2);
  EXPECT_EQ(integer(root, "c.d"), 3);
  EXPECT_EQ(integer(root, "e.f"), 4);
  EXPECT_EQ(integer(root, "g.h"), 5);
}

TEST(Hocon, CommasAndNewlinesBetweenFields) {
  auto root = parseText("a = 1, b = 2\n\n\nc = 3,\nd { x = 1, y = 2, }\n");
  EXPECT_EQ(integer(root, "a"), 1);
  EXPECT_EQ(integer(root, "b"), 2);
  EXPECT_EQ(integer(root, "c"), 3);
  EXPECT_EQ(integer(root, "d.x"), 1);
  EXPECT_EQ(integer(root, "d.y"), 2);
}

TEST(Hocon, RootBracesAreOptional) {
  auto braced = parseText("\n# comment\n{\n  a = 1\n}\n// trailing comment\n");
  EXPECT_EQ(integer(braced, "a"), 1);
  auto bare = parseText("a = 1");
  EXPECT_EQ(integer(bare, "a"), 1);
  auto empty = parseText("");
  EXPECT_TRUE(empty->fields.empty());
  auto bom = parseText(
      "\xEF\xBB\xBF"
      "a = 1");
  EXPECT_EQ(integer(bom, "a"), 1);
}

TEST(Hocon, QuotedStringsWithJsonEscapes) {
  auto root = parseText(R"(a = "x\"y\\z\/\n\t"
b = "caf\u00e9"
c = "\ud83d\ude00"
d = ""
e = "  spaced  ")");
  EXPECT_EQ(str(root, "a"), "x\"y\\z/\n\t");
  EXPECT_EQ(str(root, "b"), "caf\xC3\xA9");
  EXPECT_EQ(str(root, "c"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(str(root, "d"), "");
  EXPECT_EQ(str(root, "e"), "  spaced  ");
  EXPECT_TRUE(at(root, "a")->quoted);
}

TEST(Hocon, TripleQuotedStrings) {
  auto root =
      parseText("a = \"\"\"line 1\n\"quoted\" \\n raw\nline 3\"\"\"\nb = \"\"\"x\"\"\"\"\nc = 1");
  EXPECT_EQ(str(root, "a"), "line 1\n\"quoted\" \\n raw\nline 3");
  EXPECT_EQ(str(root, "b"), "x\"");
  EXPECT_EQ(integer(root, "c"), 1);
  EXPECT_EQ(at(root, "c")->origin.line, 5);
}

TEST(Hocon, UnquotedStringsKeepInnerSpaces) {
  auto root = parseText(
      "a = 5 seconds\nb = hello   big world   \nc = 10ms\nd = 0.0.0.0\ne = /etc/x.conf\n"
      "f = abc // comment\ng = abc# comment\nh = yes\ni = some-thing_else");
  EXPECT_EQ(str(root, "a"), "5 seconds");
  EXPECT_EQ(at(root, "a")->kind, Kind::kString);
  EXPECT_EQ(str(root, "b"), "hello   big world");
  EXPECT_EQ(str(root, "c"), "10ms");
  EXPECT_EQ(str(root, "d"), "0.0.0.0");
  EXPECT_EQ(str(root, "e"), "/etc/x.conf");
  EXPECT_EQ(str(root, "f"), "abc");
  EXPECT_EQ(str(root, "g"), "abc");
  EXPECT_EQ(str(root, "h"), "yes");
  EXPECT_EQ(at(root, "h")->kind, Kind::kString);
  EXPECT_EQ(str(root, "i"), "some-thing_else");
}

TEST(Hocon, NumbersBooleansNull) {
  auto root = parseText(
      "a = 10000\nb = -1\nc = 0.1\nd = 1e3\ne = true\nf = false\ng = null\n"
      "h = 99999999999999999999\ni = .75");
  EXPECT_EQ(integer(root, "a"), 10000);
  EXPECT_EQ(integer(root, "b"), -1);
  ASSERT_EQ(at(root, "c")->kind, Kind::kNumber);
  EXPECT_FALSE(at(root, "c")->integer.has_value());
  EXPECT_DOUBLE_EQ(at(root, "c")->number, 0.1);
  EXPECT_EQ(at(root, "c")->text, "0.1");
  EXPECT_DOUBLE_EQ(at(root, "d")->number, 1000.0);
  EXPECT_EQ(at(root, "e")->kind, Kind::kBool);
  EXPECT_TRUE(at(root, "e")->boolean);
  EXPECT_FALSE(at(root, "f")->boolean);
  EXPECT_EQ(at(root, "g")->kind, Kind::kNull);
  EXPECT_EQ(at(root, "h")->kind, Kind::kNumber);  // too big for int64: a double
  EXPECT_FALSE(at(root, "h")->integer.has_value());
  EXPECT_EQ(at(root, "i")->kind, Kind::kString);  // as in HOCON; typed getters convert
}

TEST(Hocon, Lists) {
  auto root = parseText(
      "a = [1, 2, 3]\n"
      "b = [\n  \"x\",\n  \"y\"\n]\n"
      "c = [1, 2,]\n"
      "d = []\n"
      "e = [\n  { k = 1 },\n  { k = 2, j = \"z\" }\n]\n"
      "f = [[1, 2], [3]]\n"
      "g = [ a\n b # comment\n c // comment\n ]");
  ASSERT_TRUE(at(root, "a")->isList());
  ASSERT_EQ(at(root, "a")->items.size(), 3u);
  EXPECT_EQ(at(root, "a")->items[2]->integer, 3);
  ASSERT_EQ(at(root, "b")->items.size(), 2u);
  EXPECT_EQ(at(root, "b")->items[1]->text, "y");
  EXPECT_EQ(at(root, "b")->items[1]->origin.line, 4);
  EXPECT_EQ(at(root, "c")->items.size(), 2u);
  EXPECT_TRUE(at(root, "d")->items.empty());
  const Node* e = at(root, "e");
  ASSERT_EQ(e->items.size(), 2u);
  EXPECT_EQ(e->items[0]->find("k")->integer, 1);
  EXPECT_EQ(e->items[1]->find("j")->text, "z");
  EXPECT_EQ(e->items[1]->find("j")->origin.line, 10);
  EXPECT_EQ(at(root, "f")->items[0]->items.size(), 2u);
  ASSERT_EQ(at(root, "g")->items.size(), 3u);
  EXPECT_EQ(at(root, "g")->items[2]->text, "c");
}

TEST(Hocon, Comments) {
  auto root = parseText(
      "# hash comment\n// slash comment\na = 1 # trailing\nb = \"x # not a comment\"\n"
      "c { # after brace\n  d = 2 // trailing\n}\n");
  EXPECT_EQ(integer(root, "a"), 1);
  EXPECT_EQ(str(root, "b"), "x # not a comment");
  EXPECT_EQ(integer(root, "c.d"), 2);
}

TEST(Hocon, ObjectsMergeAndLaterValuesWin) {
  auto root = parseText(
      "a { x = 1, y = 1 }\na { y = 2, z = 3 }\n"  // merge, y overridden
      "b = 1\nb = 2\n"                            // duplicate: last wins
      "c { x = 1 }\nc = 5\n"                      // non-object replaces object
      "d = 5\nd { x = 1 }\n"                      // object replaces non-object
      "e = { x = 1 }\ne = { y = 2 }\n");          // '=' merges objects too
  EXPECT_EQ(integer(root, "a.x"), 1);
  EXPECT_EQ(integer(root, "a.y"), 2);
  EXPECT_EQ(integer(root, "a.z"), 3);
  EXPECT_EQ(integer(root, "b"), 2);
  EXPECT_EQ(integer(root, "c"), 5);
  EXPECT_EQ(integer(root, "d.x"), 1);
  EXPECT_EQ(integer(root, "e.x"), 1);
  EXPECT_EQ(integer(root, "e.y"), 2);
}

TEST(Hocon, FieldsKeepOrderOfFirstDefinition) {
  auto root = parseText("z = 1\na = 2\nm = 3\nz = 4");
  ASSERT_EQ(root->fields.size(), 3u);
  EXPECT_EQ(root->fields[0].key, "z");
  EXPECT_EQ(root->fields[1].key, "a");
  EXPECT_EQ(root->fields[2].key, "m");
  EXPECT_EQ(root->fields[0].value->integer, 4);
}

TEST(Hocon, PlusEqualsAppends) {
  auto root = parseText("a = [1]\na += 2\nb += x\nc.d += 1\nc.d += 2");
  ASSERT_EQ(at(root, "a")->items.size(), 2u);
  EXPECT_EQ(at(root, "a")->items[1]->integer, 2);
  ASSERT_EQ(at(root, "b")->items.size(), 1u);
  EXPECT_EQ(at(root, "b")->items[0]->text, "x");
  EXPECT_EQ(at(root, "c.d")->items.size(), 2u);
  auto blocks = parseText("a { b = [1] }\na { b += 2 }\na.b += 3\nr = ${a.b}");
  ASSERT_EQ(at(blocks, "a.b")->items.size(), 3u);
  EXPECT_EQ(at(blocks, "a.b")->items[2]->integer, 3);
  EXPECT_EQ(at(blocks, "r")->items.size(), 3u);
  auto err = errorOf("a = 1\na += 2");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->line(), 2);
}

TEST(Hocon, OriginsTrackLines) {
  auto root = parseText("\n\na {\n  b = 1\n\n  c = [\n    2\n  ]\n}\n");
  EXPECT_EQ(at(root, "a")->origin.line, 3);
  EXPECT_EQ(at(root, "a.b")->origin.line, 4);
  EXPECT_EQ(at(root, "a.c")->origin.line, 6);
  EXPECT_EQ(at(root, "a.c")->items[0]->origin.line, 7);
  EXPECT_EQ(at(root, "a.b")->origin.file, "test.conf");
  EXPECT_EQ(at(root, "a.b")->origin.describe(), "test.conf:4");
}

TEST(Hocon, CrLfLineEndings) {
  auto root = parseText("a {\r\n  b = x y\r\n  c = \"q\"\r\n}\r\n");
  EXPECT_EQ(str(root, "a.b"), "x y");
  EXPECT_EQ(str(root, "a.c"), "q");
  EXPECT_EQ(at(root, "a.c")->origin.line, 3);
}

// --- substitutions --------------------------------------------------------------------------

TEST(Hocon, SubstitutionFromConfigIncludingForwardReferences) {
  auto root = parseText(
      "stats.interval = 5 seconds\n"
      "presence = ${stats.interval}\n"
      "early = ${late}\n"
      "late = 42\n"
      "obj = ${stats}\n");
  EXPECT_EQ(str(root, "presence"), "5 seconds");
  EXPECT_EQ(at(root, "presence")->origin.line, 1);  // the origin of the referenced value
  EXPECT_EQ(integer(root, "early"), 42);
  EXPECT_EQ(str(root, "obj.interval"), "5 seconds");
}

TEST(Hocon, SubstitutionSeesTheFinalValue) {
  auto root = parseText("a = 1\nb = ${a}\na = 2");
  EXPECT_EQ(integer(root, "b"), 2);
}

TEST(Hocon, SubstitutionFromEnvironment) {
  auto root = parseText("port = ${JVB_PORT}\nhost = ${?XMPP_SERVER}",
                        {{"JVB_PORT", "10001"}, {"XMPP_SERVER", "xmpp"}});
  EXPECT_EQ(str(root, "port"), "10001");
  EXPECT_EQ(at(root, "port")->kind, Kind::kString);
  EXPECT_EQ(at(root, "port")->origin.line, 1);
  EXPECT_EQ(str(root, "host"), "xmpp");
}

TEST(Hocon, ConfigWinsOverEnvironment) {
  auto root = parseText("HOME = here\nx = ${HOME}", {{"HOME", "/root"}});
  EXPECT_EQ(str(root, "x"), "here");
}

TEST(Hocon, OptionalSubstitution) {
  auto root = parseText(
      "a = 10000\na = ${?UNSET}\n"    // keeps the previous value
      "b = ${?UNSET}\n"               // no field at all
      "c = 1\nc = ${?SET}\n"          // overridden
      "d { x = 1 }\nd = ${?UNSET}\n"  // object stays
      "e = [${?UNSET}, 1]\n",
      {{"SET", "two"}});
  EXPECT_EQ(integer(root, "a"), 10000);
  EXPECT_EQ(root->find("b"), nullptr);
  EXPECT_EQ(str(root, "c"), "two");
  EXPECT_EQ(integer(root, "d.x"), 1);
  ASSERT_EQ(at(root, "e")->items.size(), 1u);
}

TEST(Hocon, UnresolvedSubstitutionIsAnErrorWithLine) {
  auto err = errorOf("a {\n  b {\n    port = ${JVB_PORT}\n  }\n}\n");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->file(), "test.conf");
  EXPECT_EQ(err->line(), 3);
  EXPECT_EQ(err->key(), "a.b.port");
  EXPECT_NE(err->message().find("${JVB_PORT}"), std::string::npos);
}

TEST(Hocon, ValueConcatenation) {
  auto root = parseText(
      "domain = example.com\n"
      "jid = \"jvbbrewery@internal.\"${domain}\n"
      "path = ${HOME}/x\n"
      "text = foo ${?UNSET} bar\n"
      "list = [1] [2, 3]\n"
      "base { a = 1 }\n"
      "obj = ${base} { b = 2 }\n",
      {{"HOME", "/home/jvb"}});
  EXPECT_EQ(str(root, "jid"), "jvbbrewery@internal.example.com");
  EXPECT_EQ(str(root, "path"), "/home/jvb/x");
  EXPECT_EQ(str(root, "text"), "foo  bar");
  EXPECT_EQ(at(root, "list")->items.size(), 3u);
  EXPECT_EQ(integer(root, "obj.a"), 1);
  EXPECT_EQ(integer(root, "obj.b"), 2);
  auto err = errorOf("a = [1]\nb = ${a} x");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->line(), 2);
}

TEST(Hocon, SubstitutedObjectMergesWithLaterBlock) {
  auto root = parseText("defaults { port = 1, host = h }\nsrv = ${defaults}\nsrv { port = 2 }");
  EXPECT_EQ(integer(root, "srv.port"), 2);
  EXPECT_EQ(str(root, "srv.host"), "h");
  EXPECT_EQ(integer(root, "defaults.port"), 1);  // the original is untouched
}

TEST(Hocon, SelfReferenceSeesThePreviousValue) {
  auto root = parseText("a = 1\na = ${a}\nlist = [1]\nlist = ${list} [2]");
  EXPECT_EQ(integer(root, "a"), 1);
  EXPECT_EQ(at(root, "list")->items.size(), 2u);
}

TEST(Hocon, SubstitutionCyclesAreErrors) {
  EXPECT_TRUE(errorOf("a = ${b}\nb = ${a}"));
  EXPECT_TRUE(errorOf("a { b = ${a} }"));
  EXPECT_TRUE(errorOf("a = ${a}"));
}

TEST(Hocon, SubstitutionBlowUpIsBounded) {
  std::string text = "l0 = [1, 2, 3, 4, 5, 6, 7, 8]\n";
  for (int i = 1; i < 30; ++i) {
    text += fmt::format("l{} = [${{l{}}}, ${{l{}}}, ${{l{}}}, ${{l{}}}]\n", i, i - 1, i - 1, i - 1,
                        i - 1);
  }
  auto err = errorOf(text);
  ASSERT_TRUE(err);
  EXPECT_NE(err->message().find("too large"), std::string::npos);
}

// --- includes -------------------------------------------------------------------------------

class HoconInclude : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           fmt::format("jvb-hocon-test-{}-{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }
  std::filesystem::path dir_;
};

TEST_F(HoconInclude, IncludesAreRelativeToTheIncludingFile) {
  write("common.conf", "videobridge.ice.udp.port = 10001\nshared = yes\n");
  write("more", "extra = 1\n");
  const auto main = write("main.conf",
                          "include \"common.conf\"\nvideobridge {\n  include file(\"more\")\n}\n"
                          "videobridge.ice.udp.bind = x\n");
  auto root = parseFile(main);
  EXPECT_EQ(integer(root, "videobridge.ice.udp.port"), 10001);
  EXPECT_EQ(at(root, "videobridge.ice.udp.port")->origin.file, (dir_ / "common.conf").string());
  EXPECT_EQ(at(root, "videobridge.ice.udp.port")->origin.line, 1);
  EXPECT_EQ(str(root, "videobridge.ice.udp.bind"), "x");
  EXPECT_EQ(integer(root, "videobridge.extra"), 1);
}

TEST_F(HoconInclude, MissingIncludeIsIgnoredUnlessRequired) {
  const auto optional = write("a.conf", "include \"nope.conf\"\na = 1\n");
  EXPECT_EQ(integer(parseFile(optional), "a"), 1);
  const auto required = write("b.conf", "a = 1\ninclude required(file(\"nope.conf\"))\n");
  try {
    parseFile(required);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 2);
    EXPECT_NE(e.message().find("not found"), std::string::npos);
  }
}

TEST_F(HoconInclude, IncludeCycleIsBounded) {
  const auto self = write("self.conf", "a = 1\ninclude \"self.conf\"\n");
  EXPECT_THROW(parseFile(self), ConfigError);
}

TEST_F(HoconInclude, ErrorsInIncludedFilesNameThatFile) {
  write("bad.conf", "\n\nx = @\n");
  const auto main = write("main.conf", "include \"bad.conf\"\n");
  try {
    parseFile(main);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), (dir_ / "bad.conf").string());
    EXPECT_EQ(e.line(), 3);
    EXPECT_EQ(e.key(), "x");
  }
}

TEST(Hocon, IncludesCanBeDisabled) {
  ParseOptions options;
  options.allowIncludes = false;
  try {
    parse("a = 1\ninclude \"/etc/passwd\"\n", "x.conf", options);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 2);
  }
  EXPECT_TRUE(errorOf("include url(\"http://x\")"));
  // "include" not followed by a file name is an ordinary key
  EXPECT_EQ(integer(parseText("include = 1"), "include"), 1);
}

// --- errors ---------------------------------------------------------------------------------

struct ErrorCase {
  const char* name;
  const char* text;
  int line;
  const char* key;
  const char* messagePart;
};

class HoconErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(HoconErrors, ReportLineAndKey) {
  const ErrorCase& c = GetParam();
  auto err = errorOf(c.text);
  ASSERT_TRUE(err) << c.text;
  EXPECT_EQ(err->file(), "test.conf");
  EXPECT_EQ(err->line(), c.line) << err->what();
  EXPECT_EQ(err->key(), c.key) << err->what();
  EXPECT_NE(err->message().find(c.messagePart), std::string::npos) << err->what();
}

INSTANTIATE_TEST_SUITE_P(
    Syntax, HoconErrors,
    ::testing::Values(
        ErrorCase{"UnterminatedBlock", "a = 1\nvideobridge {\n  ice {\n    x = 1\n  }\n", 2,
                  "videobridge", "never closed"},
        ErrorCase{"UnterminatedRootBlock", "{\n a = 1\n", 1, "", "never closed"},
        ErrorCase{"UnterminatedString", "a {\n  b = \"abc\n  c = 1\n}\n", 2, "a.b",
                  "unterminated quoted string"},
        ErrorCase{"UnterminatedStringAtEof", "a {\n  b = \"abc", 2, "a.b", "unterminated"},
        ErrorCase{"UnterminatedTripleString", "a = 1\nb = \"\"\"abc\n\n", 2, "b",
                  "unterminated triple-quoted"},
        ErrorCase{"UnterminatedListAtEof", "a {\n  l = [\n    1,\n    2\n", 2, "a.l",
                  "never closed"},
        ErrorCase{"UnterminatedListThenField", "a {\n  l = [1, 2\n  b = 3\n}\n", 3, "a.l",
                  "inside the list opened at line 2"},
        ErrorCase{"ListClosedByBrace", "a {\n  l = [1, 2\n}\n", 3, "a.l", "missing ']'"},
        ErrorCase{"AtOutsideQuotes", "x {\n  USERNAME = jvb@example.com\n}\n", 2, "x.USERNAME",
                  "reserved character '@'"},
        ErrorCase{"AtInKey", "\n a@b = 1\n", 2, "a", "reserved character '@'"},
        ErrorCase{"StrayCloseBrace", "a = 1\n}\n", 2, "", "unexpected '}'"},
        ErrorCase{"TwoFieldsOnOneLine", "a = 1 b = 2\n", 1, "a", "unexpected '='"},
        ErrorCase{"MissingValue", "a {\n  b =\n}\n", 2, "a.b", "missing value"},
        ErrorCase{"MissingSeparator", "a {\n  b\n}\n", 2, "a.b", "expected '=', ':' or '{'"},
        ErrorCase{"BadEscape", "a = \"x\\qy\"\n", 1, "a", "invalid escape"},
        ErrorCase{"EmptyKeyElement", "a..b = 1\n", 1, "", "empty element"},
        ErrorCase{"UnterminatedSubstitution", "a = 1\nb = ${a\n", 2, "b",
                  "unterminated substitution"},
        ErrorCase{"RootList", "[1, 2]", 1, "", "must be an object"},
        ErrorCase{"DoubleComma", "a = [1,,2]", 1, "a", "empty element"},
        ErrorCase{"TextAfterRoot", "{ a = 1 }\nb = 2", 2, "", "after the closing"}),
    [](const ::testing::TestParamInfo<ErrorCase>& p) { return std::string(p.param.name); });

TEST(Hocon, DeepNestingIsAnErrorNotACrash) {
  EXPECT_TRUE(errorOf(std::string(100000, '[')));
  EXPECT_TRUE(errorOf("a = " + std::string(100000, '[')));
  EXPECT_TRUE(errorOf("a = " + std::string(100000, '{')));
  std::string dotted = "a";
  for (int i = 0; i < 1000; ++i)
    dotted += ".a";
  EXPECT_TRUE(errorOf(dotted + " = 1"));
  std::string chain;
  for (int i = 0; i < 2000; ++i)
    chain += fmt::format("a{} = ${{a{}}}\n", i, i + 1);
  EXPECT_TRUE(errorOf(chain + "a2000 = 1\n"));
  std::string layers = "a = 1\n";
  for (int i = 0; i < 1000; ++i)
    layers += "a = ${?X}\n";
  EXPECT_TRUE(errorOf(layers));
}

// --- durations ------------------------------------------------------------------------------

TEST(HoconDuration, Units) {
  const std::pair<const char*, std::int64_t> cases[] = {{"5 seconds", 5000},
                                                        {"5 s", 5000},
                                                        {"5s", 5000},
                                                        {"30 secs", 30000},
                                                        {"10ms", 10},
                                                        {"10 milliseconds", 10},
                                                        {"1 min", 60000},
                                                        {"1 minute", 60000},
                                                        {"1m", 60000},
                                                        {"2 hours", 7200000},
                                                        {"1 h", 3600000},
                                                        {"1 day", 86400000},
                                                        {"2d", 172800000},
                                                        {"500 us", 1},
                                                        {"499 micros", 0},
                                                        {"1500000 ns", 2},
                                                        {"1.5 seconds", 1500},
                                                        {"150", 150},
                                                        {" 7 ms ", 7},
                                                        {"1 minutes", 60000},
                                                        {"24 hours", 86400000},
                                                        {"1 Second", 1000},
                                                        {"abc", -1},
                                                        {"", -1},
                                                        {"5 fortnights", -1},
                                                        {"-", -1},
                                                        {"1e999 s", -1}};
  for (const auto& [text, ms] : cases) {
    const auto got = parseDurationMillis(text);
    if (ms < 0) {
      EXPECT_FALSE(got.has_value()) << text;
    } else {
      EXPECT_EQ(got, ms) << text;
    }
  }
}

TEST(HoconDuration, NodesAndErrors) {
  auto root = parseText("a = 150\nb = 5 seconds\nc = \"1 minute\"\nd = 5 lightyears\ne = [1]");
  EXPECT_EQ(durationMillis(*at(root, "a"), "a"), 150);
  EXPECT_EQ(durationMillis(*at(root, "b"), "b"), 5000);
  EXPECT_EQ(durationMillis(*at(root, "c"), "c"), 60000);
  try {
    durationMillis(*at(root, "d"), "x.d");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 4);
    EXPECT_EQ(e.key(), "x.d");
    EXPECT_NE(e.message().find("\"5 lightyears\""), std::string::npos);
  }
  EXPECT_THROW(durationMillis(*at(root, "e"), "e"), ConfigError);
}

TEST(Hocon, JoinPathQuotesWhereNeeded) {
  EXPECT_EQ(joinPath({"a", "b"}), "a.b");
  EXPECT_EQ(joinPath({"a.b", "c"}), "\"a.b\".c");
  EXPECT_EQ(joinPath({"", "x y"}), "\"\".\"x y\"");
}

}  // namespace
}  // namespace jvb::config::hocon
