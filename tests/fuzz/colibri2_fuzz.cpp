// libFuzzer target: arbitrary bytes as IQs through libstrophe's parser, the
// IQ dispatcher and the Colibri2 handler, against a fresh registry per
// input. An input may hold several IQs separated by "\n---\n" (applied in
// order, so later ones can update what earlier ones created). Must never
// crash, leak, or trip a sanitizer.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/log.hpp"
#include "xmpp/colibri2.hpp"

namespace {

using namespace jvb::xmpp;

struct Process {
  Library lib;
  Context ctx;
  Colibri2Local local;
  Process() {
    jvb::log::setLevel(jvb::log::Level::kOff);
    local.fingerprint = "AB:CD:EF";
    jvb::ice::Candidate host;
    host.foundation = "1";
    host.priority = 2130706431;
    host.ip = "10.0.0.5";
    host.port = 10000;
    host.type = "host";
    host.id = "h";
    jvb::ice::Candidate srflx = host;
    srflx.type = "srflx";
    srflx.ip = "203.0.113.7";
    srflx.relAddr = "10.0.0.5";
    srflx.relPort = 10000;
    local.candidates = {host, srflx};
    local.websocket = WebsocketSettings{true, "meet.example.com:443", true, "default-id"};
  }
};

constexpr std::string_view kSeparator = "\n---\n";
constexpr int kMaxIqs = 8;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Process process;
  jvb::control::ConferenceRegistry registry;
  IqDispatcher iqs;
  // Graceful shutdown for some inputs, deterministically.
  const bool refuse = size % 7 == 0;
  registerColibri2(iqs, registry, process.local, [refuse] { return refuse; });

  const std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t pos = 0;
  for (int n = 0; n < kMaxIqs && pos <= input.size(); ++n) {
    const size_t next = input.find(kSeparator, pos);
    const std::string one(
        input.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    StanzaPtr iq = parse(process.ctx.get(), one);
    if (iq) {
      StanzaPtr reply = iqs.handle(process.ctx.get(), iq.get());
      if (reply) {
        (void)toText(reply.get());
      }
    }
    if (next == std::string_view::npos) {
      break;
    }
    pos = next + kSeparator.size();
  }
  (void)registry.counts();
  return 0;
}
