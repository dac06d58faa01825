// libFuzzer target: any bytes as a jvb.conf. The loader must either return a
// configuration or throw ConfigError; never crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/bridge_config.hpp"
#include "config/hocon.hpp"

namespace {
void discard(std::string_view /*line*/) {}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Format every log line (unknown keys) but do not print it.
  jvb::log::setSink(&discard);
  jvb::log::setLevel(jvb::log::Level::kTrace);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // Deterministic: no files and no environment variables.
  jvb::config::LoadOptions options;
  options.allowIncludes = false;
  options.useEnvironment = false;
  try {
    const jvb::config::BridgeConfig config = jvb::config::loadString(text, "fuzz.conf", options);
    (void)config;
  } catch (const jvb::config::ConfigError& e) {
    (void)e.what();
  }
  (void)jvb::config::hocon::parseDurationMillis(std::string_view(text).substr(0, 64));
  return 0;
}
