#pragma once
// The media thread's counters: relaxed atomics written on the media thread,
// read by the control thread (stats, presence, health).
#include <array>
#include <atomic>
#include <cstdint>

namespace jvb::media {

struct MediaCounters {
  std::atomic<uint64_t> packetsReceived{0};
  std::atomic<uint64_t> bytesReceived{0};
  std::atomic<uint64_t> packetsSent{0};
  std::atomic<uint64_t> bytesSent{0};
  // Datagrams dropped because no endpoint owns their 5-tuple (they create no
  // state), by protocol class (rtp::PacketKind).
  std::array<std::atomic<uint64_t>, 7> droppedUnknownSource{};
  std::atomic<uint64_t> handlerErrors{0};  // exceptions caught on the media thread
  // Endpoint media (MediaRouter).
  std::atomic<uint64_t> stunRejected{0};  // STUN that authenticated for no endpoint
  // Public-address discovery (ice4j.harvest.mapping.stun.addresses): Binding
  // requests sent to STUN servers (retransmissions included), responses
  // taken, rounds without an answer, and STUN from a server's address that
  // was no awaited response (dropped).
  std::atomic<uint64_t> stunMappingRequests{0};
  std::atomic<uint64_t> stunMappingResponses{0};
  std::atomic<uint64_t> stunMappingTimeouts{0};
  std::atomic<uint64_t> stunMappingRejected{0};
  std::atomic<uint64_t> iceSucceeded{0};  // total_ice_succeeded
  std::atomic<uint64_t> iceFailed{0};     // total_ice_failed (failed or consent expired)
  // Selected pairs moved to the peer's new address (a NAT rebinding).
  std::atomic<uint64_t> icePeerMoves{0};
  std::atomic<uint64_t> dtlsSucceeded{0};
  std::atomic<uint64_t> dtlsFailed{0};  // dtls_failed_endpoints
  // DTLS sessions freed once SRTP flows and no data channel needs them, and
  // DTLS datagrams that arrived for such an endpoint afterwards (dropped).
  std::atomic<uint64_t> dtlsReleased{0};
  std::atomic<uint64_t> dtlsAfterRelease{0};
  std::atomic<uint64_t> srtpFailed{0};    // authentication / replay failures
  std::atomic<uint64_t> rtpForwarded{0};  // packets sent to receivers
  std::atomic<uint64_t> rtpDropped{0};    // unsignalled SSRC, muted, not ready, malformed
  std::atomic<uint64_t> videoDropped{0};  // video is never forwarded
  // RTP that waited longer than jvb-audio.media.max-queue-delay between the
  // kernel's receipt and the media thread (an overloaded thread): dropped
  // unread (MediaLoop), so that what is forwarded is fresh.
  std::atomic<uint64_t> rtpStaleDropped{0};
  // Audio routing (JVB's rules): force-muted, silence after 3 in a row,
  // route-loudest-only; and dominant-speaker changes in all conferences.
  std::atomic<uint64_t> audioMutedDropped{0};
  std::atomic<uint64_t> audioSilenceDropped{0};
  std::atomic<uint64_t> audioNotLoudestDropped{0};
  std::atomic<uint64_t> dominantSpeakerChanges{0};
  // RFC 2198 RED (Opus RED): packets received under a sender's RED payload
  // type and those of them whose RED header chain is malformed; receivers'
  // copies stripped to the primary encoding (JVB's
  // red_packets_decapsulated), sent as RED (red_packets_forwarded), and not
  // sent because a malformed packet cannot be stripped
  // (invalid_red_packets_dropped).
  std::atomic<uint64_t> redReceived{0};
  std::atomic<uint64_t> redMalformed{0};
  std::atomic<uint64_t> redDecapsulated{0};
  std::atomic<uint64_t> redForwarded{0};
  std::atomic<uint64_t> redInvalidDropped{0};
  // Padding-only packets under a sender's RED payload type (bandwidth
  // probes): not RED, not sent to receivers without RED.
  std::atomic<uint64_t> redPaddingOnly{0};
  // Peers that completed ICE (their 5-tuple is bound) and misbehave (README
  // "Misbehaving peers"): dropped, counted here, each kind logged once per
  // endpoint. RTP with an SSRC another endpoint of the conference signalled
  // (never forwarded as that endpoint); RTP whose header is malformed
  // (version, CSRC count, padding; after SRTP too) or larger than a
  // forwarded copy can be; RTP whose header-extension block or one of its
  // RFC 8285 elements runs past its end; SRTCP that authenticated and is no
  // valid RTCP compound; datagrams over the per-endpoint packet-rate cap
  // (jvb-audio.endpoint-rate-limit, dropped before decryption); DTLS
  // renegotiations and new ClientHellos after the handshake (refused, the
  // keyed SRTP goes on); data channels opened past the per-association cap
  // and incoming data-channel messages over the size cap or flooding past
  // the message-rate cap; and endpoints that misbehaved at least once.
  // rtpSsrcSpoofed, rtpMalformed and rtpBadExtension are counted in
  // rtpDropped too.
  std::atomic<uint64_t> rtpSsrcSpoofed{0};
  std::atomic<uint64_t> rtpMalformed{0};
  std::atomic<uint64_t> rtpBadExtension{0};
  std::atomic<uint64_t> rtcpMalformed{0};
  std::atomic<uint64_t> rateLimited{0};
  std::atomic<uint64_t> dtlsRenegotiationRefused{0};
  std::atomic<uint64_t> sctpChannelsRefused{0};
  std::atomic<uint64_t> sctpMessagesDropped{0};
  std::atomic<uint64_t> misbehavingEndpoints{0};
  std::atomic<uint64_t> rtcpTerminated{0};
  std::atomic<uint64_t> rtcpSent{0};  // receiver reports and forwarded sender reports
  // What the media thread holds now (set on every endpoint add and remove):
  // what an expiry must bring back to zero.
  std::atomic<uint64_t> liveEndpoints{0};
  std::atomic<uint64_t> liveConferences{0};
  std::atomic<uint64_t> liveSpeakers{0};  // entries in the conferences' speech activity
};

}  // namespace jvb::media
