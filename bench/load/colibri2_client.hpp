#pragma once
// The Colibri2 requests a Jicofo-like focus sends to the bridge (as
// tests/tools/colibri2_focus.py: Jicofo's default audio codec set, a video
// <media> as Jicofo sends even in audio-only rooms, ice-controlling, the
// audio source, source-names), built as XML text, and the parsing of the
// bridge's answer. jvb-interfaces.md sections 2 and 3.
#include <strophe.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "media_engine.hpp"

namespace jvb::load {

// Attribute/text escaping for the few values that come from outside.
std::string xmlEscape(const std::string& s);

// Endpoint create (with conference create + name when `roomName` is set);
// `ssrcRewriting` adds <capability name='ssrc-rewriting'/>, as Jicofo does for
// a client with the ssrc-rewriting-1 feature.
std::string allocateXml(const std::string& meetingId, const std::optional<std::string>& roomName,
                        const std::string& endpointId, uint32_t ssrc, bool ssrcRewriting);
// The client's ICE/DTLS parameters, as Jicofo forwards them from session-accept
// (setup='active': the endpoint is the DTLS client).
std::string transportXml(const std::string& meetingId, const std::string& endpointId,
                         const std::string& ufrag, const std::string& pwd,
                         const std::string& fingerprint, uint16_t port);
std::string expireConferenceXml(const std::string& meetingId);
// One endpoint leaves (Jicofo's expire of a participant that left).
std::string expireEndpointXml(const std::string& meetingId, const std::string& endpointId);
// A source update (Jicofo's conference-modify with the endpoint's <sources>
// as they are now): its audio source `<id>-a0` with these SSRCs.
std::string sourcesXml(const std::string& meetingId, const std::string& endpointId,
                       const std::vector<uint32_t>& ssrcs);
std::string healthCheckXml();

// The bridge's transport for `endpointId` in a <conference-modified/> result
// IQ (with its <web-socket url/> when present); nullopt with `why` set when
// something required is missing.
std::optional<BridgeTransport> parseBridgeTransport(xmpp_stanza_t* iq,
                                                    const std::string& endpointId,
                                                    std::string& why);

}  // namespace jvb::load
