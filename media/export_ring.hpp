#pragma once
// The audio export hand-off (Colibri2 <connects>, control/exporters.*): the
// media thread copies each forwarded audio packet of a conference that has an
// export into a preallocated ring of fixed-size slots; the control thread
// drains it and does the base64, the JSON and the WebSocket. Single producer
// (the media thread), single consumer (the control thread), lock-free: two
// atomic indices, no allocation after construction. A full ring (or a payload
// larger than a slot) drops the packet and counts it; the media thread never
// waits on the consumer.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

#include "media/media_model.hpp"

namespace jvb::media {

struct ExportPacket {
  static constexpr size_t kMaxPayload = 1280;  // an Opus frame is at most 1275 bytes (RFC 6716)
  ConferenceHandle conference = 0;
  uint32_t ssrc = 0;
  uint32_t timestamp = 0;
  uint16_t sequenceNumber = 0;
  uint8_t payloadType = 0;
  int8_t audioLevel = -1;  // RFC 6464 level 0..127; -1: no ssrc-audio-level
  bool vad = false;
  uint16_t length = 0;
  uint8_t payload[kMaxPayload];
};

class ExportRing {
 public:
  explicit ExportRing(size_t capacity = 1024)
      : capacity_(capacity), slots_(std::make_unique<ExportPacket[]>(capacity)) {}
  ExportRing(const ExportRing&) = delete;
  ExportRing& operator=(const ExportRing&) = delete;

  // Producer (media thread). False (and counted) when full or too large.
  bool push(ConferenceHandle conference, uint32_t ssrc, uint16_t seq, uint32_t ts, uint8_t pt,
            int8_t level, bool vad, std::span<const uint8_t> payload) {
    if (payload.size() > ExportPacket::kMaxPayload) {
      oversize_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_.load(std::memory_order_acquire) >= capacity_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    ExportPacket& p = slots_[head % capacity_];
    p.conference = conference;
    p.ssrc = ssrc;
    p.sequenceNumber = seq;
    p.timestamp = ts;
    p.payloadType = pt;
    p.audioLevel = level;
    p.vad = vad;
    p.length = static_cast<uint16_t>(payload.size());
    if (!payload.empty()) {
      std::memcpy(p.payload, payload.data(), payload.size());
    }
    head_.store(head + 1, std::memory_order_release);
    pushed_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  // Consumer (control thread): calls f(const ExportPacket&) for each queued
  // packet, at most `max`; returns how many.
  template <typename F>
  size_t drain(F&& f, size_t max = SIZE_MAX) {
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    const uint64_t head = head_.load(std::memory_order_acquire);
    size_t n = 0;
    while (tail != head && n < max) {
      f(static_cast<const ExportPacket&>(slots_[tail % capacity_]));
      ++tail;
      ++n;
      tail_.store(tail, std::memory_order_release);
    }
    return n;
  }

  [[nodiscard]] size_t capacity() const { return capacity_; }
  [[nodiscard]] uint64_t pushed() const { return pushed_.load(std::memory_order_relaxed); }
  [[nodiscard]] uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  [[nodiscard]] uint64_t oversize() const { return oversize_.load(std::memory_order_relaxed); }

 private:
  const size_t capacity_;
  std::unique_ptr<ExportPacket[]> slots_;
  alignas(64) std::atomic<uint64_t> head_{0};  // written by the producer
  alignas(64) std::atomic<uint64_t> tail_{0};  // written by the consumer
  alignas(64) std::atomic<uint64_t> pushed_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> oversize_{0};
};

}  // namespace jvb::media
