#include "control/mediajson.hpp"

#include <nlohmann/json.hpp>

namespace jvb::control::mediajson {

namespace {
using Json = nlohmann::ordered_json;  // Jackson writes properties in declaration order

std::string dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}
}  // namespace

std::string base64(std::span<const uint8_t> data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (const size_t rest = data.size() - i; rest > 0) {
    uint32_t v = uint32_t{data[i]} << 16;
    if (rest == 2) {
      v |= uint32_t{data[i + 1]} << 8;
    }
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

int64_t IndexTracker::update(uint64_t value) {
  const int64_t size = int64_t{1} << bits_;
  const int64_t half = size / 2;
  const auto v = static_cast<int64_t>(value & static_cast<uint64_t>(size - 1));
  if (!highest_) {
    highest_ = static_cast<uint64_t>(v);
    return v;
  }
  const auto h = static_cast<int64_t>(*highest_);
  // delta(a, b) in (-half, half]: a is older than b when negative.
  const auto delta = [&](int64_t a, int64_t b) {
    int64_t d = a - b;
    if (d < -half) {
      d += size;
    } else if (d > half) {
      d -= size;
    }
    return d;
  };
  int64_t roc = roc_;
  if (delta(v, h) < 0 && h < v) {
    roc = roc_ - 1;  // from before the last rollover
  } else if (delta(h, v) < 0 && v < h) {
    roc = ++roc_;  // rolled over
  }
  if (delta(v, h) > 0) {
    highest_ = static_cast<uint64_t>(v);
  }
  return size * roc + v;
}

std::string startEvent(int64_t seq, const std::string& tag, const MediaFormat& format,
                       const std::string& endpointId) {
  Json params = Json::object();
  for (const auto& [k, v] : format.parameters) {
    params[k] = v;
  }
  Json j;
  j["event"] = "start";
  j["sequenceNumber"] = std::to_string(seq);
  j["start"] = Json{{"tag", tag},
                    {"mediaFormat", Json{{"encoding", format.encoding},
                                         {"sampleRate", format.sampleRate},
                                         {"channels", format.channels},
                                         {"parameters", std::move(params)}}},
                    {"customParameters", Json{{"endpointId", endpointId}}}};
  return dump(j);
}

std::string mediaEvent(int64_t seq, const std::string& tag, int64_t chunk, int64_t timestamp,
                       std::span<const uint8_t> payload, std::optional<int> audioLevel,
                       std::optional<bool> vad) {
  Json media;
  media["tag"] = tag;
  media["chunk"] = std::to_string(chunk);
  media["timestamp"] = std::to_string(timestamp);
  media["payload"] = base64(payload);
  if (audioLevel) {
    media["audioLevel"] = *audioLevel;
  }
  if (vad) {
    media["vad"] = *vad;
  }
  Json j;
  j["event"] = "media";
  j["sequenceNumber"] = std::to_string(seq);
  j["media"] = std::move(media);
  return dump(j);
}

std::string infoEvent(const std::string& application, const std::string& version,
                      const std::string& region) {
  Json j;
  j["event"] = "info";
  j["application"] = application;
  j["version"] = version;
  if (!region.empty()) {
    j["region"] = region;
  }
  return dump(j);
}

std::string sourcesEvent(const std::vector<std::string>& exports,
                         const std::vector<std::string>& requests) {
  Json j;
  j["event"] = "sources";
  j["exports"] = exports;
  j["requests"] = requests;
  return dump(j);
}

std::string pingEvent(int id) {
  Json j;
  j["event"] = "ping";
  j["id"] = id;
  return dump(j);
}

std::string sessionEndEvent() {
  return R"({"event":"session-end"})";
}

Incoming parseIncoming(std::string_view text) {
  Incoming in;
  if (text.size() > 1 << 20) {
    return in;
  }
  const Json j = Json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return in;
  }
  const auto ev = j.find("event");
  if (ev == j.end() || !ev->is_string()) {
    return in;
  }
  const auto& name = ev->get_ref<const std::string&>();
  if (name == "pong") {
    const auto id = j.find("id");
    if (id == j.end() || !id->is_number_integer()) {
      return in;
    }
    in.kind = Incoming::Kind::kPong;
    in.id = id->get<int>();
  } else if (name == "transcription-result") {
    in.kind = Incoming::Kind::kTranscriptionResult;
  } else if (name == "media") {
    in.kind = Incoming::Kind::kMedia;
  } else if (name == "info") {
    in.kind = Incoming::Kind::kInfo;
  } else {
    in.kind = Incoming::Kind::kOther;
  }
  return in;
}

std::string transcriptionMessage(std::string_view event) {
  Json payload = Json::parse(event.begin(), event.end(), nullptr, false);
  Json j;
  j["colibriClass"] = "EndpointMessage";
  j["to"] = "";
  j["msgPayload"] = payload.is_discarded() ? Json::object() : std::move(payload);
  j["from"] = "transcriber";
  return dump(j);
}

Serializer::SsrcState Serializer::makeState(const Packet& p, const std::string& tag,
                                            const MediaFormat& format,
                                            Clock::time_point now) const {
  const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(now - ref_).count();
  const auto startOffset =
      static_cast<int64_t>(static_cast<double>(elapsed) * format.sampleRate * 1e-9);
  SsrcState s(tag, p.payloadType, startOffset - int64_t{p.timestamp});
  s.timestamps.update(p.timestamp);
  return s;
}

void Serializer::encode(const Packet& p, const std::string& tag, const std::string& endpointId,
                        const MediaFormat& format, Clock::time_point now) {
  auto it = ssrcs_.find(p.ssrc);
  if (it == ssrcs_.end()) {
    it = ssrcs_.emplace(p.ssrc, makeState(p, tag, format, now)).first;
    sink_(startEvent(++seq_, it->second.tag, format, endpointId));
  } else if (it->second.payloadType != p.payloadType) {
    // A new start event for the new format; the tag stays the SSRC's.
    std::string keep = it->second.tag;
    it->second = makeState(p, keep, format, now);
    sink_(startEvent(++seq_, it->second.tag, format, endpointId));
  }
  SsrcState& s = it->second;
  const int64_t chunk = s.seqs.update(p.sequenceNumber);
  const int64_t ts = s.offset + s.timestamps.update(p.timestamp);
  sink_(mediaEvent(++seq_, s.tag, chunk, ts, p.payload, p.audioLevel, p.vad));
}

}  // namespace jvb::control::mediajson
