#include "control/conference.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

#include "common/log.hpp"

namespace jvb::control {

namespace {

// RTP header extensions JVB knows (jitsi-media-transform RtpExtensionType);
// others are logged and ignored, as JVB does.
constexpr std::array<std::string_view, 13> kKnownHeaderExtensions = {
    "urn:ietf:params:rtp-hdrext:csrc-audio-level",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "http://tools.ietf.org/html/draft-ietf-avtext-framemarking-07",
    "urn:ietf:params:rtp-hdrext:ohb",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:toffset",
    "http://www.webrtc.org/experiments/rtp-hdrext/video-content-type",
    "urn:3gpp:video-orientation",
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension",
    "http://www.webrtc.org/experiments/rtp-hdrext/video-layers-allocation00",
    "urn:ietf:params:rtp-hdrext:sdes:mid",
};

bool knownHeaderExtension(const std::string& uri) {
  return std::find(kKnownHeaderExtensions.begin(), kKnownHeaderExtensions.end(), uri) !=
         kKnownHeaderExtensions.end();
}

template <size_t N>
std::array<unsigned char, N> randomBytes() {
  std::array<unsigned char, N> out{};
  if (RAND_bytes(out.data(), static_cast<int>(N)) != 1) {
    throw std::runtime_error("conference: RAND_bytes failed");
  }
  return out;
}

uint32_t randomU32() {
  const auto b = randomBytes<4>();
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

std::string randomHex16() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : randomBytes<8>()) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0x0F]);
  }
  return out;
}

// 24 characters of [A-Za-z0-9], uniformly (bytes >= 248 are redrawn).
std::string randomWebsocketPassword() {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  while (out.size() < 24) {
    for (const unsigned char c : randomBytes<32>()) {
      if (c < 248 && out.size() < 24) {
        out.push_back(kChars[c % 62]);
      }
    }
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  });
  return out;
}

ModifyError makeError(ErrorCondition condition, ErrorReason reason, std::string text) {
  return ModifyError{condition, reason, std::move(text), {}};
}

ModifyResult failed(ModifyError error) {
  ModifyResult r;
  r.error = std::move(error);
  return r;
}

// Validation JVB does before touching anything (validateRequest).
std::optional<ModifyError> validateShape(const ConferenceModify& req) {
  if (!req.endpoints.empty() && req.hasRelays()) {
    return makeError(ErrorCondition::kFeatureNotImplemented, ErrorReason::kFeatureNotImplemented,
                     "Using both 'relay' and 'endpoint' in a request");
  }
  if (req.endpoints.size() > 1 &&
      std::any_of(req.endpoints.begin(), req.endpoints.end(),
                  [](const EndpointRequest& e) { return e.touchesMedia(); })) {
    return makeError(ErrorCondition::kFeatureNotImplemented, ErrorReason::kFeatureNotImplemented,
                     "Creating or updating media, sources or transport for more than one endpoint "
                     "in a request.");
  }
  if (req.relays > 1) {
    return makeError(ErrorCondition::kFeatureNotImplemented, ErrorReason::kFeatureNotImplemented,
                     "Updating more than one 'relay' in a request.");
  }
  return std::nullopt;
}

// <connects> applied to `conf` (staged). With connect ids, as JVB's
// ExporterWrapper.applyConnects: a delta (create: new id, expire: remove,
// neither: update of a running id, where only exports and requests may
// change), validated as a whole, expires before creates. Without ids (a
// Jicofo from before them), as JVB did then (ExporterWrapper.setConnects):
// the list is the whole set, empty stops, and a running export cannot be
// changed. Video is not supported (JVB: FeatureNotImplementedException).
std::optional<ModifyError> applyConnects(Conference& conf, const ConferenceModify& req) {
  const auto fni = [](std::string text) {
    return makeError(ErrorCondition::kFeatureNotImplemented, ErrorReason::kFeatureNotImplemented,
                     std::move(text));
  };
  const auto bad = [](std::string text) {
    return makeError(ErrorCondition::kBadRequest, ErrorReason::kNone, std::move(text));
  };
  for (const auto& c : req.connects) {
    if (c.video) {
      return fni("Video");
    }
  }
  const size_t withId = static_cast<size_t>(std::count_if(
      req.connects.begin(), req.connects.end(), [](const ConnectRequest& c) { return c.id; }));
  if (withId == 0) {
    if (req.connects.empty()) {
      conf.connects.clear();
      return std::nullopt;
    }
    if (!conf.connects.empty()) {
      return fni("Changing connects once enabled.");
    }
    if (req.connects.size() > 1) {
      return fni("Multiple connects");
    }
    conf.connects.emplace("", req.connects.front()).first->second.create = false;
    return std::nullopt;
  }
  if (withId != req.connects.size()) {
    return bad("Connects with and without an id in one request");
  }
  std::set<std::string> toExpire;
  for (const auto& c : req.connects) {
    if (c.expire && !toExpire.insert(*c.id).second) {
      return bad(fmt::format("Duplicate expire for id={}", *c.id));
    }
  }
  std::set<std::string> seen;
  for (const auto& c : req.connects) {
    if (c.expire) {
      continue;
    }
    const std::string& id = *c.id;
    if (!seen.insert(id).second) {
      return bad(fmt::format("Multiple connects for id={}", id));
    }
    const auto running = conf.connects.find(id);
    if (c.create) {
      if (running != conf.connects.end() && toExpire.count(id) == 0) {
        return bad(fmt::format("Connect with create=true for an already-existing id={}", id));
      }
      continue;
    }
    if (toExpire.count(id) != 0) {
      return bad(fmt::format("Connect update for id={} expired in the same request", id));
    }
    if (running == conf.connects.end()) {
      return bad(fmt::format("Connect for unknown id={} without create=true", id));
    }
    const ConnectRequest& r = running->second;
    std::string changes;
    const auto add = [&changes](const char* what) {
      if (!changes.empty()) {
        changes += ", ";
      }
      changes += what;
    };
    if (r.url != c.url) {
      add("url");
    }
    if (r.type != c.type) {
      add("type");
    }
    if (r.audio != c.audio) {
      add("audio");
    }
    auto h1 = r.httpHeaders;
    auto h2 = c.httpHeaders;
    std::sort(h1.begin(), h1.end());
    std::sort(h2.begin(), h2.end());
    if (h1 != h2) {
      add("headers");
    }
    if (r.ping != c.ping) {
      add("ping");
    }
    if (!changes.empty()) {
      return fni(fmt::format("Updating connect {} for id={}", changes, id));
    }
  }
  for (const auto& id : toExpire) {
    if (conf.connects.erase(id) == 0) {
      LOG_WARN("colibri2", "conference {}: expire for unknown connect id={}", conf.meetingId, id);
    }
  }
  for (const auto& c : req.connects) {
    if (!c.expire) {
      ConnectRequest& stored = conf.connects[*c.id] = c;
      stored.create = false;  // what runs, not the delta that made it
    }
  }
  return std::nullopt;
}

template <typename T>
void addOrReplaceById(std::vector<T>& list, const T& item) {
  const auto it =
      std::find_if(list.begin(), list.end(), [&](const T& x) { return x.id == item.id; });
  if (it != list.end()) {
    *it = item;
  } else {
    list.push_back(item);
  }
}

void applyMedia(Endpoint& ep, const MediaDesc& audio) {
  for (const auto& pt : audio.payloadTypes) {
    addOrReplaceById(ep.audioPayloadTypes, pt);
  }
  for (const auto& ext : audio.headerExtensions) {
    if (knownHeaderExtension(ext.uri)) {
      addOrReplaceById(ep.audioHeaderExtensions, ext);
    } else {
      LOG_DEBUG("colibri2", "endpoint {}: ignoring unrecognized RTP header extension {} ({})",
                ep.id, ext.uri, ext.id);
    }
  }
  // JVB sets the flag from each <media> block in turn; video blocks are not
  // kept here, so the audio block's decides.
  ep.extmapAllowMixed = audio.extmapAllowMixed;
}

bool sameCandidate(const ice::Candidate& a, const ice::Candidate& b) {
  return a.component == b.component && a.protocol == b.protocol && a.ip == b.ip &&
         a.port == b.port && a.type == b.type;
}

void addCandidates(std::vector<ice::Candidate>& list, const std::vector<ice::Candidate>& add,
                   bool generationZeroOnly) {
  for (const auto& c : add) {
    // Candidates of another ICE generation than the agent's (0) are ignored.
    if (generationZeroOnly && c.generation != 0) {
      continue;
    }
    const bool dup = std::any_of(list.begin(), list.end(),
                                 [&](const ice::Candidate& x) { return sameCandidate(x, c); });
    if (!dup) {
      list.push_back(c);
    }
  }
}

// The endpoint's answer to an ICE restart: its new ufrag/pwd (and
// candidates) in a transport tagged with ice-generation, applied to the
// round in flight when the generation is its own and it was not answered
// yet (IceTransport.applyRemoteCredentialsToPendingRestart). Another round's
// answer or a repeat changes nothing; with no round in flight it is an
// ordinary update, which (as in IceTransport.startConnectivityEstablishment)
// an established transport ignores. Returns false for the ordinary case.
bool applyTaggedRemoteIce(Endpoint& ep, const RemoteIce& ice) {
  const int generation = *ice.iceGeneration;
  IceRestart* r = ep.iceRestart ? &*ep.iceRestart : nullptr;
  if (r == nullptr && !ep.iceConnected) {
    return false;
  }
  if (r == nullptr || r->generation != generation) {
    LOG_INFO("colibri2", "endpoint {}: ignoring ICE credentials for generation {} ({})", ep.id,
             generation,
             r == nullptr ? std::string("no ICE restart in flight")
                          : fmt::format("the restart in flight is generation {}", r->generation));
    return true;
  }
  if (r->remoteKnown) {
    LOG_INFO("colibri2",
             "endpoint {}: ICE restart generation {} already answered, ignoring a repeat", ep.id,
             generation);
    return true;
  }
  if (!ice.ufrag || !ice.pwd || ice.ufrag->empty() || ice.pwd->empty()) {
    LOG_WARN("colibri2",
             "endpoint {}: ICE restart generation {}: an answer without ufrag/pwd, ignored", ep.id,
             generation);
    return true;
  }
  r->remoteKnown = true;
  r->remoteUfrag = *ice.ufrag;
  r->remotePwd = *ice.pwd;
  // All of them: the round is told by the transport's ice-generation (a
  // browser numbers its own candidates' generation per restart too).
  addCandidates(r->remoteCandidates, ice.candidates, false);
  LOG_INFO("colibri2", "endpoint {}: ICE restart generation {}: the endpoint's new ufrag {}", ep.id,
           generation, r->remoteUfrag);
  return true;
}

// Endpoint.setTransportInfo: fingerprints, DTLS role, then ICE parameters.
void applyRemoteIce(Endpoint& ep, const RemoteIce& ice) {
  std::vector<Fingerprint> usable;
  for (const auto& fp : ice.fingerprints) {
    if (!fp.hash.empty() && !fp.value.empty()) {
      usable.push_back(fp);
    }
  }
  // An empty list does not wipe fingerprints from an earlier request.
  if (!usable.empty()) {
    ep.remoteFingerprints = std::move(usable);
  }
  if (!ice.fingerprints.empty() && !ice.fingerprints.front().setup.empty()) {
    ep.remoteDtlsSetup = ice.fingerprints.front().setup;
    ep.dtlsSetup = localDtlsSetup(ep.dtlsSetup, ep.remoteDtlsSetup);
  }
  ep.remoteRtcpMux = ep.remoteRtcpMux || ice.rtcpMux;
  if (ice.iceGeneration && applyTaggedRemoteIce(ep, ice)) {
    return;
  }
  if (ice.ufrag) {
    ep.remoteUfrag = *ice.ufrag;
  }
  if (ice.pwd) {
    ep.remotePwd = *ice.pwd;
  }
  addCandidates(ep.remoteCandidates, ice.candidates, true);
}

// <transport ice-restart='true'/> for an existing endpoint, handled last (as
// JVB does: after the rest of the request, so credentials in the same
// request belong to the established transport). The reply's <transport> is
// how the answer is signalled: new credentials tagged with the round's
// ice-generation, the current ones untagged (nothing to restart yet), or
// none at all (restarts disabled: Jicofo falls back to a re-invite).
// Colibri2ConferenceHandler.kt, IceTransport.requestIceRestart.
IceRestartOutcome restartIce(Endpoint& ep, bool enabled) {
  if (!enabled) {
    LOG_WARN("colibri2",
             "endpoint {}: ICE restart requested, but restarts are disabled "
             "(videobridge.ice.restart): no transport sent",
             ep.id);
    return IceRestartOutcome::kRejected;
  }
  if (!ep.iceConnected) {
    LOG_INFO("colibri2",
             "endpoint {}: ICE restart requested before ICE connected: keeping the "
             "current transport",
             ep.id);
    return IceRestartOutcome::kNotEstablished;
  }
  if (ep.iceRestart && !ep.iceRestart->remoteKnown) {
    // Clients fire duplicate network-change events: the round the endpoint
    // may already be checking against stays.
    LOG_INFO("colibri2",
             "endpoint {}: ICE restart generation {} not answered yet: same "
             "credentials again",
             ep.id, ep.iceRestart->generation);
    return IceRestartOutcome::kRepeated;
  }
  const bool superseding = ep.iceRestart.has_value();
  IceRestart r;
  r.generation = ++ep.iceGeneration;
  r.local = ice::generateCredentials();
  LOG_INFO("colibri2", "endpoint {}: ICE restart generation {}{}: new local ufrag {} (current {})",
           ep.id, r.generation, superseding ? " (superseding the one in flight)" : "",
           r.local.ufrag, ep.localIce.ufrag);
  ep.iceRestart = std::move(r);
  return superseding ? IceRestartOutcome::kSuperseded : IceRestartOutcome::kStarted;
}

Endpoint newEndpoint(const EndpointRequest& req) {
  Endpoint ep;
  ep.id = req.id;
  ep.statsId = req.statsId.value_or("");
  ep.mucRole = req.mucRole.value_or("");
  ep.visitor = ep.mucRole == "visitor";
  ep.localIce = ice::generateCredentials();
  ep.iceControlling = req.transport->iceControlling;
  ep.sctpRequested = req.transport->sctpRequested;
  ep.capabilities = req.capabilities;
  ep.websocketPassword = randomWebsocketPassword();
  return ep;
}

// One <endpoint> of the request against the staged conference
// (Colibri2ConferenceHandler.handleColibri2Endpoint). On error the staged
// copy is thrown away by the caller.
std::optional<ModifyError> applyEndpoint(Conference& conf, const EndpointRequest& req,
                                         bool ignoreUnknown, bool sctpEnabled,
                                         bool iceRestartEnabled, EndpointReply& reply,
                                         std::set<std::string>& changed,
                                         std::set<std::string>& created) {
  reply.id = req.id;
  if (req.expire) {
    conf.endpoints.erase(req.id);
    changed.erase(req.id);
    created.erase(req.id);
    reply.expired = true;
    return std::nullopt;
  }

  Endpoint* ep = nullptr;
  if (req.create) {
    if (conf.endpoints.count(req.id) != 0) {
      return makeError(ErrorCondition::kConflict, ErrorReason::kNone,
                       "Endpoint with ID " + req.id + " already exists");
    }
    if (!req.transport) {
      return makeError(ErrorCondition::kBadRequest, ErrorReason::kNone,
                       "Attempt to create endpoint " + req.id + " with no <transport>");
    }
    if (!req.hasCapability(kCapSourceNames)) {
      return makeError(ErrorCondition::kBadRequest, ErrorReason::kNone,
                       "Source name support is mandatory.");
    }
    const TransportDesc& t = *req.transport;
    if (t.sctpRequested) {
      // Colibri2ConferenceHandler.kt: SCTP asked for while disabled.
      if (!sctpEnabled) {
        return makeError(ErrorCondition::kFeatureNotImplemented, ErrorReason::kNone,
                         "SCTP support is not configured");
      }
      if (!t.sctpRole.empty() && t.sctpRole != "server") {
        return makeError(ErrorCondition::kFeatureNotImplemented, ErrorReason::kNone,
                         "Unsupported SCTP role: " + upper(t.sctpRole));
      }
      if (t.sctpPort && *t.sctpPort != kSctpPort) {
        return makeError(ErrorCondition::kBadRequest, ErrorReason::kNone,
                         "Specific SCTP port requested, not supported.");
      }
    }
    ep = &conf.endpoints.emplace(req.id, newEndpoint(req)).first->second;
    created.insert(req.id);
  } else {
    const auto it = conf.endpoints.find(req.id);
    if (it == conf.endpoints.end()) {
      if (ignoreUnknown) {
        return std::nullopt;  // echoed as a bare <endpoint id/>
      }
      ModifyError e = makeError(ErrorCondition::kItemNotFound, ErrorReason::kUnknownEndpoint,
                                "Endpoint not found for ID: " + req.id);
      e.endpointId = req.id;
      return e;
    }
    ep = &it->second;
  }

  if (req.audio) {
    applyMedia(*ep, *req.audio);
  }
  ep->acceptsAudio = !ep->audioPayloadTypes.empty();
  if (req.initialLastN) {
    ep->initialLastN = req.initialLastN;
  }
  if (req.transport && req.transport->ice) {
    applyRemoteIce(*ep, *req.transport->ice);
  }
  if (req.sources) {
    if (ep->visitor && req.sources->mediaSourceCount() > 0) {
      return makeError(ErrorCondition::kBadRequest, ErrorReason::kNone,
                       "Attempt to set sources for visitor endpoint " + req.id);
    }
    ep->audioSources.clear();
    ep->ssrcGroups.clear();
    for (const auto& ms : req.sources->audio) {
      for (const auto& s : ms.sources) {
        ep->audioSources[s.ssrc] = AudioSource{ms.id, ms.synthetic};
      }
      ep->ssrcGroups.insert(ep->ssrcGroups.end(), ms.groups.begin(), ms.groups.end());
    }
  }
  if (req.forceMute) {
    ep->forceMuteAudio = req.forceMute->audio;
    ep->forceMuteVideo = req.forceMute->video;
  }
  if (req.create) {
    reply.transport = LocalTransport{ep->localIce, std::nullopt, ep->dtlsSetup,
                                     ep->websocketPassword, ep->sctpRequested};
  } else if (req.transport && req.transport->iceRestart) {
    reply.iceRestart = restartIce(*ep, iceRestartEnabled);
    if (reply.iceRestart != IceRestartOutcome::kRejected) {
      // <sctp> only when this request asked for it (JVB); the DTLS identity
      // and the colibri-ws URL are the endpoint's, unchanged.
      LocalTransport t{ep->localIce, std::nullopt, ep->dtlsSetup, ep->websocketPassword,
                       req.transport->sctpRequested};
      if (reply.iceRestart != IceRestartOutcome::kNotEstablished) {
        t.ice = ep->iceRestart->local;
        t.iceGeneration = ep->iceRestart->generation;
      }
      reply.transport = std::move(t);
    }
  }
  changed.insert(req.id);
  return std::nullopt;
}

}  // namespace

std::string_view reasonName(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::kNone:
      return "";
    case ErrorReason::kConferenceNotFound:
      return "conference_not_found";
    case ErrorReason::kConferenceAlreadyExists:
      return "conference_already_exists";
    case ErrorReason::kFeatureNotImplemented:
      return "feature_not_implemented";
    case ErrorReason::kGracefulShutdown:
      return "graceful_shutdown";
    case ErrorReason::kUnknownEndpoint:
      return "unknown_endpoint";
    case ErrorReason::kUnspecified:
      return "unspecified";
  }
  return "";
}

std::optional<std::string> entityBareJid(std::string_view jid) {
  constexpr size_t kMaxPart = 1023;
  const size_t at = jid.find('@');
  const size_t slash = jid.find('/');
  if (at == std::string_view::npos || at == 0 || (slash != std::string_view::npos && slash < at)) {
    return std::nullopt;
  }
  const std::string_view local = jid.substr(0, at);
  const std::string_view domain =
      slash == std::string_view::npos ? jid.substr(at + 1) : jid.substr(at + 1, slash - at - 1);
  if (domain.empty() || local.size() > kMaxPart || domain.size() > kMaxPart) {
    return std::nullopt;
  }
  const auto control = [](unsigned char c) { return c <= 0x20 || c == 0x7F; };
  for (const unsigned char c : local) {
    if (control(c) ||
        std::string_view("\"&'/:<>@").find(static_cast<char>(c)) != std::string_view::npos) {
      return std::nullopt;
    }
  }
  for (const unsigned char c : domain) {
    if (control(c) || c == '@') {
      return std::nullopt;
    }
  }
  std::string out(local);
  out += '@';
  out += domain;
  return out;
}

std::string localDtlsSetup(const std::string& current, const std::string& remoteSetup) {
  const std::string remote = lower(remoteSetup);
  if (remote == "active") {
    return "passive";
  }
  if (remote == "passive" || remote == "actpass") {
    return "active";
  }
  return current;
}

ConferenceRegistry::ConferenceRegistry(std::function<Clock::time_point()> now)
    : now_(std::move(now)) {}

ModifyResult ConferenceRegistry::apply(const ConferenceModify& req, bool refuseNewConferences) {
  const auto existing = conferences_.find(req.meetingId);
  const bool existed = existing != conferences_.end();

  // Videobridge.getOrCreateConference.
  std::optional<std::string> name;
  if (req.create) {
    if (existed) {
      return failed(makeError(ErrorCondition::kConflict, ErrorReason::kConferenceAlreadyExists,
                              "Conference already exists for ID: " + req.meetingId));
    }
    if (refuseNewConferences) {
      return failed(makeError(ErrorCondition::kServiceUnavailable, ErrorReason::kGracefulShutdown,
                              "In graceful shutdown"));
    }
    if (req.name) {
      name = entityBareJid(*req.name);
      if (!name) {
        return failed(makeError(ErrorCondition::kBadRequest, ErrorReason::kNone,
                                "Invalid conference name (not a JID)"));
      }
    }
  } else if (!existed) {
    return failed(makeError(ErrorCondition::kItemNotFound, ErrorReason::kConferenceNotFound,
                            "Conference not found for ID: " + req.meetingId));
  }
  if (auto e = validateShape(req)) {
    return failed(std::move(*e));
  }

  // Stage: work on a copy, commit only when the whole request succeeded. The
  // copy holds the conference's own fields and only the endpoints the request
  // names (applyEndpoint touches no other): copying every endpoint made each
  // request cost O(conference size), 1.6 ms at 1 000 endpoints, which a room
  // joining at 200/s cannot afford on the control thread.
  Conference staged;
  if (existed) {
    Conference& live = existing->second;
    auto all = std::move(live.endpoints);
    live.endpoints.clear();
    staged = live;
    live.endpoints = std::move(all);
    for (const auto& er : req.endpoints) {
      if (const auto it = live.endpoints.find(er.id); it != live.endpoints.end()) {
        staged.endpoints.try_emplace(it->first, it->second);
      }
    }
  } else {
    staged.meetingId = req.meetingId;
    staged.name = name;
    do {
      staged.internalId = randomHex16();
    } while (byInternalId_.count(staged.internalId) != 0);
    staged.feedbackAudioSsrc = randomU32();
    do {
      staged.feedbackVideoSsrc = randomU32();
    } while (staged.feedbackVideoSsrc == staged.feedbackAudioSsrc);
    staged.createdAt = now_();
    staged.rtcstatsEnabled = req.rtcstatsEnabled;
  }

  // Unknown endpoints are ignored unless some endpoint creates or changes
  // media, transport or sources (shouldIgnoreUnknownEndpoints).
  const bool ignoreUnknown =
      std::none_of(req.endpoints.begin(), req.endpoints.end(),
                   [](const EndpointRequest& e) { return e.touchesMedia(); });
  ModifyResult result;
  ModifyReply& reply = result.reply;
  std::set<std::string> changed;
  std::set<std::string> created;
  for (const auto& er : req.endpoints) {
    EndpointReply r;
    if (auto e = applyEndpoint(staged, er, ignoreUnknown, sctpEnabled_, iceRestartEnabled_, r,
                               changed, created)) {
      return failed(std::move(*e));
    }
    reply.endpoints.push_back(std::move(r));
  }
  if (req.hasConnects) {
    if (auto e = applyConnects(staged, req)) {
      return failed(std::move(*e));
    }
  }
  if (req.hasRelays()) {
    return failed(makeError(ErrorCondition::kFeatureNotImplemented, ErrorReason::kNone,
                            "Octo is disabled in configuration."));
  }

  // The request succeeded: build the reply data, then commit.
  reply.meetingId = staged.meetingId;
  reply.internalId = staged.internalId;
  reply.feedbackAudioSsrc = staged.feedbackAudioSsrc;
  reply.feedbackVideoSsrc = staged.feedbackVideoSsrc;
  reply.conferenceCreated = !existed;
  reply.feedbackSources =
      req.create || std::any_of(req.endpoints.begin(), req.endpoints.end(),
                                [](const EndpointRequest& e) { return e.create; });
  if (req.expire) {
    LOG_INFO("colibri2", "conference {}: expire requested", req.meetingId);
  }
  // The endpoints of the conference once committed: those the request did
  // not name, and the named ones still staged.
  size_t remaining = staged.endpoints.size();
  if (existed) {
    remaining += existing->second.endpoints.size();
    std::set<std::string> named;
    for (const auto& er : req.endpoints) {
      if (named.insert(er.id).second && existing->second.endpoints.count(er.id) != 0) {
        --remaining;  // counted in staged if it is still there
      }
    }
  }
  reply.conferenceExpired = req.expire || (!req.create && remaining == 0);

  const bool connectsChanged =
      existed ? existing->second.connects != staged.connects : !staged.connects.empty();

  std::vector<std::string> gone;
  if (existed && reply.conferenceExpired) {
    for (const auto& [id, ep] : existing->second.endpoints) {
      gone.push_back(id);
    }
  } else if (existed) {
    std::set<std::string> named;  // sorted, as the whole-map walk gave them
    for (const auto& er : req.endpoints) {
      if (existing->second.endpoints.count(er.id) != 0 && staged.endpoints.count(er.id) == 0) {
        named.insert(er.id);
      }
    }
    gone.assign(named.begin(), named.end());
  }
  totalParticipants_ += created.size();
  for (const auto& r : reply.endpoints) {
    switch (r.iceRestart) {
      case IceRestartOutcome::kNone:
        break;
      case IceRestartOutcome::kStarted:
        ++iceRestarts_.started;
        break;
      case IceRestartOutcome::kSuperseded:
        ++iceRestarts_.started;
        ++iceRestarts_.superseded;
        break;
      case IceRestartOutcome::kRepeated:
        ++iceRestarts_.repeated;
        break;
      case IceRestartOutcome::kNotEstablished:
        ++iceRestarts_.notEstablished;
        break;
      case IceRestartOutcome::kRejected:
        ++iceRestarts_.rejected;
        break;
    }
  }
  if (!existed) {
    ++totalCreated_;
    LOG_INFO("colibri2", "conference {} created (id {}, name {})", staged.meetingId,
             staged.internalId, staged.name.value_or("-"));
  }

  const std::string meetingId = req.meetingId;
  const Conference* committed = nullptr;
  if (reply.conferenceExpired) {
    if (existed) {
      remove(existing);
    } else {
      ++totalCompleted_;
    }
    LOG_INFO("colibri2", "conference {} expired", meetingId);
  } else if (existed) {
    // Commit: the staged fields, the named endpoints as staged (or gone),
    // every other endpoint untouched.
    auto all = std::move(existing->second.endpoints);
    for (const auto& er : req.endpoints) {
      all.erase(er.id);
    }
    for (auto& [id, ep] : staged.endpoints) {
      all.insert_or_assign(id, std::move(ep));
    }
    staged.endpoints = std::move(all);
    existing->second = std::move(staged);
    committed = &existing->second;
  } else {
    byInternalId_[staged.internalId] = meetingId;
    committed = &conferences_.emplace(meetingId, std::move(staged)).first->second;
  }

  for (const auto& id : gone) {
    LOG_INFO("colibri2", "conference {}: endpoint {} expired", meetingId, id);
  }
  if (committed != nullptr) {
    for (const auto& id : created) {
      LOG_INFO("colibri2", "conference {}: endpoint {} created", meetingId, id);
    }
  }

  if (listener_ != nullptr) {
    for (const auto& id : gone) {
      listener_->endpointExpired(meetingId, id);
    }
    if (committed != nullptr) {
      for (const auto& id : changed) {
        const auto it = committed->endpoints.find(id);
        if (it != committed->endpoints.end()) {
          listener_->endpointChanged(meetingId, it->second);
        }
      }
    }
    if (committed != nullptr && connectsChanged) {
      listener_->connectsChanged(meetingId, *committed);
    }
    if (reply.conferenceExpired && existed) {
      listener_->conferenceExpired(meetingId);
    }
  }
  return result;
}

void ConferenceRegistry::remove(std::map<std::string, Conference, std::less<>>::iterator it) {
  ++totalCompleted_;
  totalSeconds_ += std::chrono::duration<double>(now_() - it->second.createdAt).count();
  byInternalId_.erase(it->second.internalId);
  conferences_.erase(it);
}

bool ConferenceRegistry::expireConference(const std::string& meetingId) {
  const auto it = conferences_.find(meetingId);
  if (it == conferences_.end()) {
    return false;
  }
  std::vector<std::string> ids;
  for (const auto& [id, ep] : it->second.endpoints) {
    ids.push_back(id);
  }
  remove(it);
  LOG_INFO("colibri2", "conference {} expired by the bridge", meetingId);
  if (listener_ != nullptr) {
    for (const auto& id : ids) {
      listener_->endpointExpired(meetingId, id);
    }
    listener_->conferenceExpired(meetingId);
  }
  return true;
}

bool ConferenceRegistry::expireEndpoint(const std::string& meetingId,
                                        const std::string& endpointId) {
  const auto it = conferences_.find(meetingId);
  if (it == conferences_.end() || it->second.endpoints.erase(endpointId) == 0) {
    return false;
  }
  if (listener_ != nullptr) {
    listener_->endpointExpired(meetingId, endpointId);
  }
  return true;
}

void ConferenceRegistry::iceConnected(const std::string& meetingId, const std::string& endpointId) {
  const auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    return;
  }
  const auto e = c->second.endpoints.find(endpointId);
  if (e != c->second.endpoints.end()) {
    e->second.iceConnected = true;
  }
}

void ConferenceRegistry::iceRestartEnded(const std::string& meetingId,
                                         const std::string& endpointId, const IceRestartEnd& end) {
  if (end.succeeded) {
    ++iceRestarts_.succeeded;
  } else {
    ++iceRestarts_.failed;
  }
  const auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    return;
  }
  const auto e = c->second.endpoints.find(endpointId);
  if (e == c->second.endpoints.end()) {
    return;
  }
  Endpoint& ep = e->second;
  const bool current = ep.iceRestart && ep.iceRestart->generation == end.generation;
  if (end.succeeded) {
    // The media thread cut over: what it now runs is the endpoint's
    // transport (a later round may be in flight already; it stays).
    ep.localIce = end.local;
    ep.remoteUfrag = end.remoteUfrag;
    ep.remotePwd = end.remotePwd;
    ep.remoteCandidates = current ? ep.iceRestart->remoteCandidates : std::vector<ice::Candidate>{};
  }
  if (current) {
    ep.iceRestart.reset();
  }
  LOG_INFO("colibri2", "conference {}: endpoint {}: ICE restart generation {} {}", meetingId,
           endpointId, end.generation, end.succeeded ? "connected" : "abandoned (old pair kept)");
}

const Conference* ConferenceRegistry::findByMeetingId(std::string_view meetingId) const {
  const auto it = conferences_.find(meetingId);
  return it == conferences_.end() ? nullptr : &it->second;
}

const Conference* ConferenceRegistry::findByInternalId(std::string_view internalId) const {
  const auto it = byInternalId_.find(internalId);
  return it == byInternalId_.end() ? nullptr : findByMeetingId(it->second);
}

const Endpoint* ConferenceRegistry::findEndpoint(std::string_view meetingId,
                                                 std::string_view endpointId) const {
  const Conference* c = findByMeetingId(meetingId);
  if (c == nullptr) {
    return nullptr;
  }
  const auto it = c->endpoints.find(std::string(endpointId));
  return it == c->endpoints.end() ? nullptr : &it->second;
}

ConferenceCounts ConferenceRegistry::counts() const {
  ConferenceCounts c;
  c.conferences = conferences_.size();
  for (const auto& [id, conf] : conferences_) {
    c.endpoints += conf.endpoints.size();
    c.largestConference = std::max(c.largestConference, conf.endpoints.size());
    for (const auto& [eid, ep] : conf.endpoints) {
      c.endpointsWithAudioSources += ep.audioSources.empty() ? 0 : 1;
    }
  }
  c.totalConferencesCreated = totalCreated_;
  c.totalConferencesCompleted = totalCompleted_;
  c.totalParticipants = totalParticipants_;
  c.totalConferenceSeconds = totalSeconds_;
  c.iceRestarts = iceRestarts_;
  return c;
}

}  // namespace jvb::control
