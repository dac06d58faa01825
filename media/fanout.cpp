#include "media/fanout.hpp"

#include <cerrno>
#include <cstring>

#include "rtp/rtp_packet.hpp"

namespace jvb::media {

bool FanOut::add(std::span<const uint8_t> plain, srtp::Session& out,
                 const boost::asio::ip::udp::endpoint& to, const rtp::ExtensionIdMap* extensions,
                 const rtp::RedStrip* red) noexcept {
  if (plain.size() + out.rtpTrailer() > kSlab) {
    ++totals_.protectFailures;
    return false;
  }
  auto& slab = slabs_[count_];
  std::memcpy(slab.data(), plain.data(), plain.size());
  if (extensions != nullptr) {
    auto view = rtp::RtpPacketView::parse(std::span<uint8_t>(slab.data(), plain.size()));
    if (!view || !view->remapExtensionIds(*extensions)) {
      ++totals_.remapFailures;
    }
  }
  size_t length = plain.size();
  if (red != nullptr) {
    length = rtp::stripRedInPlace(std::span<uint8_t>(slab.data(), length), length, red->primary,
                                  red->payloadType);
    if (length == 0) {
      ++totals_.redStripFailures;
      return false;
    }
  }
  return enqueue(length, out, to);
}

bool FanOut::addRewritten(const rtp::ConstRtpPacketView& plain, const rtp::AudioRewrite& rewrite,
                          srtp::Session& out, const boost::asio::ip::udp::endpoint& to,
                          const rtp::RedStrip* red) noexcept {
  auto& slab = slabs_[count_];
  const size_t room = kSlab - out.rtpTrailer();
  size_t length = rtp::writeRewrittenAudio(std::span<uint8_t>(slab.data(), room), plain, rewrite);
  if (length == 0) {
    ++totals_.protectFailures;
    return false;
  }
  if (red != nullptr) {
    // The rewritten copy carries the sender's payload unchanged, so the
    // primary block is where the sender's packet has it.
    length = rtp::stripRedInPlace(std::span<uint8_t>(slab.data(), length), length, red->primary,
                                  red->payloadType);
    if (length == 0) {
      ++totals_.redStripFailures;
      return false;
    }
  }
  return enqueue(length, out, to);
}

bool FanOut::enqueue(size_t length, srtp::Session& out,
                     const boost::asio::ip::udp::endpoint& to) noexcept {
  auto& slab = slabs_[count_];
  const auto r = out.protectRtp(std::span<uint8_t>(slab.data(), slab.size()), length);
  if (!r.ok()) {
    ++totals_.protectFailures;
    return false;
  }
  const auto len = static_cast<socklen_t>(to.size());
  std::memcpy(&addrs_[count_], to.data(), len);
  iov_[count_] = iovec{slab.data(), r.length};
  msgs_[count_] = mmsghdr{};
  msgs_[count_].msg_hdr.msg_name = &addrs_[count_];
  msgs_[count_].msg_hdr.msg_namelen = len;
  msgs_[count_].msg_hdr.msg_iov = &iov_[count_];
  msgs_[count_].msg_hdr.msg_iovlen = 1;
  ++count_;
  if (count_ == kBatch) {
    flush();
  }
  return true;
}

void FanOut::flush() noexcept {
  size_t done = 0;
  // Bounded: each turn either sends at least one datagram or drops one.
  while (done < count_) {
    const int n = ::sendmmsg(fd_, &msgs_[done], static_cast<unsigned>(count_ - done), 0);
    if (n > 0) {
      for (size_t i = done; i < done + static_cast<size_t>(n); ++i) {
        totals_.bytes += iov_[i].iov_len;
      }
      totals_.sent += static_cast<uint64_t>(n);
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    // The first datagram of the rest was refused (full buffer, unreachable
    // destination): count it and go on with the others.
    ++totals_.sendFailures;
    ++done;
  }
  count_ = 0;
}

}  // namespace jvb::media
