#include "control/media_compiler.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace jvb::control {

namespace {

constexpr const char* kSdesMidUri = "urn:ietf:params:rtp-hdrext:sdes:mid";
constexpr const char* kAudioLevelUri = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
constexpr uint32_t kDefaultClockRate = 48000;

// The ID map of a packet from an endpoint that negotiated `from` to one that
// negotiated `to`: IDs by URI, what `to` lacks stripped, sdes:mid stripped.
rtp::ExtensionIdMap pairMap(const std::vector<HeaderExtension>& from,
                            const std::vector<HeaderExtension>& to, bool& identity) {
  rtp::ExtensionIdMap map;
  for (const auto& h : from) {
    if (h.id <= 0 || h.id > 255) {
      continue;
    }
    const auto id = static_cast<uint8_t>(h.id);
    map.strip(id);
    if (h.uri == kSdesMidUri) {
      continue;
    }
    for (const auto& r : to) {
      if (r.uri == h.uri && r.id > 0 && r.id <= 255) {
        map.map(id, static_cast<uint8_t>(r.id));
      }
    }
  }
  identity = true;
  for (unsigned i = 0; i < 256; ++i) {
    identity = identity && map[static_cast<uint8_t>(i)] == i;
  }
  return map;
}

}  // namespace

media::EndpointSpec MediaCompiler::compile(const Endpoint& e) {
  media::EndpointSpec s;
  s.id = e.id;
  s.localIce = e.localIce;
  s.iceControlling = e.iceControlling;
  s.remoteUfrag = e.remoteUfrag;
  s.remotePwd = e.remotePwd;
  s.remoteCandidates = e.remoteCandidates;
  if (e.iceRestart) {
    const IceRestart& r = *e.iceRestart;
    s.iceRestart = media::IceRestartSpec{r.generation, r.local, r.remoteUfrag, r.remotePwd,
                                         r.remoteCandidates};
  }
  for (const auto& f : e.remoteFingerprints) {
    s.remoteFingerprints.push_back({f.hash, f.value});
  }
  // Our setup 'active' makes us the DTLS client; 'passive' (or one not
  // known yet) the server, which waits for the ClientHello.
  s.dtlsClient = e.dtlsSetup == "active";
  s.sctp = e.sctpRequested;
  for (const auto& pt : e.audioPayloadTypes) {
    if (pt.id >= 0 && pt.id < 128) {
      s.payloadTypes.add(static_cast<uint8_t>(pt.id),
                         pt.clockrate != 0 ? pt.clockrate : kDefaultClockRate);
    }
  }
  s.acceptsAudio = e.acceptsAudio;
  for (const auto& h : e.audioHeaderExtensions) {
    if (h.id <= 0 || h.id > 255) {
      continue;
    }
    if (h.uri == kAudioLevelUri) {
      s.levelId = static_cast<uint8_t>(h.id);
    } else if (h.uri == kSdesMidUri) {
      s.midId = static_cast<uint8_t>(h.id);
    }
  }
  s.forceMuteAudio = e.forceMuteAudio;
  s.ssrcRewriting = e.ssrcRewriting();
  s.rtpMidDemux = e.rtpMidDemux();
  return s;
}

uint32_t MediaCompiler::profileOf(const std::vector<HeaderExtension>& extensions) {
  auto sorted = extensions;
  std::sort(sorted.begin(), sorted.end(), [](const HeaderExtension& a, const HeaderExtension& b) {
    return a.id != b.id ? a.id < b.id : a.uri < b.uri;
  });
  for (size_t i = 0; i < profiles_.size(); ++i) {
    if (profiles_[i] == sorted) {
      return static_cast<uint32_t>(i);
    }
  }
  profiles_.push_back(std::move(sorted));
  sendProfiles();  // before the endpoint that uses it
  return static_cast<uint32_t>(profiles_.size() - 1);
}

void MediaCompiler::sendProfiles() {
  media::ExtensionProfiles p;
  p.count = static_cast<uint32_t>(profiles_.size());
  p.maps.reserve(size_t{p.count} * p.count);
  p.identity.reserve(size_t{p.count} * p.count);
  for (const auto& from : profiles_) {
    for (const auto& to : profiles_) {
      bool identity = false;
      p.maps.push_back(pairMap(from, to, identity));
      p.identity.push_back(identity ? 1 : 0);
    }
  }
  sink_(media::cmd::SetExtensionProfiles{std::move(p)});
}

void MediaCompiler::endpointChanged(const std::string& meetingId, const Endpoint& endpoint) {
  auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    c = conferences_.emplace(meetingId, ConferenceState{}).first;
    c->second.handle = nextConference_++;
  }
  ConferenceState& conf = c->second;
  auto [e, created] = conf.endpoints.try_emplace(endpoint.id);
  EndpointState& ep = e->second;
  if (created) {
    ep.handle = nextEndpoint_++;
  }
  media::EndpointSpec spec = compile(endpoint);
  spec.conference = conf.handle;
  spec.endpoint = ep.handle;
  spec.meetingId = meetingId;
  spec.extProfile = profileOf(endpoint.audioHeaderExtensions);
  // Sources: an SSRC keeps its index while its name and kind stay; the
  // indices of sources that went are freed after this spec is built (so
  // they are not reused within it).
  std::map<uint32_t, SourceState> next;
  std::vector<uint32_t> freed;
  bool sourcesChanged = false;
  for (const auto& [ssrc, source] : endpoint.audioSources) {
    auto old = ep.sources.find(ssrc);
    if (old != ep.sources.end() && old->second.name == source.name &&
        old->second.synthetic == source.synthetic) {
      next.emplace(ssrc, old->second);
      continue;
    }
    sourcesChanged = true;
    uint32_t index = 0;
    if (!conf.freeIndices.empty()) {
      index = conf.freeIndices.back();
      conf.freeIndices.pop_back();
    } else {
      index = conf.nextIndex++;
    }
    next.emplace(ssrc, SourceState{index, source.name, source.synthetic});
  }
  for (const auto& [ssrc, old] : ep.sources) {
    auto n = next.find(ssrc);
    if (n == next.end() || n->second.index != old.index) {
      freed.push_back(old.index);
      sourcesChanged = true;
    }
  }
  ep.sources = std::move(next);
  for (const auto& [ssrc, s] : ep.sources) {
    spec.sources.push_back(media::SourceSpec{ssrc, s.index, s.synthetic, s.name});
  }
  sink_(media::cmd::UpsertEndpoint{std::move(spec)});
  conf.freeIndices.insert(conf.freeIndices.end(), freed.begin(), freed.end());
  if (sourcesChanged) {
    recompileSubscriptions(conf, meetingId);
  }
}

void MediaCompiler::endpointExpired(const std::string& meetingId, const std::string& endpointId) {
  auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    return;
  }
  auto e = c->second.endpoints.find(endpointId);
  if (e == c->second.endpoints.end()) {
    return;
  }
  sink_(media::cmd::RemoveEndpoint{e->second.handle});
  for (const auto& [ssrc, s] : e->second.sources) {
    c->second.freeIndices.push_back(s.index);
  }
  const bool hadSources = !e->second.sources.empty();
  c->second.endpoints.erase(e);
  if (c->second.endpoints.empty()) {
    conferences_.erase(c);
    return;
  }
  if (hadSources) {
    recompileSubscriptions(c->second, meetingId);
  }
}

void MediaCompiler::conferenceExpired(const std::string& meetingId) {
  // Its endpoints were reported one by one before this.
  conferences_.erase(meetingId);
}

bool MediaCompiler::compileSubscription(const ConferenceState& conf, EndpointState& ep) {
  // Source names -> indices, over every source of the conference (a name
  // nobody signals compiles to nothing, and is picked up when it appears).
  std::map<std::string, std::pair<uint32_t, bool>> byName;
  for (const auto& [id, other] : conf.endpoints) {
    for (const auto& [ssrc, s] : other.sources) {
      byName.emplace(s.name, std::pair{s.index, s.synthetic});
    }
  }
  media::SubscriptionSpec spec;
  spec.mode = ep.subscription.mode;
  std::vector<uint32_t> included;
  for (const auto& name : ep.subscription.sources) {
    if (auto it = byName.find(name); it != byName.end() && !it->second.second) {
      spec.sources.push_back(it->second.first);
    }
  }
  for (const auto& name : ep.subscription.included) {
    if (auto it = byName.find(name); it != byName.end()) {
      included.push_back(it->second.first);
      if (it->second.second) {
        spec.synthetic.push_back(it->second.first);
      }
    }
  }
  std::sort(spec.sources.begin(), spec.sources.end());
  std::sort(spec.synthetic.begin(), spec.synthetic.end());
  std::sort(included.begin(), included.end());
  const bool changed = spec.mode != ep.compiled.mode || spec.sources != ep.compiled.sources ||
                       spec.synthetic != ep.compiled.synthetic || included != ep.included;
  ep.compiled = std::move(spec);
  ep.included = std::move(included);
  return changed;
}

void MediaCompiler::recompileSubscriptions(ConferenceState& conf, const std::string& meetingId) {
  for (auto& [id, ep] : conf.endpoints) {
    if (ep.subscribed && compileSubscription(conf, ep)) {
      sink_(media::cmd::SetSubscription{ep.handle, ep.compiled, ep.included});
      LOG_DEBUG("media", "{}/{}: audio subscription recompiled", meetingId, id);
    }
  }
}

MediaCompiler::Found MediaCompiler::find(const std::string& meetingId,
                                         const std::string& endpointId) {
  auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    return {};
  }
  auto e = c->second.endpoints.find(endpointId);
  if (e == c->second.endpoints.end()) {
    return {};
  }
  return {&c->second, &e->second};
}

void MediaCompiler::setAudioSubscription(const std::string& meetingId,
                                         const std::string& endpointId,
                                         const media::AudioSubscription& subscription) {
  const auto [conf, ep] = find(meetingId, endpointId);
  if (ep == nullptr) {
    return;
  }
  ep->subscription = subscription;
  ep->subscribed = true;
  compileSubscription(*conf, *ep);
  sink_(media::cmd::SetSubscription{ep->handle, ep->compiled, ep->included});
}

bool MediaCompiler::sendChannelMessage(const std::string& meetingId, const std::string& endpointId,
                                       std::string text) {
  const auto handle = handleOf(meetingId, endpointId);
  if (!handle) {
    return false;
  }
  return sink_(media::cmd::SendChannelMessage{*handle, std::move(text)});
}

std::optional<media::EndpointHandle> MediaCompiler::handleOf(const std::string& meetingId,
                                                             const std::string& endpointId) {
  const auto [conf, ep] = find(meetingId, endpointId);
  if (ep == nullptr) {
    return std::nullopt;
  }
  return ep->handle;
}

}  // namespace jvb::control
