// Command-line flags of jvb-audio.
#include <string>
#include <string_view>

#include "config/bridge_config.hpp"

namespace jvb::config {

namespace {

constexpr std::string_view kLevels = "trace, debug, info, warn, error or off";

// The value of `--name VALUE` or `--name=VALUE`; advances `i` past VALUE.
std::string flagValue(std::string_view flag, std::string_view arg, int argc,
                      const char* const* argv, int& i) {
  if (arg.size() > flag.size() && arg[flag.size()] == '=') {
    std::string value(arg.substr(flag.size() + 1));
    if (value.empty())
      throw UsageError(std::string(flag) + " needs a value");
    return value;
  }
  if (i + 1 >= argc || argv[i + 1] == nullptr) {
    throw UsageError(std::string(flag) + " needs a value");
  }
  const std::string_view next = argv[i + 1];
  if (next.empty() || next.substr(0, 2) == "--") {
    throw UsageError(std::string(flag) + " needs a value");
  }
  ++i;
  return std::string(next);
}

bool isFlag(std::string_view arg, std::string_view flag) {
  return arg == flag || (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag &&
                         arg[flag.size()] == '=');
}

}  // namespace

CommandLine parseCommandLine(int argc, const char* const* argv) {
  CommandLine cl;
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == nullptr)
      break;
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      cl.help = true;
    } else if (arg == "--version" || arg == "-V") {
      cl.version = true;
    } else if (isFlag(arg, "--config")) {
      cl.configFile = flagValue("--config", arg, argc, argv, i);
    } else if (isFlag(arg, "--log-level")) {
      const std::string value = flagValue("--log-level", arg, argc, argv, i);
      const auto level = log::parseLevel(value);
      if (!level) {
        throw UsageError("--log-level: unknown level \"" + value + "\" (expected " +
                         std::string(kLevels) + ")");
      }
      cl.logLevel = *level;
    } else if (!arg.empty() && arg.front() == '-') {
      throw UsageError("unknown option \"" + std::string(arg) + "\" (see --help)");
    } else {
      throw UsageError("unexpected argument \"" + std::string(arg) +
                       "\" (the configuration file is given with --config FILE)");
    }
  }
  return cl;
}

std::string usageText(const std::string& program) {
  return "Usage: " + program +
         " [--config FILE] [--log-level LEVEL]\n"
         "\n"
         "An audio-only replacement for jitsi-videobridge. Reads the same jvb.conf (HOCON).\n"
         "\n"
         "Options:\n"
         "  --config FILE       read the configuration from FILE (e.g.\n"
         "                      /etc/jitsi/videobridge/jvb.conf); without it JVB's defaults\n"
         "                      are used\n"
         "  --log-level LEVEL   trace, debug, info, warn, error or off (default info;\n"
         "                      overrides jvb-audio.log-level in the file)\n"
         "  -h, --help          print this help and exit\n"
         "  -V, --version       print the version and exit\n"
         "\n"
         "Both --config FILE and --config=FILE forms are accepted.\n";
}

}  // namespace jvb::config
