// Unit tests of jvb-audio's command-line parsing (config/bridge_config.hpp).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/bridge_config.hpp"

namespace jvb::config {
namespace {

CommandLine parse(std::vector<const char*> args) {
  args.insert(args.begin(), "jvb-audio");
  return parseCommandLine(static_cast<int>(args.size()), args.data());
}

std::string usageErrorOf(std::vector<const char*> args) {
  try {
    parse(std::move(args));
  } catch (const UsageError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(CommandLine, Empty) {
  const CommandLine cl = parse({});
  EXPECT_FALSE(cl.configFile);
  EXPECT_FALSE(cl.logLevel);
  EXPECT_FALSE(cl.help);
  EXPECT_FALSE(cl.version);
}

TEST(CommandLine, ConfigBothForms) {
  EXPECT_EQ(parse({"--config", "/etc/jitsi/videobridge/jvb.conf"}).configFile,
            "/etc/jitsi/videobridge/jvb.conf");
  EXPECT_EQ(parse({"--config=/tmp/a b.conf"}).configFile, "/tmp/a b.conf");
  EXPECT_EQ(parse({"--config", "a.conf", "--config", "b.conf"}).configFile, "b.conf");
}

TEST(CommandLine, LogLevel) {
  EXPECT_EQ(parse({"--log-level", "debug"}).logLevel, log::Level::kDebug);
  EXPECT_EQ(parse({"--log-level=WARN"}).logLevel, log::Level::kWarn);
  EXPECT_EQ(parse({"--log-level=off"}).logLevel, log::Level::kOff);
}

TEST(CommandLine, HelpAndVersion) {
  EXPECT_TRUE(parse({"--help"}).help);
  EXPECT_TRUE(parse({"-h"}).help);
  EXPECT_TRUE(parse({"--version"}).version);
  EXPECT_TRUE(parse({"-V"}).version);
  const CommandLine all = parse({"--config", "x.conf", "--log-level", "trace", "-V", "-h"});
  EXPECT_EQ(all.configFile, "x.conf");
  EXPECT_EQ(all.logLevel, log::Level::kTrace);
  EXPECT_TRUE(all.help);
  EXPECT_TRUE(all.version);
}

TEST(CommandLine, Errors) {
  EXPECT_EQ(usageErrorOf({"--config"}), "--config needs a value");
  EXPECT_EQ(usageErrorOf({"--config="}), "--config needs a value");
  EXPECT_EQ(usageErrorOf({"--config", "--log-level", "info"}), "--config needs a value");
  EXPECT_EQ(usageErrorOf({"--log-level"}), "--log-level needs a value");
  EXPECT_EQ(usageErrorOf({"--log-level", "loud"}),
            "--log-level: unknown level \"loud\" (expected trace, debug, info, warn, error or "
            "off)");
  EXPECT_EQ(usageErrorOf({"--verbose"}), "unknown option \"--verbose\" (see --help)");
  EXPECT_EQ(usageErrorOf({"-x"}), "unknown option \"-x\" (see --help)");
  EXPECT_EQ(usageErrorOf({"--configx=a"}), "unknown option \"--configx=a\" (see --help)");
  EXPECT_EQ(usageErrorOf({"jvb.conf"}),
            "unexpected argument \"jvb.conf\" (the configuration file is given with --config "
            "FILE)");
}

TEST(CommandLine, UsageTextDocumentsEveryFlag) {
  const std::string text = usageText("jvb-audio");
  EXPECT_EQ(text.rfind("Usage: jvb-audio ", 0), 0u);
  for (const char* flag : {"--config FILE", "--log-level LEVEL", "-h, --help", "-V, --version"}) {
    EXPECT_NE(text.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace jvb::config
