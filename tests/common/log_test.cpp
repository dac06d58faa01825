#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "common/version_info.hpp"

namespace {

std::vector<std::string>& captured() {
  static std::vector<std::string> lines;
  return lines;
}
void capture(std::string_view line) {
  captured().emplace_back(line);
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    captured().clear();
    jvb::log::setSink(&capture);
    jvb::log::setLevel(jvb::log::Level::kInfo);
  }
  void TearDown() override {
    jvb::log::setSink(nullptr);
    jvb::log::setLevel(jvb::log::Level::kInfo);
  }
};

TEST_F(LogTest, OneTimestampedLevelledLinePerEvent) {
  LOG_INFO("http", "listening on {}:{}", "127.0.0.1", 8080);
  ASSERT_EQ(captured().size(), 1u);
  const std::regex shape(
      R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  \[http\] listening on 127\.0\.0\.1:8080\n$)");
  EXPECT_TRUE(std::regex_match(captured()[0], shape)) << captured()[0];
}

TEST_F(LogTest, NewlinesInMessagesAreEscapedSoAnEventStaysOneLine) {
  LOG_WARN("xmpp", "bad stanza:\n<iq/>\r\n");
  ASSERT_EQ(captured().size(), 1u);
  const auto& line = captured()[0];
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_NE(line.find("bad stanza:\\n<iq/>\\r\\n"), std::string::npos);
}

TEST_F(LogTest, LevelFiltersEventsBelowIt) {
  jvb::log::setLevel(jvb::log::Level::kWarn);
  LOG_DEBUG("x", "hidden");
  LOG_INFO("x", "hidden");
  LOG_WARN("x", "shown");
  LOG_ERROR("x", "shown");
  EXPECT_EQ(captured().size(), 2u);
  jvb::log::setLevel(jvb::log::Level::kOff);
  LOG_ERROR("x", "hidden");
  EXPECT_EQ(captured().size(), 2u);
}

TEST_F(LogTest, ParsesLevelNamesIncludingJavaOnes) {
  using jvb::log::Level;
  EXPECT_EQ(jvb::log::parseLevel("debug"), Level::kDebug);
  EXPECT_EQ(jvb::log::parseLevel("WARNING"), Level::kWarn);
  EXPECT_EQ(jvb::log::parseLevel("Info"), Level::kInfo);
  EXPECT_EQ(jvb::log::parseLevel("SEVERE"), Level::kError);
  EXPECT_EQ(jvb::log::parseLevel("trace"), Level::kTrace);
  EXPECT_FALSE(jvb::log::parseLevel("loud").has_value());
  EXPECT_FALSE(jvb::log::parseLevel("").has_value());
}

TEST(VersionInfo, NamesTheProjectAndOs) {
  const auto& v = jvb::versionInfo();
  EXPECT_EQ(v.name, "jvb-audio");
  EXPECT_EQ(v.version.rfind("0.", 0), 0u) << v.version;
  EXPECT_EQ(v.os, "Linux");
}

}  // namespace
