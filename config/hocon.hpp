#pragma once
// A small HOCON reader for jvb.conf files: the subset of HOCON
// (https://github.com/lightbend/config/blob/main/HOCON.md) that real JVB
// deployments use, with file:line kept on every value so that errors point at
// the offending line.
//
// Supported: nested blocks and dotted keys, quoted keys, '=' ':' and 'key {'
// separators, commas or newlines between fields, optional root braces,
// quoted / triple-quoted / unquoted strings, numbers, booleans, null, lists,
// '#' and '//' comments, object merging (later keys win), '+=',
// ${path} and ${?path} substitutions (config first, then the environment),
// value concatenation, and include "file" / include file("...") /
// include required(...).
//
// Every syntax or resolution problem throws ConfigError(file, line, key, msg).
// Inputs are bounded (nesting depth, substitution depth, node count), so the
// reader never crashes or hangs on hostile input.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/bridge_config.hpp"

namespace jvb::config::hocon {

struct Node;
using NodePtr = std::shared_ptr<Node>;

enum class Kind {
  kNull,
  kBool,
  kNumber,
  kString,
  kList,
  kObject,
  // Only while parsing; never present in a tree returned by parse().
  kSubstitution,
  kConcatenation,
  kMerge,
};

struct Field {
  std::string key;
  NodePtr value;
};

struct Node {
  Kind kind = Kind::kNull;
  Origin origin;

  bool boolean = false;                 // kBool
  double number = 0;                    // kNumber
  std::optional<std::int64_t> integer;  // kNumber, when written as an integer
  // kString: the contents; kNumber: the number as written; kSubstitution: the
  // path as written.
  std::string text;
  bool quoted = false;         // kString: was written in quotes
  std::vector<NodePtr> items;  // kList elements; parts of kConcatenation / kMerge
  std::vector<Field> fields;   // kObject, in order of first definition

  // Parser / resolver bookkeeping.
  std::vector<std::string> path;  // kSubstitution target
  bool optional = false;          // kSubstitution: ${?...}
  bool whitespace = false;        // kString: whitespace between concatenated values
  std::string key;                // the key this value was assigned to (for errors)
  int layers = 0;                 // kMerge: how many merges are stacked
  bool resolved = false;
  bool resolving = false;

  bool isObject() const { return kind == Kind::kObject; }
  bool isList() const { return kind == Kind::kList; }
  // Field lookup in an object (exact key); nullptr when absent.
  const Node* find(std::string_view fieldKey) const;
  Node* find(std::string_view fieldKey);
};

struct ParseOptions {
  bool allowIncludes = true;   // honour include statements
  bool useEnvironment = true;  // ${X} not found in the config falls back to getenv
  // Replaces getenv when set (tests).
  std::function<std::optional<std::string>(const std::string&)> environment;
};

// Parses and resolves a whole document. `file` is used in origins and errors,
// and as the base for relative includes.
NodePtr parse(std::string_view text, const std::string& file, const ParseOptions& options = {});
// Reads and parses a file (ConfigError when unreadable).
NodePtr parseFile(const std::string& path, const ParseOptions& options = {});

// Durations, as HOCON's getDuration: a number is milliseconds; a string is
// "<number> [unit]" with ns/us/ms/s/m/h/d, their long forms (nanos, micros,
// millis, seconds, minutes, hours, days, singular or plural) and sec(s),
// min(s), hr(s); no unit means milliseconds. Units are case-insensitive. The
// result is rounded to whole milliseconds; nullopt when not a duration.
std::optional<std::int64_t> parseDurationMillis(std::string_view text);
// Same for a value node; throws ConfigError naming `key` and the value's line.
std::int64_t durationMillis(const Node& value, const std::string& key);

// For messages: "\"abc\"", "70000", "true", "null", "a list", "an object".
std::string describeValue(const Node& value);
// Joins a key path with '.', quoting elements that need it.
std::string joinPath(const std::vector<std::string>& path);

}  // namespace jvb::config::hocon
