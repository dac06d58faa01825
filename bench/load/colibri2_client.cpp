#include "colibri2_client.hpp"

#include <fmt/format.h>

#include <string_view>

#include "ice/host_addresses.hpp"
#include "xmpp/strophe.hpp"

namespace jvb::load {

namespace {

constexpr const char* kNsIceUdp = "urn:xmpp:jingle:transports:ice-udp:1";
constexpr const char* kNsDtls = "urn:xmpp:jingle:apps:dtls:0";

xmpp_stanza_t* childNamed(xmpp_stanza_t* parent, std::string_view name, const char* ns = nullptr) {
  if (parent == nullptr) {
    return nullptr;
  }
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(parent); c != nullptr;
       c = xmpp_stanza_get_next(c)) {
    const char* n = xmpp_stanza_get_name(c);
    if (!xmpp_stanza_is_tag(c) || n == nullptr || name != n) {
      continue;
    }
    const char* cns = xmpp_stanza_get_ns(c);
    if (ns == nullptr || (cns != nullptr && std::string_view(cns) == ns)) {
      return c;
    }
  }
  return nullptr;
}

}  // namespace

std::string xmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string allocateXml(const std::string& meetingId, const std::optional<std::string>& roomName,
                        const std::string& endpointId, uint32_t ssrc, bool ssrcRewriting) {
  const std::string conf =
      roomName ? fmt::format(" name='{}' create='true'", xmlEscape(*roomName)) : std::string();
  return fmt::format(
      "<conference-modify xmlns='jitsi:colibri2' meeting-id='{0}'{1}>"
      "<endpoint id='{2}' create='true' stats-id='{2}-stats'>"
      "<media type='audio'>"
      "<payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='111' name='opus' clockrate='48000' "
      "channels='2'>"
      "<parameter name='minptime' value='10'/><parameter name='useinbandfec' value='1'/>"
      "<rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/>"
      "</payload-type>"
      "<payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='126' name='telephone-event' "
      "clockrate='8000'/>"
      "<rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' "
      "uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/>"
      "<rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='10' "
      "uri='urn:ietf:params:rtp-hdrext:sdes:mid'/>"
      "<rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='5' "
      "uri='http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01'/>"
      "<extmap-allow-mixed xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0'/>"
      "</media>"
      "<media type='video'>"
      "<payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='100' name='VP8' clockrate='90000'>"
      "<rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='ccm' subtype='fir'/>"
      "<rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack'/>"
      "<rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack' subtype='pli'/>"
      "<rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/>"
      "</payload-type>"
      "<payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='96' name='rtx' clockrate='90000'>"
      "<parameter name='apt' value='100'/></payload-type>"
      "<rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='3' "
      "uri='http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time'/>"
      "<rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='5' "
      "uri='http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01'/>"
      "<extmap-allow-mixed xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0'/>"
      "</media>"
      "<transport ice-controlling='true'/>"
      "<sources><media-source type='audio' id='{2}-a0'>"
      "<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{3}' name='{2}-a0'/>"
      "</media-source></sources>"
      "<capability name='source-names'/>{4}"
      "</endpoint></conference-modify>",
      xmlEscape(meetingId), conf, xmlEscape(endpointId), ssrc,
      ssrcRewriting ? "<capability name='ssrc-rewriting'/>" : "");
}

std::string transportXml(const std::string& meetingId, const std::string& endpointId,
                         const std::string& ufrag, const std::string& pwd,
                         const std::string& fingerprint, uint16_t port) {
  const uint32_t priority = ice::candidatePriority(ice::CandidateType::kHost, 65535);
  return fmt::format(
      "<conference-modify xmlns='jitsi:colibri2' meeting-id='{}'>"
      "<endpoint id='{}' stats-id='{}-stats'><transport>"
      "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='{}' pwd='{}'>"
      "<rtcp-mux/>"
      "<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>{}"
      "</fingerprint>"
      "<candidate foundation='1' component='1' protocol='udp' priority='{}' ip='127.0.0.1' "
      "port='{}' type='host' generation='0' network='0' id='c0'/>"
      "</transport></transport></endpoint></conference-modify>",
      xmlEscape(meetingId), xmlEscape(endpointId), xmlEscape(endpointId), xmlEscape(ufrag),
      xmlEscape(pwd), xmlEscape(fingerprint), priority, port);
}

std::string expireConferenceXml(const std::string& meetingId) {
  return fmt::format("<conference-modify xmlns='jitsi:colibri2' meeting-id='{}' expire='true'/>",
                     xmlEscape(meetingId));
}

std::string expireEndpointXml(const std::string& meetingId, const std::string& endpointId) {
  return fmt::format(
      "<conference-modify xmlns='jitsi:colibri2' meeting-id='{}'><endpoint id='{}' "
      "expire='true'/></conference-modify>",
      xmlEscape(meetingId), xmlEscape(endpointId));
}

std::string sourcesXml(const std::string& meetingId, const std::string& endpointId,
                       const std::vector<uint32_t>& ssrcs) {
  std::string sources;
  for (uint32_t ssrc : ssrcs) {
    sources +=
        fmt::format("<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{}' name='{}-a0'/>",
                    ssrc, xmlEscape(endpointId));
  }
  return fmt::format(
      "<conference-modify xmlns='jitsi:colibri2' meeting-id='{0}'><endpoint id='{1}'>"
      "<sources><media-source type='audio' id='{1}-a0'>{2}</media-source></sources>"
      "</endpoint></conference-modify>",
      xmlEscape(meetingId), xmlEscape(endpointId), sources);
}

std::string healthCheckXml() {
  return "<healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/>";
}

std::optional<BridgeTransport> parseBridgeTransport(xmpp_stanza_t* iq,
                                                    const std::string& endpointId,
                                                    std::string& why) {
  xmpp_stanza_t* cmod = childNamed(iq, "conference-modified");
  if (cmod == nullptr) {
    why = "no <conference-modified/> in the result";
    return std::nullopt;
  }
  xmpp_stanza_t* ep = nullptr;
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(cmod); c != nullptr;
       c = xmpp_stanza_get_next(c)) {
    const char* n = xmpp_stanza_get_name(c);
    if (xmpp_stanza_is_tag(c) && n != nullptr && std::string_view(n) == "endpoint" &&
        xmpp::attr(c, "id") == endpointId) {
      ep = c;
      break;
    }
  }
  if (ep == nullptr) {
    why = fmt::format("no <endpoint id='{}'> in <conference-modified/>", endpointId);
    return std::nullopt;
  }
  xmpp_stanza_t* ice = childNamed(childNamed(ep, "transport"), "transport", kNsIceUdp);
  if (ice == nullptr) {
    why = fmt::format("no ICE-UDP transport for endpoint {}", endpointId);
    return std::nullopt;
  }
  BridgeTransport t;
  t.ufrag = xmpp::attr(ice, "ufrag");
  t.pwd = xmpp::attr(ice, "pwd");
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(ice); c != nullptr;
       c = xmpp_stanza_get_next(c)) {
    const char* n = xmpp_stanza_get_name(c);
    if (!xmpp_stanza_is_tag(c) || n == nullptr) {
      continue;
    }
    const std::string_view name(n);
    if (name == "candidate") {
      ice::Candidate cand;
      cand.foundation = xmpp::attr(c, "foundation");
      cand.protocol = xmpp::attr(c, "protocol");
      cand.ip = xmpp::attr(c, "ip");
      cand.type = xmpp::attr(c, "type");
      cand.id = xmpp::attr(c, "id");
      try {
        cand.component = std::stoi(xmpp::attr(c, "component"));
        cand.priority = static_cast<uint32_t>(std::stoul(xmpp::attr(c, "priority")));
        cand.port = static_cast<uint16_t>(std::stoul(xmpp::attr(c, "port")));
      } catch (const std::exception&) {
        continue;  // malformed numbers: skip the candidate
      }
      t.candidates.push_back(std::move(cand));
    } else if (name == "web-socket" && t.webSocketUrl.empty()) {
      t.webSocketUrl = xmpp::attr(c, "url");
    } else if (name == "fingerprint" && t.fingerprint.empty()) {
      const char* ns = xmpp_stanza_get_ns(c);
      if (ns == nullptr || std::string_view(ns) == kNsDtls) {
        t.fingerprintHash = xmpp::attr(c, "hash");
        t.fingerprint = xmpp::text(c);
        t.setup = xmpp::attr(c, "setup");
      }
    }
  }
  if (t.ufrag.empty() || t.pwd.empty()) {
    why = fmt::format("no ICE ufrag/pwd for endpoint {}", endpointId);
    return std::nullopt;
  }
  if (t.fingerprint.empty()) {
    why = fmt::format("no DTLS fingerprint for endpoint {}", endpointId);
    return std::nullopt;
  }
  if (t.candidates.empty()) {
    why = fmt::format("no ICE candidate for endpoint {}", endpointId);
    return std::nullopt;
  }
  return t;
}

}  // namespace jvb::load
