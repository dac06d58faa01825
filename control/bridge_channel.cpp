#include "control/bridge_channel.hpp"

#include <algorithm>
#include <exception>
#include <limits>
#include <utility>

#include "common/log.hpp"

namespace jvb::control {
namespace channel {
namespace {

using json = nlohmann::json;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// SAX handler building the DOM without recursion: stops at the depth limit
// and at a duplicate key, and reports errors without throwing.
class BoundedDom {
 public:
  explicit BoundedDom(json& root) : root_(root) {}

  bool null() { return put(json(nullptr)); }
  bool boolean(bool v) { return put(json(v)); }
  bool number_integer(json::number_integer_t v) { return put(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return put(json(v)); }
  bool number_float(json::number_float_t v, const std::string& /*text*/) { return put(json(v)); }
  bool string(std::string& v) { return put(json(std::move(v))); }
  bool binary(json::binary_t& /*v*/) {
    error = "binary value";
    return false;
  }
  bool start_object(std::size_t /*elements*/) { return open(json::object()); }
  bool key(std::string& k) {
    auto& obj = stack_.back()->get_ref<json::object_t&>();
    auto [it, inserted] = obj.try_emplace(std::move(k));
    if (!inserted) {
      error = "duplicate key";
      return false;
    }
    slot_ = &it->second;
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t /*elements*/) { return open(json::array()); }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*token*/,
                   const json::exception& /*ex*/) {
    error = "invalid JSON at byte " + std::to_string(position);
    return false;
  }

  std::string error;

 private:
  json* place(json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      auto& arr = top.get_ref<json::array_t&>();
      arr.push_back(std::move(v));
      return &arr.back();
    }
    *slot_ = std::move(v);
    return slot_;
  }
  bool put(json&& v) {
    place(std::move(v));
    return true;
  }
  bool open(json&& v) {
    if (stack_.size() >= kMaxChannelJsonDepth) {
      error = "nested deeper than " + std::to_string(kMaxChannelJsonDepth);
      return false;
    }
    stack_.push_back(place(std::move(v)));
    return true;
  }

  json& root_;
  std::vector<json*> stack_;
  json* slot_ = nullptr;
};

// The member, or null when absent or JSON null.
const json* member(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

// An optional array of strings. False when present and not one.
bool stringList(const json& obj, const char* name, std::vector<std::string>& out) {
  const json* v = member(obj, name);
  if (v == nullptr) {
    return true;
  }
  if (!v->is_array()) {
    return false;
  }
  out.reserve(v->size());
  for (const auto& e : *v) {
    if (!e.is_string()) {
      return false;
    }
    out.push_back(e.get_ref<const std::string&>());
  }
  return true;
}

std::string optionalString(const json& obj, const char* name) {
  const json* v = member(obj, name);
  return v != nullptr && v->is_string() ? v->get_ref<const std::string&>() : std::string();
}

ClientMessage audioSubscription(const json& obj) {
  ReceiverAudioSubscription m;
  if (const json* mode = member(obj, "mode")) {
    std::vector<std::string> list;
    if (!mode->is_string() || !stringList(obj, "list", list)) {
      return Malformed{"ReceiverAudioSubscription: bad mode or list"};
    }
    const auto& s = mode->get_ref<const std::string&>();
    if (s == "All") {
      m.all = true;
    } else if (s == "None") {
      m.all = false;
    } else if (s == "Include") {
      m.include = std::move(list);
    } else if (s == "Exclude") {
      m.all = true;
      m.exclude = std::move(list);
    } else {
      return Malformed{"ReceiverAudioSubscription: unknown mode"};
    }
    m.legacy = true;
  } else {
    if (const json* all = member(obj, "all")) {
      if (!all->is_boolean()) {
        return Malformed{"ReceiverAudioSubscription: all is not a boolean"};
      }
      m.all = all->get<bool>();
    }
    if (!stringList(obj, "include", m.include) || !stringList(obj, "exclude", m.exclude)) {
      return Malformed{"ReceiverAudioSubscription: include/exclude is not a list of strings"};
    }
  }
  m.subscription = media::AudioSubscription::fromFields(m.all, m.include, m.exclude);
  return m;
}

ClientMessage interpret(json&& root) {
  if (!root.is_object()) {
    return Malformed{"not a JSON object"};
  }
  const auto cls = root.find("colibriClass");
  if (cls == root.end()) {
    return Malformed{"no colibriClass"};
  }
  if (!cls->is_string()) {
    return Malformed{"colibriClass is not a string"};
  }
  const std::string name = cls->get_ref<const std::string&>();
  if (name == "ClientHello") {
    return ClientHello{};
  }
  if (name == "EndpointMessage") {
    EndpointMessage m;
    if (const json* to = member(root, "to")) {
      if (!to->is_string()) {
        return Malformed{"EndpointMessage: to is not a string"};
      }
      m.to = to->get_ref<const std::string&>();
    }
    m.fields = std::move(root);
    return m;
  }
  if (name == "EndpointStats") {
    return EndpointStats{std::move(root)};
  }
  if (name == "ReceiverAudioSubscription") {
    return audioSubscription(root);
  }
  if (name == "LastNChangedEvent") {
    const json* n = member(root, "lastN");
    if (n == nullptr || !n->is_number_integer()) {
      return Malformed{"LastNChangedEvent: lastN is not an integer"};
    }
    if (n->is_number_unsigned()) {
      const auto u = n->get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
        return Malformed{"LastNChangedEvent: lastN out of range"};
      }
      return LastNChanged{static_cast<int32_t>(u)};
    }
    const auto i = n->get<int64_t>();
    if (i < std::numeric_limits<int32_t>::min() || i > std::numeric_limits<int32_t>::max()) {
      return Malformed{"LastNChangedEvent: lastN out of range"};
    }
    return LastNChanged{static_cast<int32_t>(i)};
  }
  if (name == "ReceiverVideoConstraints") {
    return ReceiverVideoConstraints{};
  }
  if (name == "SourceVideoTypeMessage" || name == "VideoTypeMessage") {
    return SourceVideoType{optionalString(root, "sourceName"), optionalString(root, "videoType"),
                           name == "VideoTypeMessage"};
  }
  return Unknown{name};
}

bool isAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

bool EndpointMessage::isBroadcast() const {
  return std::all_of(to.begin(), to.end(), isAsciiSpace);
}

ClientMessage parse(std::string_view text) noexcept {
  try {
    if (text.size() > kMaxChannelMessageBytes) {
      return Malformed{"larger than " + std::to_string(kMaxChannelMessageBytes) + " bytes"};
    }
    if (text.find('\0') != std::string_view::npos) {
      return Malformed{"NUL byte"};  // nlohmann's lexer takes it for the end of the input
    }
    json root;
    BoundedDom dom(root);
    if (!json::sax_parse(text.data(), text.data() + text.size(), &dom)) {
      return Malformed{dom.error.empty() ? std::string("invalid JSON") : std::move(dom.error)};
    }
    return interpret(std::move(root));
  } catch (const std::exception& e) {
    return Malformed{std::string("parse failed: ") + e.what()};
  } catch (...) {
    return Malformed{"parse failed"};
  }
}

std::string serverHello(std::string_view version) {
  json j = {{"colibriClass", "ServerHello"}};
  if (!version.empty()) {
    j["version"] = std::string(version);
  }
  return dump(j);
}

std::string dominantSpeaker(std::string_view dominant, const std::vector<std::string>& previous,
                            bool silence) {
  json j = {{"colibriClass", "DominantSpeakerEndpointChangeEvent"},
            {"dominantSpeakerEndpoint", std::string(dominant)},
            {"previousSpeakers", previous},
            {"silence", silence}};
  return dump(j);
}

std::string relayed(json fields, std::string_view from) {
  if (!fields.is_object()) {
    fields = json::object();
  }
  fields["from"] = std::string(from);
  return dump(fields);
}

std::string forwardedSources(const std::vector<std::string>& sources) {
  json j = {{"colibriClass", "ForwardedSources"}, {"forwardedSources", sources}};
  return dump(j);
}

std::string audioSourcesMap(const std::vector<MappedSource>& mapped) {
  json list = json::array();
  for (const auto& m : mapped) {
    json e = {{"source", m.source}, {"owner", m.owner}, {"ssrc", m.ssrc}};
    if (!m.mid.empty()) {
      e["mid"] = m.mid;
    }
    list.push_back(std::move(e));
  }
  json j = {{"colibriClass", "AudioSourcesMap"}, {"mappedSources", std::move(list)}};
  return dump(j);
}

std::string connectivityStatus(std::string_view endpoint, bool active) {
  json j = {{"colibriClass", "EndpointConnectivityStatusChangeEvent"},
            {"endpoint", std::string(endpoint)},
            {"active", active ? "true" : "false"}};
  return dump(j);
}

}  // namespace channel

namespace {
constexpr const char* kLog = "channel";

const char* transportName(ChannelTransport t) {
  return t == ChannelTransport::kWebSocket ? "websocket" : "sctp";
}
}  // namespace

BridgeChannelHub::BridgeChannelHub(Hooks hooks, BridgeChannelOptions options)
    : hooks_(std::move(hooks)), options_(std::move(options)) {}

const BridgeChannelHub::SendPtr* BridgeChannelHub::active(const EndpointState& ep) {
  if (ep.wsLastActive && ep.ws.send) {
    return &ep.ws.send;
  }
  if (ep.sctp.send) {
    return &ep.sctp.send;
  }
  if (ep.ws.send) {
    return &ep.ws.send;
  }
  return nullptr;
}

std::vector<BridgeChannelHub::SendPtr> BridgeChannelHub::activeTargets(const ConferenceState& conf,
                                                                       const std::string& except) {
  std::vector<SendPtr> targets;
  for (const auto& [id, ep] : conf.endpoints) {
    if (!except.empty() && id == except) {
      continue;
    }
    if (const SendPtr* a = active(ep)) {
      targets.push_back(*a);
    } else {
      ++counters_.noTransport;
    }
  }
  return targets;
}

BridgeChannelHub::Tally BridgeChannelHub::deliver(const std::string& meetingId,
                                                  const std::vector<SendPtr>& targets,
                                                  const std::string& text) {
  Tally r;
  for (const auto& send : targets) {
    if ((*send)(text)) {
      ++r.sent;
    } else {
      ++r.failed;
    }
  }
  counters_.messagesOut += r.sent;
  counters_.sendFailures += r.failed;
  if (auto c = conferences_.find(meetingId); c != conferences_.end()) {
    c->second.stats.messagesOut += r.sent;
  }
  return r;
}

bool BridgeChannelHub::isVisitor(const std::string& meetingId,
                                 const std::string& endpointId) const {
  return hooks_.isVisitor && hooks_.isVisitor(meetingId, endpointId);
}

void BridgeChannelHub::attach(const std::string& meetingId, const std::string& endpointId,
                              ChannelTransport t, uint64_t transportId, Send send) {
  if (!send) {
    return;
  }
  std::vector<std::string> nonVisitorInactive;
  if (inactiveSource_) {
    nonVisitorInactive = inactiveSource_(meetingId);
  } else if (auto c = conferences_.find(meetingId); c != conferences_.end()) {
    for (const auto& id : c->second.inactive) {
      if (!isVisitor(meetingId, id)) {
        nonVisitorInactive.push_back(id);
      }
    }
  }
  counters_.connectivityReplayed += nonVisitorInactive.size();

  auto& conf = conferences_[meetingId];
  auto& ep = conf.endpoints[endpointId];
  Slot& slot = t == ChannelTransport::kWebSocket ? ep.ws : ep.sctp;
  LOG_DEBUG(kLog, "{}/{}: {} {} attached{}", meetingId, endpointId, transportName(t), transportId,
            slot.send ? " (replaces " + std::to_string(slot.id) + ")" : std::string());
  slot.id = transportId;
  slot.send = std::make_shared<const Send>(std::move(send));

  // What JVB sends when a transport connects, in order, and to whom.
  std::vector<std::pair<SendPtr, std::string>> out;
  if (t == ChannelTransport::kWebSocket) {
    ep.wsLastActive = true;
  }
  // ServerHello on every transport as it opens (JVB sends it at once on a
  // websocket and answers ClientHello on the data channel; lib-jitsi-meet
  // sends no ClientHello, so the data channel gets it unasked here too).
  out.emplace_back(slot.send, channel::serverHello(options_.version));
  const SendPtr target = *active(ep);
  out.emplace_back(target, channel::forwardedSources());
  for (const auto& id : nonVisitorInactive) {
    out.emplace_back(target, channel::connectivityStatus(id, false));
  }
  if (!conf.speakers.empty()) {
    out.emplace_back(target,
                     channel::dominantSpeaker(
                         conf.speakers.front(),
                         std::vector<std::string>(conf.speakers.begin() + 1, conf.speakers.end()),
                         conf.silence));
  }
  // `conf` and `ep` may not survive a send (it may re-enter the hub).
  for (const auto& [send_, text] : out) {
    deliver(meetingId, {send_}, text);
  }
  if (hooks_.channelConnected) {
    hooks_.channelConnected(meetingId, endpointId);
  }
}

void BridgeChannelHub::detach(const std::string& meetingId, const std::string& endpointId,
                              ChannelTransport t, uint64_t transportId) {
  auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    return;
  }
  auto e = c->second.endpoints.find(endpointId);
  if (e == c->second.endpoints.end()) {
    return;
  }
  Slot& slot = t == ChannelTransport::kWebSocket ? e->second.ws : e->second.sctp;
  if (!slot.send || slot.id != transportId) {
    return;  // stale: already replaced or detached
  }
  slot.send.reset();
  if (t == ChannelTransport::kWebSocket) {
    e->second.wsLastActive = false;
  }
  LOG_DEBUG(kLog, "{}/{}: {} {} detached", meetingId, endpointId, transportName(t), transportId);
}

void BridgeChannelHub::onMessage(const std::string& meetingId, const std::string& endpointId,
                                 ChannelTransport t, std::string_view text) {
  auto c = conferences_.find(meetingId);
  EndpointState* ep = nullptr;
  if (c != conferences_.end()) {
    if (auto e = c->second.endpoints.find(endpointId); e != c->second.endpoints.end()) {
      ep = &e->second;
    }
  }
  const Slot* slot = ep == nullptr                       ? nullptr
                     : t == ChannelTransport::kWebSocket ? &ep->ws
                                                         : &ep->sctp;
  if (slot == nullptr || !slot->send) {
    ++counters_.unattachedIn;
    return;
  }
  ++counters_.messagesIn;
  ++c->second.stats.messagesIn;
  ep->wsLastActive = t == ChannelTransport::kWebSocket;
  const SendPtr replyTo = slot->send;

  auto msg = channel::parse(text);
  if (auto* m = std::get_if<channel::Malformed>(&msg)) {
    ++counters_.malformed;
    LOG_DEBUG(kLog, "{}/{}: malformed message ({} bytes): {}", meetingId, endpointId, text.size(),
              m->reason);
  } else if (auto* u = std::get_if<channel::Unknown>(&msg)) {
    ++counters_.unknownClass;
    LOG_DEBUG(kLog, "{}/{}: ignored colibriClass '{}'", meetingId, endpointId,
              u->colibriClass.substr(0, 64));
  } else if (std::holds_alternative<channel::ClientHello>(msg)) {
    deliver(meetingId, {replyTo}, channel::serverHello(options_.version));
  } else if (auto* em = std::get_if<channel::EndpointMessage>(&msg)) {
    onEndpointMessage(meetingId, endpointId, std::move(*em));
  } else if (auto* es = std::get_if<channel::EndpointStats>(&msg)) {
    onEndpointStats(meetingId, endpointId, std::move(*es));
  } else if (auto* as = std::get_if<channel::ReceiverAudioSubscription>(&msg)) {
    onAudioSubscription(meetingId, endpointId, *as);
  } else {
    ++counters_.videoIgnored;  // LastN, ReceiverVideoConstraints, (Source)VideoType
  }
}

void BridgeChannelHub::onEndpointMessage(const std::string& meetingId,
                                         const std::string& endpointId,
                                         channel::EndpointMessage msg) {
  if (isVisitor(meetingId, endpointId)) {
    ++counters_.visitorDropped;
    return;
  }
  auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    return;
  }
  auto& conf = c->second;
  std::vector<SendPtr> targets;
  if (msg.isBroadcast()) {
    targets = activeTargets(conf, endpointId);
  } else {
    auto e = conf.endpoints.find(msg.to);
    if (e == conf.endpoints.end()) {
      ++counters_.unknownTarget;
      LOG_DEBUG(kLog, "{}/{}: EndpointMessage to unknown endpoint '{}'", meetingId, endpointId,
                msg.to.substr(0, 64));
      return;
    }
    if (const SendPtr* a = active(e->second)) {
      targets.push_back(*a);
    } else {
      ++counters_.noTransport;
    }
  }
  if (targets.empty()) {
    return;
  }
  const std::string text = channel::relayed(std::move(msg.fields), endpointId);
  const Tally r = deliver(meetingId, targets, text);
  counters_.endpointMessagesRelayed += r.sent;
  if (c = conferences_.find(meetingId); c != conferences_.end()) {
    c->second.stats.endpointMessagesRelayed += r.sent;
  }
}

void BridgeChannelHub::onEndpointStats(const std::string& meetingId, const std::string& endpointId,
                                       channel::EndpointStats msg) {
  if (isVisitor(meetingId, endpointId)) {
    ++counters_.visitorDropped;
    return;
  }
  auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    return;
  }
  auto& conf = c->second;
  if (options_.routeLoudestOnly && conf.endpoints.size() > options_.statsFilterThreshold &&
      std::find(conf.speakers.begin(), conf.speakers.end(), endpointId) == conf.speakers.end()) {
    ++counters_.statsFiltered;
    return;
  }
  const std::vector<SendPtr> targets = activeTargets(conf, endpointId);
  if (targets.empty()) {
    return;
  }
  const std::string text = channel::relayed(std::move(msg.fields), endpointId);
  const Tally r = deliver(meetingId, targets, text);
  counters_.endpointStatsRelayed += r.sent;
  if (c = conferences_.find(meetingId); c != conferences_.end()) {
    c->second.stats.endpointStatsRelayed += r.sent;
  }
}

void BridgeChannelHub::onAudioSubscription(const std::string& meetingId,
                                           const std::string& endpointId,
                                           const channel::ReceiverAudioSubscription& msg) {
  ++counters_.audioSubscriptions;
  auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    return;
  }
  auto e = c->second.endpoints.find(endpointId);
  if (e == c->second.endpoints.end() || e->second.subscription == msg.subscription) {
    return;
  }
  e->second.subscription = msg.subscription;
  if (hooks_.audioSubscriptionChanged) {
    hooks_.audioSubscriptionChanged(meetingId, endpointId, msg.subscription);
  }
}

void BridgeChannelHub::dominantSpeakerChanged(const std::string& meetingId,
                                              const std::string& dominant,
                                              const std::vector<std::string>& previous,
                                              bool silence) {
  ++counters_.dominantSpeakerEvents;
  auto& conf = conferences_[meetingId];
  ++conf.stats.dominantSpeakerChanges;
  conf.speakers.clear();
  conf.silence = silence;
  if (dominant.empty()) {
    return;
  }
  conf.speakers.push_back(dominant);
  std::vector<std::string> others;
  for (const auto& id : previous) {
    if (std::find(conf.speakers.begin(), conf.speakers.end(), id) == conf.speakers.end()) {
      conf.speakers.push_back(id);
      others.push_back(id);
    }
  }
  const std::vector<SendPtr> targets = activeTargets(conf);
  if (!targets.empty()) {
    deliver(meetingId, targets, channel::dominantSpeaker(dominant, others, silence));
  }
}

void BridgeChannelHub::connectivityChanged(const std::string& meetingId,
                                           const std::string& endpointId, bool isActive) {
  ++counters_.connectivityEvents;
  auto& conf = conferences_[meetingId];
  if (isActive) {
    conf.inactive.erase(endpointId);
  } else {
    conf.inactive.insert(endpointId);
  }
  std::vector<SendPtr> targets;
  for (const auto& [id, ep] : conf.endpoints) {
    if (const SendPtr* a = active(ep)) {
      targets.push_back(*a);
    } else {
      ++counters_.noTransport;
    }
  }
  if (!targets.empty()) {
    deliver(meetingId, targets, channel::connectivityStatus(endpointId, isActive));
  }
}

void BridgeChannelHub::endpointExpired(const std::string& meetingId,
                                       const std::string& endpointId) {
  auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    return;
  }
  auto& conf = c->second;
  conf.endpoints.erase(endpointId);
  conf.inactive.erase(endpointId);
  // As JVB's recent-speakers list: the endpoint leaves it (the media side
  // announces the next dominant speaker).
  std::erase(conf.speakers, endpointId);
}

void BridgeChannelHub::conferenceExpired(const std::string& meetingId) {
  conferences_.erase(meetingId);
}

bool BridgeChannelHub::sendTo(const std::string& meetingId, const std::string& endpointId,
                              const std::string& text) {
  auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    ++counters_.noTransport;
    return false;
  }
  auto e = c->second.endpoints.find(endpointId);
  const SendPtr* a = e == c->second.endpoints.end() ? nullptr : active(e->second);
  if (a == nullptr) {
    ++counters_.noTransport;
    return false;
  }
  return deliver(meetingId, {*a}, text).sent == 1;
}

bool BridgeChannelHub::connected(const std::string& meetingId,
                                 const std::string& endpointId) const {
  auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    return false;
  }
  auto e = c->second.endpoints.find(endpointId);
  return e != c->second.endpoints.end() && active(e->second) != nullptr;
}

media::AudioSubscription BridgeChannelHub::audioSubscription(const std::string& meetingId,
                                                             const std::string& endpointId) const {
  auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    return {};
  }
  auto e = c->second.endpoints.find(endpointId);
  return e == c->second.endpoints.end() ? media::AudioSubscription{} : e->second.subscription;
}

std::optional<ConferenceChannelStats> BridgeChannelHub::conferenceStats(
    const std::string& meetingId) const {
  auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    return std::nullopt;
  }
  ConferenceChannelStats s = c->second.stats;
  s.connectedEndpoints = static_cast<std::size_t>(
      std::count_if(c->second.endpoints.begin(), c->second.endpoints.end(),
                    [](const auto& e) { return active(e.second) != nullptr; }));
  return s;
}

std::map<std::string, ConferenceChannelStats> BridgeChannelHub::conferenceStats() const {
  std::map<std::string, ConferenceChannelStats> out;
  for (const auto& [id, conf] : conferences_) {
    out.emplace(id, *conferenceStats(id));
  }
  return out;
}

}  // namespace jvb::control
