// libFuzzer: arbitrary bytes as one client connection to the private REST
// server, through the same parser, limits and router the server uses
// (http::wire::serveBytes). The first byte picks how the bytes are split into
// socket reads; the rest is the connection's data.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/log.hpp"
#include "http/http_wire.hpp"

namespace {

using namespace jvb::http;

const Router& router() {
  static const Router r = [] {
    RestOptions o;
    o.apiEnabled = true;
    o.shutdownEnabled = true;
    Handlers h;
    h.health = [] { return HealthReport{false, "fuzz", nlohmann::json{{"a", 1}}}; };
    h.stats = [] { return nlohmann::json{{"conferences", 0}, {"region", "\xff"}}; };
    h.drain = [] { return true; };
    h.setDrain = [](bool) {};
    h.shutdown = [](bool graceful) {
      if (!graceful) {
        throw std::runtime_error("handler failure path");
      }
      return true;
    };
    return Router(o, h);
  }();
  return r;
}

ServerLimits limits() {
  ServerLimits l;
  l.maxHeaderBytes = 512;  // small, so that the fuzzer reaches the limits
  l.maxBodyBytes = 1024;
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    jvb::log::setLevel(jvb::log::Level::kOff);
    return true;
  }();
  (void)quiet;
  if (size == 0) {
    return 0;
  }
  const std::size_t chunk = data[0];  // 0: all at once
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string out = wire::serveBytes(router(), bytes, limits(), chunk);
  // Whatever came in, whatever went out is HTTP/1.1 responses.
  if (!out.empty() && out.rfind("HTTP/1.", 0) != 0) {
    __builtin_trap();
  }
  return 0;
}
