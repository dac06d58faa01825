#pragma once
// The media side of every endpoint, on the media thread: ICE on the shared
// UDP port, DTLS-SRTP, and audio forwarding between the endpoints of a
// conference. The control thread tells it about endpoints through
// MediaMirror (a ConferenceListener) which posts copies of the Colibri2
// state here; nothing else crosses threads.
//
// Demultiplexing (RFC 7983 by first byte, then):
//  - STUN: by the 5-tuple when it belongs to an endpoint's pair, otherwise by
//    the USERNAME's local ufrag; a request that does not authenticate creates
//    no state;
//  - DTLS, RTP, RTCP: only from a 5-tuple that passed one of the endpoint's
//    ICE checks; anything else is dropped and counted.
// Routing (JVB's rules, jvb-interfaces.md section 6): from the cleartext
// header, before paying for decryption, a packet is dropped and counted when
// it is video, from an unsignalled SSRC, force-muted, the 4th+ silent packet
// in a row (RFC 6464 level 127), or (route-loudest-only) not from one of the
// conference's loudest speakers nor its dominant one. Its audio level feeds
// the conference's SpeechActivity (dominant speaker, loudest ranking), which
// decides every 300 ms on the timer. What passes is decrypted once and
// encrypted for each other connected endpoint that accepts audio and whose
// ReceiverAudioSubscription allows the source, with SSRC, sequence number
// and timestamp unchanged. RTCP is terminated.
//
// The bridge channel's SCTP side (data channel over the endpoint's DTLS)
// lives here too, as the DTLS session does; its messages go to the control
// thread through MediaEvents.
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "bridge/audio_ssrc_cache.hpp"
#include "bridge/audio_subscription.hpp"
#include "bridge/conference.hpp"
#include "bridge/fanout.hpp"
#include "bridge/media_events.hpp"
#include "bridge/reception_stats.hpp"
#include "bridge/speech_activity.hpp"
#include "dtls/context.hpp"
#include "dtls/session.hpp"
#include "ice/ice_agent.hpp"
#include "ice/udp_port.hpp"
#include "rtp/header_extensions.hpp"
#include "rtp/rtcp_views.hpp"
#include "sctp/library.hpp"
#include "srtp/session.hpp"

namespace jvb::bridge {

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

  // Creates or updates the endpoint from its Colibri2 state.
  void upsertEndpoint(const std::string& meetingId, const Endpoint& endpoint);
  void removeEndpoint(const std::string& meetingId, const std::string& endpointId);
  // SSRC rewriting for receivers added from now on.
  void setSsrcRewriteConfig(const SsrcRewriteConfig& config) { rewriteConfig_ = config; }
  // ICE timing for endpoints added from now on (tests shorten consent).
  void setIceConfig(const ice::IceConfig& config) { iceConfig_ = config; }
  // Where dominant-speaker changes, SCTP channel traffic and routing stats go.
  void setEvents(MediaEvents events) { events_ = std::move(events); }
  // The receiver's ReceiverAudioSubscription (from the bridge channel).
  void setAudioSubscription(const std::string& meetingId, const std::string& endpointId,
                            const AudioSubscription& subscription);
  // One bridge-channel message to the endpoint over its SCTP data channel;
  // false when it has none open.
  bool sendChannelMessage(const std::string& meetingId, const std::string& endpointId,
                          const std::string& text);

  void onDatagram(std::span<const uint8_t> datagram, const UdpEndpoint& from);

  [[nodiscard]] size_t endpointCount() const { return endpoints_.size(); }
  // For tests and stats: ICE connected / DTLS connected endpoints.
  [[nodiscard]] size_t connectedCount() const;

 private:
  struct Media;                                     // one endpoint's media state
  struct ConferenceMedia;                           // a conference's speech activity
  using Key = std::pair<std::string, std::string>;  // meeting-id, endpoint id

  void onStun(std::span<const uint8_t> datagram, const UdpEndpoint& from, Clock::time_point now);
  void onRtp(Media& ep, std::span<const uint8_t> datagram);
  void onRtcp(Media& ep, std::span<const uint8_t> datagram);
  void onIceState(Media& ep, Clock::time_point now);
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
  // SRTP rollover counter in step).
  enum class Route { kDrop, kDecryptOnly, kForward };
  Route routeOf(Media& ep, std::span<const uint8_t> datagram, Clock::time_point now);
  void decideSpeakers(ConferenceMedia& conf, const std::string& meetingId, Clock::time_point now);
  void reportDominant(ConferenceMedia& conf, const std::string& meetingId);
  // The bridge channel's SCTP association over the endpoint's DTLS, once
  // DTLS is up and Colibri2 asked for <sctp/>.
  void startSctp(Media& ep);
  void recomputeIncludes(const std::string& meetingId);
  // Gives the endpoint's signalled sources conference indices (and frees
  // those of sources it no longer has); `gone`: all of them go.
  void syncSources(ConferenceMedia& conf, Media& ep, bool gone);
  void releaseSource(ConferenceMedia& conf, uint32_t index);
  void queueMapping(Media& rx, int slot, const ConferenceMedia& conf);
  void flushMappings(const std::string& meetingId);
  void publishAudioStats();
  void armTimer();
  void tick();

  sctp::Library sctpLibrary_;  // usrsctp (no threads of its own), while the router lives
  boost::asio::io_context& io_;
  ice::UdpPort& port_;
  const dtls::Context& dtls_;
  MediaCounters& counters_;
  std::map<Key, std::unique_ptr<Media>> endpoints_;
  std::unordered_map<std::string, Media*> byUfrag_;
  std::map<UdpEndpoint, Media*> byTuple_;
  boost::asio::steady_timer timer_;
  ice::IceConfig iceConfig_;
  SsrcRewriteConfig rewriteConfig_;
  uint64_t rewriteSeed_ = 0;
  // Slot changes of rewriting receivers, reported after the packet that made them.
  std::vector<AudioSlotMapping> pendingMappings_;
  SpeechActivityConfig speechConfig_;
  MediaEvents events_;
  std::map<std::string, ConferenceMedia> conferences_;  // by meeting-id
  Clock::time_point nextStats_{};
  uint64_t nextChannelId_ = 1;
  uint32_t bridgeSsrc_ = 0;  // sender SSRC of the bridge's own RTCP
  uint32_t rtcpJitter_ = 0;  // spreads the endpoints' report times
  // Distinct header-extension negotiations seen, interned (see upsertEndpoint).
  std::unordered_map<std::string, uint32_t> extProfiles_;
  rtp::ExtensionIdMap crossMap_;  // scratch for senders and receivers that differ
  std::array<uint8_t, 1500 + srtp::kMaxRtcpTrailer> rtcpBuf_{};
  // Decrypt scratch (a received packet is decrypted once, here); the copies
  // for receivers are encrypted in the FanOut slabs. No allocation per packet.
  std::array<uint8_t, 2048> rxBuf_{};
  // Batched, allocation-free sends of forwarded copies, one per family.
  std::unique_ptr<FanOut> fanout4_;
  std::unique_ptr<FanOut> fanout6_;
  FanOut::Totals reported4_;
  FanOut::Totals reported6_;
  void flushFanOut();
};

}  // namespace jvb::bridge
