// libFuzzer target: arbitrary bytes as bridge-channel messages through
// jvb::control::channel::parse and a fresh BridgeChannelHub with fake
// transports. An input may hold several messages separated by "\n---\n";
// they come from endpoints and transports picked by their position and
// length, with attach/detach/speaker events in between. Must never crash,
// leak, or trip a sanitizer, and everything the hub sends must be JSON.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/log.hpp"
#include "control/bridge_channel.hpp"

namespace {

using namespace jvb::control;
using namespace jvb::media;

constexpr std::string_view kSeparator = "\n---\n";
constexpr int kMaxMessages = 16;
constexpr const char* kMeeting = "m";
const std::vector<std::string> kEndpoints = {"a", "b", "c"};

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

BridgeChannelHub::Send recorder(std::vector<std::string>& out, bool accept) {
  return [&out, accept](const std::string& text) {
    check(nlohmann::json::accept(text));
    out.push_back(text.substr(0, 16));
    return accept;
  };
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    jvb::log::setLevel(jvb::log::Level::kOff);
    return true;
  }();
  (void)quiet;

  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> sent;
  BridgeChannelHub::Hooks hooks;
  hooks.audioSubscriptionChanged = [](const std::string&, const std::string&,
                                      const AudioSubscription& s) {
    check(s.mode != AudioSubscription::Mode::kInclude || !s.sources.empty());
    check(s.mode != AudioSubscription::Mode::kExclude || !s.sources.empty());
    (void)s.allows("a-a0");
  };
  hooks.isVisitor = [size](const std::string&, const std::string& ep) {
    return size % 5 == 0 && ep == "c";
  };
  BridgeChannelOptions options;
  options.routeLoudestOnly = size % 3 == 0;
  options.statsFilterThreshold = 2;
  BridgeChannelHub hub(std::move(hooks), options);
  uint64_t nextId = 1;
  hub.attach(kMeeting, "a", ChannelTransport::kWebSocket, nextId++, recorder(sent, true));
  hub.attach(kMeeting, "b", ChannelTransport::kSctp, nextId++, recorder(sent, size % 2 == 0));
  hub.attach(kMeeting, "c", ChannelTransport::kWebSocket, nextId++, recorder(sent, true));
  hub.attach(kMeeting, "c", ChannelTransport::kSctp, nextId++, recorder(sent, true));
  hub.dominantSpeakerChanged(kMeeting, "b", {"a", "c"}, false);

  size_t pos = 0;
  for (int n = 0; n < kMaxMessages && pos <= input.size(); ++n) {
    const size_t next = input.find(kSeparator, pos);
    const std::string_view one =
        input.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos);
    pos = next == std::string_view::npos ? input.size() + 1 : next + kSeparator.size();

    // The codec alone, and its builders on what it returns.
    auto msg = channel::parse(one);
    if (auto* em = std::get_if<channel::EndpointMessage>(&msg)) {
      check(em->fields.is_object());
      check(nlohmann::json::accept(channel::relayed(em->fields, em->to)));
    } else if (auto* rs = std::get_if<channel::ReceiverAudioSubscription>(&msg)) {
      check(nlohmann::json::accept(channel::forwardedSources(rs->include)));
      check(nlohmann::json::accept(channel::dominantSpeaker("x", rs->exclude, rs->all)));
    } else if (auto* u = std::get_if<channel::Unknown>(&msg)) {
      check(nlohmann::json::accept(channel::connectivityStatus(u->colibriClass, true)));
    }

    // The hub: sender and transport from the position and the length.
    const std::string& from = kEndpoints[static_cast<size_t>(n) % kEndpoints.size()];
    const auto t = (one.size() + static_cast<size_t>(n)) % 2 == 0 ? ChannelTransport::kWebSocket
                                                                  : ChannelTransport::kSctp;
    hub.onMessage(kMeeting, from, t, one);
    switch ((one.size() * 7 + static_cast<size_t>(n)) % 11) {
      case 0:
        hub.detach(kMeeting, from, t, nextId - 1);
        break;
      case 1:
        hub.attach(kMeeting, from, t, nextId++, recorder(sent, true));
        break;
      case 2:
        hub.dominantSpeakerChanged(kMeeting, from, {"a", "b", "c", "zz"}, one.size() % 2 == 0);
        break;
      case 3:
        hub.connectivityChanged(kMeeting, from, one.size() % 2 == 0);
        break;
      case 4:
        if (n > 8) {
          hub.endpointExpired(kMeeting, from);
        }
        break;
      default:
        break;
    }
    sent.clear();
  }
  (void)hub.conferenceStats();
  hub.conferenceExpired(kMeeting);
  return 0;
}
