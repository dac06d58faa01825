#pragma once
// Colibri2 over XMPP (namespace jitsi:colibri2), as jitsi-videobridge speaks
// it to Jicofo: <conference-modify> parsed into control::ConferenceModify,
// applied to the control::ConferenceRegistry, answered with
// <conference-modified> or an error carrying JVB's condition, text and
// colibri2 reason. Audio-only: video media and sources are accepted and
// ignored. Everything here runs on the control thread.
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "config/bridge_config.hpp"
#include "control/conference.hpp"
#include "ice/credentials.hpp"
#include "xmpp/iq_dispatcher.hpp"
#include "xmpp/strophe.hpp"

namespace jvb::xmpp {

inline constexpr const char* kNsJingleRtp = "urn:xmpp:jingle:apps:rtp:1";
inline constexpr const char* kNsRtcpFb = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0";
inline constexpr const char* kNsRtpHdrExt = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0";
inline constexpr const char* kNsIceUdp = "urn:xmpp:jingle:transports:ice-udp:1";
inline constexpr const char* kNsDtls = "urn:xmpp:jingle:apps:dtls:0";
inline constexpr const char* kNsSsma = "urn:xmpp:jingle:apps:rtp:ssma:0";

// videobridge.websockets: where clients reach colibri-ws.
struct WebsocketSettings {
  bool enabled = false;
  std::string domain;  // "meet.example.com:443"; empty: no URL is signalled
  bool tls = true;     // wss:// (true) or ws://
  std::string serverId = "default-id";
};
WebsocketSettings websocketSettings(const config::BridgeConfig& cfg);

// "wss://<domain>/colibri-ws/<server-id>/<conference>/<endpoint>?pwd=<pwd>"
std::string colibriWebSocketUrl(const WebsocketSettings& ws, const std::string& conferenceId,
                                const std::string& endpointId, const std::string& pwd);

// What the bridge signals about itself, fixed at start-up.
struct Colibri2Local {
  std::string fingerprint;                 // dtls::Certificate::fingerprintSha256()
  std::vector<ice::Candidate> candidates;  // ice::buildCandidates(...)
  WebsocketSettings websocket;
};

// Reads a <conference-modify xmlns='jitsi:colibri2'> and all it may carry.
// Malformed input (missing meeting-id or endpoint id, a non-numeric ssrc,
// payload id or port, an invalid boolean or enum value) is a bad-request
// IqError naming the element and attribute. Unknown children are ignored.
std::variant<control::ConferenceModify, IqError> parseConferenceModify(
    xmpp_stanza_t* conferenceModify);

// <conference-modified xmlns='jitsi:colibri2'>: one <endpoint> per requested
// endpoint (expire='true', or the bridge's <transport> for a created one)
// and the feedback <sources> when due.
StanzaPtr buildConferenceModified(xmpp_ctx_t* ctx, const control::ModifyReply& reply,
                                  const Colibri2Local& local);

// The error's extension elements, in JVB's order: the colibri2
// <error reason/> (absent for ErrorReason::kNone) and, for unknown_endpoint,
// <endpoint xmlns='jitsi:colibri2' id/>. JVB puts both directly in <error>.
std::vector<StanzaPtr> errorExtensions(xmpp_ctx_t* ctx, const control::ModifyError& error);

// The IqError for `error`: RFC 6120 condition name, Smack's default type for
// it, JVB's text, and errorExtensions().
IqError toIqError(xmpp_ctx_t* ctx, const control::ModifyError& error);
// "bad-request", "item-not-found", ... (RFC 6120 names).
const char* conditionName(control::ErrorCondition condition);

// Registers the conference-modify handler (IQ type get and set alike).
// `registry` is kept by reference and must outlive the handler; `local` is
// copied; `refuseNewConferences` (may be empty: never refuse) is asked on
// every request whether the bridge is in graceful shutdown.
void registerColibri2(IqDispatcher& iqs, control::ConferenceRegistry& registry,
                      const Colibri2Local& local, std::function<bool()> refuseNewConferences);
// The same with `local` shared: what it holds when a request comes is what
// the reply carries (the bridge updates its candidates on the control
// thread, where the handler runs).
void registerColibri2(IqDispatcher& iqs, control::ConferenceRegistry& registry,
                      std::shared_ptr<const Colibri2Local> local,
                      std::function<bool()> refuseNewConferences);

}  // namespace jvb::xmpp
