#pragma once
// The mediajson format of JVB's audio export (Colibri2 <connects>), as
// jicoco-mediajson's MediaJson.kt writes it and JVB's MediaJsonSerializer.kt
// fills it in (itself after VoxImplant's WebSocket format, hence numbers as
// strings in some places):
//
//   {"event":"start","sequenceNumber":"1","start":{"tag":"<source name>",
//     "mediaFormat":{"encoding":"opus","sampleRate":48000,"channels":2,
//     "parameters":{...}},"customParameters":{"endpointId":"<endpoint>"}}}
//   {"event":"media","sequenceNumber":"2","media":{"tag":"<source name>",
//     "chunk":"<extended RTP seq>","timestamp":"<48 kHz ticks>",
//     "payload":"<base64 Opus frame>","audioLevel":N,"vad":B}}
//   {"event":"info","application":...,"version":...}  {"event":"ping","id":N}
//   {"event":"sources","exports":[...],"requests":[...]}  {"event":"session-end"}
//
// One sequence number for all events of a connection, from 1. Per SSRC: a
// start event before its first media, again when its payload type changes;
// chunk is the RTP sequence number extended over rollovers (JVB's
// RtpSequenceIndexTracker); timestamp is the RTP timestamp extended over
// rollovers, shifted so that an SSRC's first packet carries the time since
// the serializer was made (one per WebSocket connection) in clock-rate ticks.
// Control thread only.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace jvb::control::mediajson {

std::string base64(std::span<const uint8_t> data);

// RFC 3711 section 3.3.1 style index over an n-bit wrapping counter (JVB's
// IndexTracker): the first value as is, later ones extended by the rollover
// count relative to the highest seen.
class IndexTracker {
 public:
  explicit IndexTracker(int bits) : bits_(bits) {}
  int64_t update(uint64_t value);

 private:
  int bits_;
  int64_t roc_ = 0;
  std::optional<uint64_t> highest_;
};

struct MediaFormat {
  std::string encoding;  // lower-case ("opus")
  uint32_t sampleRate = 48000;
  int channels = 1;
  std::map<std::string, std::string> parameters;
};

std::string startEvent(int64_t seq, const std::string& tag, const MediaFormat& format,
                       const std::string& endpointId);
std::string mediaEvent(int64_t seq, const std::string& tag, int64_t chunk, int64_t timestamp,
                       std::span<const uint8_t> payload, std::optional<int> audioLevel,
                       std::optional<bool> vad);
std::string infoEvent(const std::string& application, const std::string& version,
                      const std::string& region);
std::string sourcesEvent(const std::vector<std::string>& exports,
                         const std::vector<std::string>& requests);
std::string pingEvent(int id);
std::string sessionEndEvent();

// What the peer sent (Exporter.handleIncomingMessage): the kind, and the
// id of a pong. Malformed JSON, a non-object, or no string "event" is kMalformed.
struct Incoming {
  enum class Kind { kMalformed, kPong, kTranscriptionResult, kMedia, kInfo, kOther };
  Kind kind = Kind::kMalformed;
  int id = 0;  // kPong
};
Incoming parseIncoming(std::string_view text);
// The bridge-channel message JVB makes of a transcription-result event
// (`event`: its JSON text, already parsed once by parseIncoming).
std::string transcriptionMessage(std::string_view event);

// One packet to encode: what the export ring carries plus what the control
// thread looked up (the source name, the endpoint, the payload type).
struct Packet {
  uint32_t ssrc = 0;
  uint16_t sequenceNumber = 0;
  uint32_t timestamp = 0;
  uint8_t payloadType = 0;
  std::optional<int> audioLevel;
  std::optional<bool> vad;
  std::span<const uint8_t> payload;
};

class Serializer {
 public:
  using Clock = std::chrono::steady_clock;
  // `sink` gets each event's text, in order.
  Serializer(std::function<void(std::string)> sink, Clock::time_point ref = Clock::now())
      : sink_(std::move(sink)), ref_(ref) {}

  // `tag`: the SSRC's source name; `format`: its payload type's.
  void encode(const Packet& p, const std::string& tag, const std::string& endpointId,
              const MediaFormat& format, Clock::time_point now = Clock::now());
  [[nodiscard]] int64_t sequenceNumber() const { return seq_; }

 private:
  struct SsrcState {
    SsrcState(std::string t, uint8_t pt, int64_t off)
        : tag(std::move(t)), payloadType(pt), offset(off) {}
    std::string tag;
    uint8_t payloadType;
    int64_t offset;
    IndexTracker seqs{16};
    IndexTracker timestamps{32};
  };
  SsrcState makeState(const Packet& p, const std::string& tag, const MediaFormat& format,
                      Clock::time_point now) const;

  std::function<void(std::string)> sink_;
  Clock::time_point ref_;
  int64_t seq_ = 0;
  std::map<uint32_t, SsrcState> ssrcs_;
};

}  // namespace jvb::control::mediajson
