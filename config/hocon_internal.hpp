#pragma once
// Internals shared by hocon.cpp (parser) and hocon_resolve.cpp (merging and
// substitution resolution). Not part of the library's interface.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/hocon.hpp"

namespace jvb::config::hocon::detail {

// Limits that keep hostile inputs cheap.
inline constexpr int kMaxDepth = 64;             // nesting of blocks / lists / key paths
inline constexpr int kMaxMergeLayers = 64;       // stacked overrides of one unresolved value
inline constexpr int kMaxResolveDepth = 256;     // nested substitution resolution
inline constexpr std::size_t kMaxNodes = 50000;  // nodes created by copies during resolution
inline constexpr int kMaxIncludeDepth = 8;
inline constexpr std::size_t kMaxFileBytes = 4u << 20;

bool isUnresolved(const Node& n);

NodePtr makeNode(Kind kind, const Origin& origin);

// Assigns `value` to obj.fields[key] with HOCON's rules: object + object
// merge, anything else replaces (keeping an unresolved older value for
// ${?x} fallback and object merging).
void mergeField(Node& obj, const std::string& key, NodePtr value);

// Resolves every substitution / concatenation in `root` in place.
void resolve(Node& root, const ParseOptions& options);

// Appends code point `cp` as UTF-8.
void appendUtf8(std::string& out, std::uint32_t cp);
// A JSON-style number: -?digits(.digits)?([eE][+-]?digits)?
bool looksLikeNumber(std::string_view s);

// Reads at most kMaxFileBytes of a regular file; ConfigError otherwise.
std::string readConfigFile(const std::string& path, const std::string& includedFrom,
                           int includeLine);

}  // namespace jvb::config::hocon::detail
