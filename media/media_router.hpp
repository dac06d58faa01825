#pragma once
// The media side of every endpoint, on the media thread: ICE on the shared
// UDP port, DTLS-SRTP, and audio forwarding between the endpoints of a
// conference. The control thread compiles Colibri2 into the media model
// (media_model.hpp) and sends it typed commands (apply()); nothing else
// crosses threads.
//
// Demultiplexing (RFC 7983 by first byte, then):
//  - STUN: by the 5-tuple when it belongs to an endpoint's pair, otherwise by
//    the USERNAME's local ufrag; a request that does not authenticate creates
//    no state;
//  - DTLS, RTP, RTCP: only from a 5-tuple that passed one of the endpoint's
//    ICE checks (a hash table); anything else is dropped and counted.
//  - during an ICE restart (IceRestartSpec) an endpoint has a second agent,
//    reachable by its ufrag too; within the endpoint a request goes to the
//    agent its USERNAME names, a response to the one whose check it answers.
// Routing (JVB's rules, jvb-interfaces.md section 6): from the cleartext
// header, before paying for decryption, a packet is dropped and counted when
// it is video, from an unsignalled SSRC, force-muted, the 4th+ silent packet
// in a row (RFC 6464 level 127), or (route-loudest-only) not from one of the
// conference's loudest speakers nor its dominant one. Its audio level feeds
// the conference's SpeechActivity (dominant speaker, loudest ranking), which
// decides every 300 ms on the timer. What passes is decrypted once, in place
// in the receive buffer, and encrypted for each other connected member of
// the conference that accepts audio and whose subscription allows the
// source: with SSRC, sequence number and timestamp unchanged, or, for a
// receiver that asked for SSRC rewriting, on its slots (audio_ssrc_cache.hpp).
// RTCP is terminated.
//
// The bridge channel's SCTP side (data channel over the endpoint's DTLS)
// lives here too, as the DTLS session does; its messages go to the control
// thread through MediaEvents.
#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ice/ice_agent.hpp"
#include "ice/stun_mapping.hpp"
#include "ice/udp_port.hpp"
#include "media/audio_ssrc_cache.hpp"
#include "media/export_ring.hpp"
#include "media/fanout.hpp"
#include "media/media_events.hpp"
#include "media/media_model.hpp"
#include "media/rate_limit.hpp"
#include "media/speech_activity.hpp"
#include "rtp/rtcp_views.hpp"
#include "sctp/library.hpp"
#include "srtp/session.hpp"

namespace jvb::dtls {
class Context;
}  // namespace jvb::dtls

namespace jvb::media {

struct MediaCounters;

class MediaRouter {
 public:
  using Clock = std::chrono::steady_clock;
  using UdpEndpoint = ice::UdpPort::Endpoint;

  MediaRouter(boost::asio::io_context& io, ice::UdpPort& port, const dtls::Context& dtls,
              MediaCounters& counters, SpeechActivityConfig speech = {});
  ~MediaRouter();
  MediaRouter(const MediaRouter&) = delete;
  MediaRouter& operator=(const MediaRouter&) = delete;

  // One command from the control thread (media_model.hpp).
  void apply(Command command);
  void upsertEndpoint(EndpointSpec spec);
  void removeEndpoint(EndpointHandle endpoint);
  void setAudioSubscription(EndpointHandle endpoint, SubscriptionSpec subscription,
                            std::vector<uint32_t> included);
  void setExtensionProfiles(ExtensionProfiles profiles) { profiles_ = std::move(profiles); }
  // A conference's forwarded audio to the export ring, or no longer.
  void setConferenceExport(ConferenceHandle conference, bool enabled);
  // Where exported audio goes (null: nowhere); set before any packet.
  void setExportRing(ExportRing* ring) { exportRing_ = ring; }
  // One bridge-channel message to the endpoint over its SCTP data channel;
  // false when it has none open.
  bool sendChannelMessage(EndpointHandle endpoint, const std::string& text);

  // SSRC rewriting for receivers added from now on.
  void setSsrcRewriteConfig(const SsrcRewriteConfig& config) { rewriteConfig_ = config; }
  // The per-endpoint packet-rate cap, for every endpoint from now on.
  void setRateLimit(const EndpointRateLimit& limit);
  // ICE timing for endpoints added from now on (tests shorten consent).
  void setIceConfig(const ice::IceConfig& config) { iceConfig_ = config; }
  // videobridge.ice.restart timing.
  void setIceRestartConfig(const IceRestartConfig& config) { restartConfig_ = config; }
  // Where dominant-speaker changes, SCTP channel traffic and routing stats go.
  void setEvents(MediaEvents events) { events_ = std::move(events); }

  // Keys the endpoint as if its DTLS handshake with `peer` had produced
  // `keys` (the bridge's side), and binds `peer`'s 5-tuple to it. For the
  // whole-path allocation test and benchmark, which drive hundreds of
  // endpoints without handshakes; the bridge itself never calls it.
  void keyEndpointForTesting(EndpointHandle endpoint, const srtp::Keys& keys,
                             const UdpEndpoint& peer);

  // One received datagram; the router may decrypt it in place.
  void onDatagram(std::span<uint8_t> datagram, const UdpEndpoint& from);

  [[nodiscard]] size_t endpointCount() const { return endpoints_.size(); }
  // For tests and stats: ICE connected / DTLS connected endpoints.
  [[nodiscard]] size_t connectedCount() const;

 private:
  struct Media;            // one endpoint's media state
  struct SenderSource;     // one audio SSRC an endpoint sends
  struct ConferenceMedia;  // a conference's members, sources and speech activity
  struct TupleHash {
    size_t operator()(const UdpEndpoint& e) const noexcept;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  // Peers that misbehave (README "Misbehaving peers"): each kind is
  // counted every time and logged once per endpoint.
  enum class Misbehaviour : uint8_t {
    kSsrcSpoofed,
    kMalformedRtp,
    kBadExtension,
    kMalformedRtcp,
    kRateLimited,
    kDtlsRenegotiation,
    kSctpChannels,
    kSctpMessages,
  };
  void misbehaved(Media& ep, Misbehaviour kind, std::atomic<uint64_t>& counter,
                  std::string_view what, uint64_t detail);
  // The SCTP association's refusals since last looked at, into the counters.
  void noteSctp(Media& ep);
  void onStun(std::span<const uint8_t> datagram, const UdpEndpoint& from, Clock::time_point now);
  void onRtp(Media& ep, std::span<uint8_t> datagram, Clock::time_point now);
  void onRtcp(Media& ep, std::span<uint8_t> datagram, Clock::time_point now);
  void publishLiveCounts();
  void onIceState(Media& ep, Clock::time_point now);
  // The endpoint's selected pair moved to another of its addresses.
  void onIceMoved(Media& ep, const UdpEndpoint& from, const UdpEndpoint& to);
  // ICE restart (IceRestartSpec): start a round or give the one in flight
  // the endpoint's answer; act on what the new agent did (cut over or
  // abandon) once it returned; free the old agent after its window.
  void updateIceRestart(Media& ep, const IceRestartSpec& restart, Clock::time_point now);
  void settleIceRestart(Media& ep, Clock::time_point now);
  void cutOverIce(Media& ep, Clock::time_point now);
  void abandonIceRestart(Media& ep, const char* why);
  void dropUfrag(const Media& ep, const ice::IceAgent* agent);
  void reportIce(const Media& ep, IceEvent event);
  // Creates and starts the endpoint's DTLS session once; false when refused.
  bool ensureDtls(Media& ep, Clock::time_point now);
  void forwardSenderReport(Media& from, uint32_t ssrc, const rtp::SenderInfo& info,
                           std::string_view cname);
  void sendReceiverReport(Media& ep, Clock::time_point now);
  bool sendRtcp(Media& to, size_t length);
  void onDtlsConnected(Media& ep);
  void releaseDtlsIfDone(Media& ep);
  void bindTuple(Media& ep, const UdpEndpoint& from);
  // From the cleartext header: whether the packet is to be decrypted and
  // forwarded (false: dropped and counted, or decrypted only to keep the
  // SRTP rollover counter in step). `source` is set to the sender's entry
  // whenever the result is not kDrop.
  enum class Route { kDrop, kDecryptOnly, kForward };
  Route routeOf(Media& ep, std::span<const uint8_t> datagram, Clock::time_point now,
                SenderSource*& source);
  void decideSpeakers(ConferenceMedia& conf, Clock::time_point now);
  void reportDominant(ConferenceMedia& conf);
  // The bridge channel's SCTP association over the endpoint's DTLS, once
  // DTLS is up and Colibri2 asked for <sctp/>.
  void startSctp(Media& ep);
  void recomputeIncludes(ConferenceMedia& conf);
  // Takes the endpoint's signalled sources into the conference's source
  // table (and frees those it no longer has); `gone`: all of them go.
  void syncSources(ConferenceMedia& conf, Media& ep, const std::vector<SourceSpec>& next);
  void releaseSource(ConferenceMedia& conf, uint32_t index);
  void queueMapping(Media& rx, int slot, const ConferenceMedia& conf);
  void flushMappings(const std::string& meetingId);
  void publishAudioStats();
  void armTimer();
  void tick();
  void setStunServers(cmd::SetStunServers command);
  void pollStun();
  // A STUN datagram from a STUN server's address (not a peer's): a Binding
  // response for the mapper; true when it was one of the servers.
  bool onStunServerDatagram(std::span<const uint8_t> datagram, const UdpEndpoint& from,
                            Clock::time_point now);

  sctp::Library sctpLibrary_;  // usrsctp (no threads of its own), while the router lives
  boost::asio::io_context& io_;
  ice::UdpPort& port_;
  const dtls::Context& dtls_;
  MediaCounters& counters_;
  std::unordered_map<EndpointHandle, std::unique_ptr<Media>> endpoints_;
  std::unordered_map<ConferenceHandle, ConferenceMedia> conferences_;
  std::unordered_map<std::string, Media*, StringHash, std::equal_to<>> byUfrag_;
  std::unordered_map<UdpEndpoint, Media*, TupleHash> byTuple_;
  ExtensionProfiles profiles_;
  boost::asio::steady_timer timer_;
  // Public-address discovery (cmd::SetStunServers); null without servers.
  std::unique_ptr<ice::StunMapper> stunMapper_;
  boost::asio::steady_timer stunTimer_;
  ice::IceConfig iceConfig_;
  // EndpointRateLimit as a GCRA: one datagram per interval, `tolerance`
  // ahead of it at most (zero interval: no cap).
  Clock::duration rateInterval_{};
  Clock::duration rateTolerance_{};
  IceRestartConfig restartConfig_;
  SpeechActivityConfig speechConfig_;
  SsrcRewriteConfig rewriteConfig_;
  uint64_t rewriteSeed_ = 0;
  // Slot changes of rewriting receivers, reported after the packet that made them.
  std::vector<AudioSlotMapping> pendingMappings_;
  MediaEvents events_;
  ExportRing* exportRing_ = nullptr;
  std::vector<ConferenceHandle> exportingConferences_;  // exports set by control
  Clock::time_point nextStats_{};
  uint64_t nextChannelId_ = 1;
  uint32_t bridgeSsrc_ = 0;  // sender SSRC of the bridge's own RTCP
  uint32_t rtcpJitter_ = 0;  // spreads the endpoints' report times
  std::array<uint8_t, 1500 + srtp::kMaxRtcpTrailer> rtcpBuf_{};
  // Batched, allocation-free sends of forwarded copies, one per family.
  std::unique_ptr<FanOut> fanout4_;
  std::unique_ptr<FanOut> fanout6_;
  FanOut::Totals reported4_;
  FanOut::Totals reported6_;
  void flushFanOut();
};

}  // namespace jvb::media
