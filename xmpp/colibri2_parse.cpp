// <conference-modify> -> control::ConferenceModify. Element and attribute
// names follow jitsi-xmpp-extensions (colibri2/*, jingle/*, colibri/Source*).
#include <charconv>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "common/log.hpp"
#include "xmpp/colibri2.hpp"

namespace jvb::xmpp {

namespace {

using namespace jvb::control;

// A malformed request: becomes bad-request with this text.
struct Malformed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Children of `parent` whose effective namespace is `ns` (libstrophe gives
// parsed elements their resolved namespace; a built one without xmlns
// inherits its parent's).
template <typename F>
void forEachChild(xmpp_stanza_t* parent, const char* parentNs, F&& f) {
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(parent); c != nullptr;
       c = xmpp_stanza_get_next(c)) {
    if (!xmpp_stanza_is_tag(c)) {
      continue;
    }
    const char* name = xmpp_stanza_get_name(c);
    const char* ns = xmpp_stanza_get_ns(c);
    f(c, name != nullptr ? name : "", ns != nullptr ? ns : parentNs);
  }
}

bool is(const char* name, const char* ns, const char* wantName, const char* wantNs) {
  return std::strcmp(name, wantName) == 0 && ns != nullptr && std::strcmp(ns, wantNs) == 0;
}

std::string quoted(const std::string& v) {
  std::string s = v.size() > 64 ? v.substr(0, 64) + "..." : v;
  return "'" + s + "'";
}

[[noreturn]] void invalid(const char* element, const char* attrName, const std::string& value) {
  throw Malformed(std::string("Invalid value for the '") + attrName + "' attribute of <" + element +
                  ">: " + quoted(value));
}

std::string required(xmpp_stanza_t* s, const char* element, const char* name) {
  auto v = optionalAttr(s, name);
  if (!v) {
    throw Malformed(std::string("Missing required attribute '") + name + "' of <" + element + ">");
  }
  return *v;
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return s;
}

// Java's Boolean.parseBoolean reads anything but "true" as false; a value
// that is neither true nor false is refused here instead.
bool boolAttr(xmpp_stanza_t* s, const char* element, const char* name, bool fallback) {
  const auto v = optionalAttr(s, name);
  if (!v) {
    return fallback;
  }
  const std::string l = lower(*v);
  if (l == "true") {
    return true;
  }
  if (l == "false") {
    return false;
  }
  invalid(element, name, *v);
}

// A decimal integer in [min, max] (no sign, no spaces), or invalid().
template <typename T>
T number(const std::string& v, const char* element, const char* name, T min, T max) {
  const bool negative = !v.empty() && v[0] == '-';
  const char* begin = v.data() + (negative ? 1 : 0);
  const char* end = v.data() + v.size();
  unsigned long long magnitude = 0;
  // Unsigned from_chars takes digits only: no second sign, no spaces.
  const auto r = std::from_chars(begin, end, magnitude);
  if (begin == end || r.ec != std::errc() || r.ptr != end || magnitude > (1ULL << 32)) {
    invalid(element, name, v);
  }
  const long long out =
      negative ? -static_cast<long long>(magnitude) : static_cast<long long>(magnitude);
  if (out < static_cast<long long>(min) || out > static_cast<long long>(max)) {
    invalid(element, name, v);
  }
  return static_cast<T>(out);
}

template <typename T>
std::optional<T> optionalNumber(xmpp_stanza_t* s, const char* element, const char* name, T min,
                                T max) {
  const auto v = optionalAttr(s, name);
  if (!v) {
    return std::nullopt;
  }
  return number<T>(*v, element, name, min, max);
}

uint32_t ssrcAttr(xmpp_stanza_t* s, const char* element) {
  return number<uint32_t>(required(s, element, "ssrc"), element, "ssrc", 0,
                          std::numeric_limits<uint32_t>::max());
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) {
    return {};
  }
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

PayloadType parsePayloadType(xmpp_stanza_t* el) {
  PayloadType pt;
  pt.id = number<int>(required(el, "payload-type", "id"), "payload-type", "id", 0, 127);
  pt.name = attr(el, "name");
  pt.clockrate = optionalNumber<uint32_t>(el, "payload-type", "clockrate", 0,
                                          std::numeric_limits<uint32_t>::max())
                     .value_or(0);
  pt.channels = optionalNumber<int>(el, "payload-type", "channels", 1, 255).value_or(1);
  forEachChild(el, kNsJingleRtp, [&](xmpp_stanza_t* c, const char* name, const char* ns) {
    if (is(name, ns, "parameter", kNsJingleRtp)) {
      // A nameless parameter (non name=value fmtp) is ignored, as JVB does.
      if (auto n = optionalAttr(c, "name")) {
        pt.parameters[*n] = attr(c, "value");
      }
    } else if (is(name, ns, "rtcp-fb", kNsRtcpFb)) {
      pt.rtcpFb.push_back(RtcpFeedback{attr(c, "type"), attr(c, "subtype")});
    }
  });
  return pt;
}

void parseMedia(xmpp_stanza_t* el, EndpointRequest& ep) {
  const std::string given = required(el, "media", "type");
  const std::string type = lower(given);
  ++ep.mediaBlocks;
  if (type == "video") {
    ep.videoMediaSeen = true;  // audio-only bridge: recorded, not used
    return;
  }
  if (type == "data") {
    return;
  }
  if (type != "audio") {
    invalid("media", "type", given);
  }
  if (!ep.audio) {
    ep.audio.emplace();
  }
  MediaDesc& audio = *ep.audio;
  forEachChild(el, kNsColibri2, [&](xmpp_stanza_t* c, const char* name, const char* ns) {
    if (is(name, ns, "payload-type", kNsJingleRtp)) {
      audio.payloadTypes.push_back(parsePayloadType(c));
    } else if (is(name, ns, "rtp-hdrext", kNsRtpHdrExt)) {
      HeaderExtension ext;
      ext.id = number<int>(required(c, "rtp-hdrext", "id"), "rtp-hdrext", "id", 1, 255);
      ext.uri = required(c, "rtp-hdrext", "uri");
      audio.headerExtensions.push_back(std::move(ext));
    } else if (is(name, ns, "extmap-allow-mixed", kNsRtpHdrExt)) {
      audio.extmapAllowMixed = true;
    }
  });
}

ice::Candidate parseCandidate(xmpp_stanza_t* c) {
  constexpr const char* el = "candidate";
  ice::Candidate cand;
  cand.foundation = attr(c, "foundation");
  cand.component = optionalNumber<int>(c, el, "component", 1, 256).value_or(1);
  cand.protocol = lower(optionalAttr(c, "protocol").value_or("udp"));
  cand.priority =
      optionalNumber<uint32_t>(c, el, "priority", 0, std::numeric_limits<uint32_t>::max())
          .value_or(0);
  cand.ip = required(c, el, "ip");
  cand.port = number<uint16_t>(required(c, el, "port"), el, "port", 0, 65535);
  const std::string type = required(c, el, "type");
  cand.type = lower(type);
  if (cand.type != "host" && cand.type != "srflx" && cand.type != "prflx" && cand.type != "relay") {
    invalid(el, "type", type);
  }
  cand.relAddr = attr(c, "rel-addr");
  cand.relPort = optionalNumber<uint16_t>(c, el, "rel-port", 0, 65535).value_or(0);
  cand.generation = optionalNumber<int>(c, el, "generation", 0, 1 << 30).value_or(0);
  cand.network = optionalNumber<int>(c, el, "network", 0, 1 << 30).value_or(0);
  cand.id = attr(c, "id");
  return cand;
}

RemoteIce parseIceUdp(xmpp_stanza_t* el) {
  RemoteIce ice;
  ice.ufrag = optionalAttr(el, "ufrag");
  ice.pwd = optionalAttr(el, "pwd");
  ice.iceGeneration = optionalNumber<int>(el, "transport", "ice-generation", 0, 1 << 30);
  forEachChild(el, kNsIceUdp, [&](xmpp_stanza_t* c, const char* name, const char* ns) {
    if (is(name, ns, "candidate", kNsIceUdp)) {
      ice.candidates.push_back(parseCandidate(c));
    } else if (is(name, ns, "rtcp-mux", kNsIceUdp)) {
      ice.rtcpMux = true;
    } else if (is(name, ns, "fingerprint", kNsDtls)) {
      ice.fingerprints.push_back(
          Fingerprint{lower(attr(c, "hash")), trim(text(c)), lower(attr(c, "setup"))});
    }
  });
  return ice;
}

TransportDesc parseTransport(xmpp_stanza_t* el) {
  TransportDesc t;
  t.iceControlling = boolAttr(el, "transport", "ice-controlling", false);
  t.iceRestart = boolAttr(el, "transport", "ice-restart", false);
  (void)boolAttr(el, "transport", "use-unique-port", false);  // relays only
  forEachChild(el, kNsColibri2, [&](xmpp_stanza_t* c, const char* name, const char* ns) {
    if (is(name, ns, "transport", kNsIceUdp)) {
      if (!t.ice) {
        t.ice = parseIceUdp(c);
      }
    } else if (is(name, ns, "sctp", kNsColibri2)) {
      if (t.sctpRequested) {
        return;
      }
      t.sctpRequested = true;
      t.sctpPort = optionalNumber<int>(c, "sctp", "port", std::numeric_limits<int>::min(),
                                       std::numeric_limits<int>::max());
      if (auto role = optionalAttr(c, "role")) {
        t.sctpRole = lower(*role);
        if (t.sctpRole != "client" && t.sctpRole != "server") {
          invalid("sctp", "role", *role);
        }
      }
    }
  });
  return t;
}

Sources parseSources(xmpp_stanza_t* el) {
  Sources out;
  forEachChild(el, kNsColibri2, [&](xmpp_stanza_t* ms, const char* name, const char* ns) {
    if (!is(name, ns, "media-source", kNsColibri2)) {
      return;
    }
    const std::string given = required(ms, "media-source", "type");
    const std::string type = lower(given);
    const std::string id = required(ms, "media-source", "id");
    const bool synthetic = boolAttr(ms, "media-source", "synthetic", false);
    if (type == "video") {
      ++out.videoMediaSources;  // audio-only bridge: counted, not used
      return;
    }
    if (type != "audio") {
      invalid("media-source", "type", given);
    }
    AudioMediaSource audio{id, synthetic, {}, {}};
    forEachChild(ms, kNsColibri2, [&](xmpp_stanza_t* c, const char* cname, const char* cns) {
      if (is(cname, cns, "source", kNsSsma)) {
        audio.sources.push_back(SourceDesc{ssrcAttr(c, "source"), attr(c, "name")});
      } else if (is(cname, cns, "ssrc-group", kNsSsma)) {
        SsrcGroup g;
        g.semantics = attr(c, "semantics");
        forEachChild(c, kNsSsma, [&](xmpp_stanza_t* s, const char* sname, const char* sns) {
          if (is(sname, sns, "source", kNsSsma)) {
            g.ssrcs.push_back(ssrcAttr(s, "source"));
          }
        });
        audio.groups.push_back(std::move(g));
      }
    });
    out.audio.push_back(std::move(audio));
  });
  return out;
}

std::string mucRole(const std::string& v) {
  const std::string l = lower(v);
  if (l != "moderator" && l != "participant" && l != "visitor" && l != "none") {
    invalid("endpoint", "muc-role", v);
  }
  return l;
}

EndpointRequest parseEndpoint(xmpp_stanza_t* el) {
  EndpointRequest ep;
  ep.id = required(el, "endpoint", "id");
  ep.create = boolAttr(el, "endpoint", "create", false);
  ep.expire = boolAttr(el, "endpoint", "expire", false);
  ep.statsId = optionalAttr(el, "stats-id");
  if (auto role = optionalAttr(el, "muc-role")) {
    ep.mucRole = mucRole(*role);
  }
  forEachChild(el, kNsColibri2, [&](xmpp_stanza_t* c, const char* name, const char* ns) {
    if (is(name, ns, "media", kNsColibri2)) {
      parseMedia(c, ep);
    } else if (is(name, ns, "transport", kNsColibri2)) {
      if (!ep.transport) {
        ep.transport = parseTransport(c);
      }
    } else if (is(name, ns, "sources", kNsColibri2)) {
      if (!ep.sources) {
        ep.sources = parseSources(c);
      }
    } else if (is(name, ns, "force-mute", kNsColibri2)) {
      if (!ep.forceMute) {
        ep.forceMute = ForceMute{boolAttr(c, "force-mute", "audio", false),
                                 boolAttr(c, "force-mute", "video", false)};
      }
    } else if (is(name, ns, "capability", kNsColibri2)) {
      if (auto n = optionalAttr(c, "name")) {
        ep.capabilities.insert(*n);
      }
    } else if (is(name, ns, "initial-last-n", kNsColibri2)) {
      if (!ep.initialLastN) {
        ep.initialLastN =
            number<int>(required(c, "initial-last-n", "value"), "initial-last-n", "value",
                        std::numeric_limits<int>::min(), std::numeric_limits<int>::max());
      }
    }
  });
  return ep;
}

ConferenceModify parse(xmpp_stanza_t* el) {
  ConferenceModify req;
  req.meetingId = required(el, "conference-modify", "meeting-id");
  if (trim(req.meetingId).empty()) {
    invalid("conference-modify", "meeting-id", req.meetingId);
  }
  req.name = optionalAttr(el, "name");
  req.create = boolAttr(el, "conference-modify", "create", false);
  req.expire = boolAttr(el, "conference-modify", "expire", false);
  req.rtcstatsEnabled = boolAttr(el, "conference-modify", "rtcstats-enabled", true);
  forEachChild(el, kNsColibri2, [&](xmpp_stanza_t* c, const char* name, const char* ns) {
    if (is(name, ns, "endpoint", kNsColibri2)) {
      req.endpoints.push_back(parseEndpoint(c));
    } else if (is(name, ns, "relay", kNsColibri2)) {
      ++req.relays;
    } else if (is(name, ns, "connects", kNsColibri2)) {
      req.hasConnects = true;
    }
  });
  return req;
}

}  // namespace

std::variant<control::ConferenceModify, IqError> parseConferenceModify(
    xmpp_stanza_t* conferenceModify) {
  if (conferenceModify == nullptr || !xmpp_stanza_is_tag(conferenceModify)) {
    return IqError{"modify", "bad-request", "No <conference-modify>", {}};
  }
  try {
    return parse(conferenceModify);
  } catch (const Malformed& e) {
    return IqError{"modify", "bad-request", e.what(), {}};
  }
}

}  // namespace jvb::xmpp
