// hocon_dump FILE: parses FILE with the project's own HOCON reader
// (config/hocon.*, the one jvb-audio reads jvb.conf with) and prints every
// leaf as one JSON object on stdout:
//   {"a.b.c": {"kind": "string", "value": "x", "line": 12}, ...}
// Lists are leaves (their items are printed as JSON values; objects inside a
// list as nested JSON objects). Includes are honoured; environment
// substitutions (${?X}) are not looked up, so the output depends on the file
// only. Exit status: 0, 2 on a bad command line, 1 with the reader's
// "file:line: key: message" on a parse error.
//
// hocon_dump --load FILE: loads FILE as a jvb.conf with the bridge's own loader
// (config::loadFile, what jvb-audio runs at start-up) at debug log level, so
// its log lines (unknown keys as warnings, known JVB keys it does not use at
// debug) go to stderr; prints "loaded" on stdout. Exit 1 with the loader's
// error on bad input.
//
// Used by the deployment tests to read the shipped HOCON files (Jicofo's
// jicofo.conf) with a real parser, without a third-party HOCON library, and to
// check docs/migration.md against the loader's real behaviour.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/bridge_config.hpp"
#include "config/hocon.hpp"

namespace {

using jvb::config::hocon::Kind;
using jvb::config::hocon::Node;

nlohmann::json value(const Node& n) {
  switch (n.kind) {
    case Kind::kBool:
      return n.boolean;
    case Kind::kNumber:
      if (n.integer)
        return *n.integer;
      return n.number;
    case Kind::kString:
      return n.text;
    case Kind::kList: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : n.items)
        out.push_back(value(*item));
      return out;
    }
    case Kind::kObject: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& f : n.fields)
        out[f.key] = value(*f.value);
      return out;
    }
    default:
      return nullptr;
  }
}

const char* kindName(Kind k) {
  switch (k) {
    case Kind::kBool:
      return "boolean";
    case Kind::kNumber:
      return "number";
    case Kind::kString:
      return "string";
    case Kind::kList:
      return "list";
    case Kind::kObject:
      return "object";
    default:
      return "null";
  }
}

void leaves(const Node& n, std::vector<std::string>& path, nlohmann::json& out) {
  if (n.isObject() && !n.fields.empty()) {
    for (const auto& f : n.fields) {
      path.push_back(f.key);
      leaves(*f.value, path, out);
      path.pop_back();
    }
    return;
  }
  if (path.empty())
    return;
  out[jvb::config::hocon::joinPath(path)] = {
      {"kind", kindName(n.kind)}, {"value", value(n)}, {"line", n.origin.line}};
}

}  // namespace

int main(int argc, char** argv) {
  const bool load = argc == 3 && std::string(argv[1]) == "--load";
  if (argc != 2 && !load) {
    std::fprintf(stderr, "usage: %s [--load] FILE\n", argc > 0 ? argv[0] : "hocon_dump");
    return 2;
  }
  try {
    if (load) {
      jvb::log::setLevel(jvb::log::Level::kDebug);
      jvb::config::LoadOptions options;
      options.useEnvironment = false;
      (void)jvb::config::loadFile(argv[2], options);
      std::printf("loaded\n");
      return 0;
    }
    jvb::config::hocon::ParseOptions options;
    options.useEnvironment = false;
    const auto root = jvb::config::hocon::parseFile(argv[1], options);
    nlohmann::json out = nlohmann::json::object();
    std::vector<std::string> path;
    leaves(*root, path, out);
    std::printf("%s\n", out.dump(1).c_str());
    return 0;
  } catch (const jvb::config::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hocon_dump: %s\n", e.what());
    return 1;
  }
}
