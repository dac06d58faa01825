#pragma once
// Batched sending of one packet to many receivers: each copy is written into
// a preallocated slab, SRTP-protected there for its receiver, and the batch
// goes to the kernel with one sendmmsg(2) per kBatch datagrams (Linux). No
// allocation per packet: the slabs, iovecs and addresses are members.
//
// Threading: the media thread that owns it.
#include <sys/socket.h>

#include <array>
#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <span>

#include "rtp/audio_rewrite.hpp"
#include "rtp/header_extensions.hpp"
#include "rtp/red.hpp"
#include "srtp/session.hpp"

namespace jvb::media {

class FanOut {
 public:
  static constexpr size_t kBatch = 64;
  static constexpr size_t kSlab = 1500 + srtp::kMaxTrailer;

  struct Totals {
    uint64_t sent = 0;  // datagrams the kernel took
    uint64_t bytes = 0;
    uint64_t protectFailures = 0;
    uint64_t sendFailures = 0;      // datagrams the kernel refused
    uint64_t remapFailures = 0;     // extension IDs that could not be rewritten (sent as they were)
    uint64_t redStripFailures = 0;  // RED copies that could not be stripped (not sent)
  };

  // `fd`: the UDP socket to send from (the media port's, for the family of
  // the destinations given to add()).
  explicit FanOut(int fd) : fd_(fd) {}

  // Copies `plain` (an RTP packet), protects it with `out`, queues it for
  // `to`. Flushes when the batch is full. False when protect failed or the
  // packet is larger than a slab.
  // `extensions`, when given, rewrites the copy's header-extension IDs for
  // this receiver (RFC 8285 IDs are negotiated per endpoint) before it is
  // protected. `red`, when given, strips the copy of a RED packet to its
  // primary encoding (a receiver that did not negotiate RED).
  bool add(std::span<const uint8_t> plain, srtp::Session& out,
           const boost::asio::ip::udp::endpoint& to,
           const rtp::ExtensionIdMap* extensions = nullptr,
           const rtp::RedStrip* red = nullptr) noexcept;
  // The same for an SSRC-rewriting receiver: the copy is written by
  // rtp::writeRewrittenAudio (slot SSRC, sequence number, timestamp, the
  // receiver's extensions) instead of copied.
  bool addRewritten(const rtp::ConstRtpPacketView& plain, const rtp::AudioRewrite& rewrite,
                    srtp::Session& out, const boost::asio::ip::udp::endpoint& to,
                    const rtp::RedStrip* red = nullptr) noexcept;
  // Sends what is queued.
  void flush() noexcept;

  [[nodiscard]] const Totals& totals() const { return totals_; }
  void setFd(int fd) noexcept {
    if (fd != fd_) {
      flush();
      fd_ = fd;
    }
  }

 private:
  // Protects the slab of the next datagram (`length` plain bytes) and queues it.
  bool enqueue(size_t length, srtp::Session& out,
               const boost::asio::ip::udp::endpoint& to) noexcept;

  int fd_;
  size_t count_ = 0;
  Totals totals_;
  std::array<std::array<uint8_t, kSlab>, kBatch> slabs_{};
  std::array<mmsghdr, kBatch> msgs_{};
  std::array<iovec, kBatch> iov_{};
  std::array<sockaddr_storage, kBatch> addrs_{};
};

}  // namespace jvb::media
