// The data channels of one association (channels.hpp): DCEP, the channel
// table, sending on the streams, stream resets, message size limits,
// reassembly and delivery.
#include "sctp/channels.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <usrsctp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "common/log.hpp"
#include "sctp/runtime.hpp"

namespace jvb::sctp::detail {

namespace {

constexpr const char* kLog = "sctp";
constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kKeepBuffer = 64 * 1024;

}  // namespace

Channels::Channels(ChannelHost& host, Association::Counters& counters, Role role,
                   const AssociationOptions& opts)
    : host_(host), counters_(counters), role_(role), opts_(opts) {}

void Channels::clear() {
  channels_.clear();
  pendingResets_.clear();
}

// --- sending -----------------------------------------------------------------

std::optional<uint16_t> Channels::open(const std::string& label, const std::string& protocol,
                                       dcep::ChannelType type, uint32_t reliability) {
  const bool even = opts_.dtlsClient.value_or(role_ == Role::kClient);
  const uint32_t limit = std::min(host_.inboundStreams(), host_.outboundStreams());
  uint32_t sid = even ? 0 : 1;
  while (sid < limit && channels_.contains(static_cast<uint16_t>(sid))) {
    sid += 2;
  }
  if (sid >= limit) {
    return std::nullopt;
  }
  dcep::Open open;
  open.channelType = type;
  open.reliabilityParameter = reliability;
  open.label = label;
  open.protocol = protocol;
  const auto bytes = dcep::buildOpen(open);
  const auto stream = static_cast<uint16_t>(sid);
  if (!bytes || !sendOnStream(stream, ppid::kDcep, *bytes, nullptr)) {
    return std::nullopt;
  }
  Channel& ch = channels_[stream];
  ch.label = label;
  ch.protocol = protocol;
  ch.type = type;
  ch.reliabilityParameter = reliability;
  ch.openedLocally = true;
  return stream;
}

bool Channels::send(uint16_t sid, bool text, std::span<const uint8_t> data) {
  const auto it = channels_.find(sid);
  if (it == channels_.end() || data.size() > opts_.maxMessageSize) {
    ++counters_.sendFailures;
    return false;
  }
  static constexpr uint8_t kEmpty[1] = {0};
  const bool ok =
      data.empty()
          ? sendOnStream(sid, text ? ppid::kStringEmpty : ppid::kBinaryEmpty, kEmpty, &it->second)
          : sendOnStream(sid, text ? ppid::kString : ppid::kBinary, data, &it->second);
  ++(ok ? counters_.messagesOut : counters_.sendFailures);
  return ok;
}

bool Channels::sendRaw(uint16_t sid, uint32_t ppid, std::span<const uint8_t> data) {
  return sendOnStream(sid, ppid, data, nullptr);
}

// One message; `channel` (when given) selects unordered / partial
// reliability once the channel is acknowledged.
bool Channels::sendOnStream(uint16_t sid, uint32_t ppid, std::span<const uint8_t> data,
                            const Channel* channel) {
  struct socket* conn = host_.connectedSocket();
  if (conn == nullptr || sid >= host_.outboundStreams()) {
    return false;
  }
  sctp_sendv_spa spa{};
  spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
  spa.sendv_sndinfo.snd_sid = sid;
  spa.sendv_sndinfo.snd_ppid = htonl(ppid);
  if (channel != nullptr && channel->acked) {
    if (!dcep::isOrdered(channel->type)) {
      spa.sendv_sndinfo.snd_flags |= SCTP_UNORDERED;
    }
    switch (channel->type) {
      case dcep::ChannelType::kPartialReliableRexmit:
      case dcep::ChannelType::kPartialReliableRexmitUnordered:
        spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
        spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_RTX;
        spa.sendv_prinfo.pr_value = channel->reliabilityParameter;
        break;
      case dcep::ChannelType::kPartialReliableTimed:
      case dcep::ChannelType::kPartialReliableTimedUnordered:
        spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
        spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_TTL;
        spa.sendv_prinfo.pr_value = channel->reliabilityParameter;
        break;
      default:
        break;
    }
  }
  const ssize_t n = usrsctp_sendv(conn, data.data(), data.size(), nullptr, 0, &spa, sizeof spa,
                                  SCTP_SENDV_SPA, 0);
  if (n < 0) {
    const int err = errno;
    if (!wouldBlock(err)) {
      LOG_DEBUG(kLog, "{}send on stream {} failed: {}", host_.prefix(), sid, std::strerror(err));
    }
    return false;
  }
  return true;
}

// --- closing -----------------------------------------------------------------

bool Channels::close(uint16_t sid) {
  if (channels_.erase(sid) == 0) {
    return false;
  }
  pendingResets_.push_back(sid);
  flushResets();
  return true;
}

void Channels::handleStreamReset(const sctp_stream_reset_event& ev,
                                 std::span<const uint8_t> bytes) {
  // The peer reset its outgoing streams (it closed those channels): reset
  // ours too (RFC 8831 section 6.7). An empty list means every stream.
  if ((ev.strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN) == 0 ||
      (ev.strreset_flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED)) != 0) {
    return;
  }
  const size_t header = offsetof(sctp_stream_reset_event, strreset_stream_list);
  const size_t length = std::min<size_t>(ev.strreset_length, bytes.size());
  std::vector<uint16_t> streams;
  for (size_t at = header; at + 2 <= length; at += 2) {
    uint16_t sid = 0;
    std::memcpy(&sid, bytes.data() + at, 2);
    streams.push_back(sid);
  }
  if (streams.empty()) {
    for (const auto& [sid, channel] : channels_) {
      streams.push_back(sid);
    }
  }
  for (const uint16_t sid : streams) {
    if (channels_.erase(sid) == 0) {
      continue;  // already closed here (we reset first)
    }
    pendingResets_.push_back(sid);
    LOG_DEBUG(kLog, "{}peer closed channel {}", host_.prefix(), sid);
    host_.channelClosed(sid);
    if (host_.destroyed()) {
      return;
    }
  }
}

// Resets our outgoing streams of closed channels; usrsctp runs one
// reconfiguration request at a time, so a busy one is retried later.
void Channels::flushResets() {
  if (pendingResets_.empty()) {
    return;
  }
  struct socket* conn = host_.connectedSocket();
  if (conn == nullptr) {
    return;
  }
  std::sort(pendingResets_.begin(), pendingResets_.end());
  pendingResets_.erase(std::unique(pendingResets_.begin(), pendingResets_.end()),
                       pendingResets_.end());
  const size_t count = std::min<size_t>(pendingResets_.size(), 1024);
  std::vector<uint8_t> buffer(sizeof(sctp_reset_streams) + count * sizeof(uint16_t));
  sctp_reset_streams head{};
  head.srs_assoc_id = SCTP_ALL_ASSOC;
  head.srs_flags = SCTP_STREAM_RESET_OUTGOING;
  head.srs_number_streams = static_cast<uint16_t>(count);
  std::memcpy(buffer.data(), &head, sizeof head);
  std::memcpy(buffer.data() + offsetof(sctp_reset_streams, srs_stream_list), pendingResets_.data(),
              count * sizeof(uint16_t));
  if (usrsctp_setsockopt(conn, IPPROTO_SCTP, SCTP_RESET_STREAMS, buffer.data(),
                         static_cast<socklen_t>(buffer.size())) == 0) {
    pendingResets_.erase(pendingResets_.begin(),
                         pendingResets_.begin() + static_cast<std::ptrdiff_t>(count));
    return;
  }
  const int err = errno;
  if (err != EBUSY && err != EALREADY && !wouldBlock(err)) {
    LOG_DEBUG(kLog, "{}stream reset refused: {}", host_.prefix(), std::strerror(err));
    pendingResets_.clear();  // e.g. the peer does not support RE-CONFIG
  }
}

// --- receiving ---------------------------------------------------------------

void Channels::ensureRxSpace() {
  const size_t need = rxLength_ + kReadChunk;
  if (rxCapacity_ >= need) {
    return;
  }
  const size_t capacity = std::max(need, rxCapacity_ * 2);
  auto buffer = std::make_unique_for_overwrite<uint8_t[]>(capacity);
  if (rxLength_ > 0) {
    std::memcpy(buffer.get(), rx_.get(), rxLength_);
  }
  rx_ = std::move(buffer);
  rxCapacity_ = capacity;
}

std::span<uint8_t> Channels::receiveBuffer() {
  ensureRxSpace();
  return {rx_.get() + rxLength_, rxCapacity_ - rxLength_};
}

void Channels::receivingOn(uint16_t sid, uint32_t ppid) {
  rxStream_ = sid;
  rxPpid_ = ppid;
}

void Channels::received(size_t size, bool end) {
  if (!rxDiscard_) {
    rxLength_ += size;
    if (rxLength_ > opts_.maxIncomingMessageSize) {
      rxDiscard_ = true;
      rxLength_ = 0;
    }
  }
  if (!end) {
    return;  // partial delivery: more of this message follows
  }
  if (rxDiscard_) {
    ++counters_.dropped;
    ++counters_.oversized;
    LOG_DEBUG(kLog, "{}dropped a message over {} bytes on stream {}", host_.prefix(),
              opts_.maxIncomingMessageSize, rxStream_);
  } else {
    handleMessage(rxStream_, rxPpid_, {rx_.get(), rxLength_});
  }
  rxDiscard_ = false;
  rxLength_ = 0;
  if (rxCapacity_ > kKeepBuffer) {
    rx_.reset();
    rxCapacity_ = 0;
  }
}

void Channels::discardPartial() {
  rxLength_ = 0;
  rxDiscard_ = false;
}

void Channels::handleMessage(uint16_t sid, uint32_t ppid, std::span<const uint8_t> data) {
  switch (ppid) {
    case ppid::kDcep:
      handleDcep(sid, data);
      return;
    case ppid::kString:
    case ppid::kStringEmpty:
      if (!channels_.contains(sid)) {
        ++counters_.dropped;
        return;
      }
      ++counters_.messagesIn;
      host_.textReceived(
          sid, ppid == ppid::kStringEmpty
                   ? std::string_view()
                   : std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
      return;
    case ppid::kBinary:
    case ppid::kBinaryEmpty:
      if (!channels_.contains(sid)) {
        ++counters_.dropped;
        return;
      }
      ++counters_.messagesIn;
      host_.binaryReceived(sid, ppid == ppid::kBinaryEmpty ? std::span<const uint8_t>() : data);
      return;
    default:  // deprecated partial PPIDs (52, 54) and anything else
      ++counters_.dropped;
      return;
  }
}

void Channels::handleDcep(uint16_t sid, std::span<const uint8_t> data) {
  const auto type = dcep::messageType(data);
  if (type == dcep::kOpen) {
    auto open = dcep::parseOpen(data);
    if (!open || channels_.contains(sid) || sid >= host_.outboundStreams()) {
      ++counters_.malformed;
      LOG_DEBUG(kLog, "{}ignored a DATA_CHANNEL_OPEN on stream {}", host_.prefix(), sid);
      return;
    }
    if (channels_.size() >= opts_.maxChannels) {
      // Bounded: no ACK, and the stream is reset so that the peer's channel
      // closes (RFC 8831 section 6.7).
      ++counters_.channelsRefused;
      LOG_DEBUG(kLog, "{}refused a channel on stream {}: {} open", host_.prefix(), sid,
                channels_.size());
      pendingResets_.push_back(sid);
      flushResets();
      return;
    }
    Channel& ch = channels_[sid];
    ch.label = open->label;
    ch.protocol = open->protocol;
    ch.type = open->channelType;
    ch.reliabilityParameter = open->reliabilityParameter;
    ch.acked = true;
    const auto ack = dcep::buildAck();
    if (!sendOnStream(sid, ppid::kDcep, ack, nullptr)) {
      LOG_WARN(kLog, "{}could not acknowledge channel {}", host_.prefix(), sid);
    }
    LOG_DEBUG(kLog, "{}channel {} opened by the peer: '{}' '{}'", host_.prefix(), sid, open->label,
              open->protocol);
    host_.channelOpened(sid, open->label, open->protocol);
    return;
  }
  if (type == dcep::kAck && dcep::isAck(data)) {
    const auto it = channels_.find(sid);
    if (it == channels_.end() || !it->second.openedLocally || it->second.acked) {
      ++counters_.malformed;
      return;
    }
    it->second.acked = true;
    const std::string label = it->second.label;
    const std::string protocol = it->second.protocol;
    host_.channelOpened(sid, label, protocol);
    return;
  }
  ++counters_.malformed;
  LOG_DEBUG(kLog, "{}ignored a malformed DCEP message on stream {}", host_.prefix(), sid);
}

}  // namespace jvb::sctp::detail
