#pragma once
// Internal to sctp/: the data channels (RFC 8831) of one association, on the
// streams of its usrsctp socket. DCEP open/ack handling (RFC 8832; the codec
// is dcep.hpp); the per-stream state: the channel table, each channel's
// ordering and partial reliability on sending, and the stream resets that
// close channels (RFC 8831 section 6.7); the message size limits
// (maxMessageSize on sending, maxIncomingMessageSize while reassembling); and
// the delivery of text and binary messages. The association
// (association.cpp) owns the socket and its receive loop: it reads each
// piece of an incoming message into receiveBuffer() and reports it, and
// hands the owner's callbacks what the channels deliver (ChannelHost).
//
// Threading: owned by one Association::Impl and used like it, from the one
// thread that drives this library (association.hpp).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sctp/association.hpp"
#include "sctp/dcep.hpp"

struct socket;                   // usrsctp.h
struct sctp_stream_reset_event;  // usrsctp.h

namespace jvb::sctp::detail {

// What the channels use of their association (Association::Impl).
class ChannelHost {
 public:
  // The association's socket while the association is up and not closed or
  // destroyed; null otherwise (nothing can be sent).
  [[nodiscard]] virtual struct socket* connectedSocket() const = 0;
  // The streams negotiated in each direction (0 before the association is up).
  [[nodiscard]] virtual uint16_t inboundStreams() const = 0;
  [[nodiscard]] virtual uint16_t outboundStreams() const = 0;
  // The owner's onChannelOpen, onText, onBinary and onChannelClosed
  // (exceptions caught, logged and counted; none once destroyed).
  virtual void channelOpened(uint16_t sid, const std::string& label,
                             const std::string& protocol) = 0;
  virtual void textReceived(uint16_t sid, std::string_view text) = 0;
  virtual void binaryReceived(uint16_t sid, std::span<const uint8_t> data) = 0;
  virtual void channelClosed(uint16_t sid) = 0;
  // The owner destroyed the association (from a callback): stop at once.
  [[nodiscard]] virtual bool destroyed() const = 0;
  // Prefixed to log lines.
  [[nodiscard]] virtual std::string prefix() const = 0;

 protected:
  ~ChannelHost() = default;
};

class Channels {
 public:
  // `host`, `counters` and `opts` belong to the association and outlive this.
  Channels(ChannelHost& host, Association::Counters& counters, Role role,
           const AssociationOptions& opts);
  Channels(const Channels&) = delete;
  Channels& operator=(const Channels&) = delete;

  // Whether a channel is open on the stream.
  [[nodiscard]] bool contains(uint16_t sid) const { return channels_.contains(sid); }
  // Forgets every channel and the stream resets not sent yet (the
  // association closed, ended or restarted).
  void clear();

  // --- sending ---

  // Opens a channel with DATA_CHANNEL_OPEN (Association::openChannel); the
  // caller checks that the association is connected.
  std::optional<uint16_t> open(const std::string& label, const std::string& protocol,
                               dcep::ChannelType type, uint32_t reliability);
  // One text or binary message on an open channel (Association::sendText,
  // sendBinary), counted as sent or failed.
  bool send(uint16_t sid, bool text, std::span<const uint8_t> data);
  // One ordered reliable message with any PPID on any stream
  // (Association::sendRaw).
  bool sendRaw(uint16_t sid, uint32_t ppid, std::span<const uint8_t> data);

  // --- closing ---

  // Forgets the channel and resets its outgoing stream (Association::
  // closeChannel); false when it is not open.
  bool close(uint16_t sid);
  // The peer reset streams (SCTP_STREAM_RESET_EVENT, `bytes` the whole
  // notification).
  void handleStreamReset(const sctp_stream_reset_event& ev, std::span<const uint8_t> bytes);
  // Sends the stream resets queued by close() and handleStreamReset().
  void flushResets();

  // --- receiving ---

  // Room for the next piece of the message being received.
  std::span<uint8_t> receiveBuffer();
  // The stream and PPID of the message being received, when usrsctp reports
  // them with a piece.
  void receivingOn(uint16_t sid, uint32_t ppid);
  // `size` bytes were read into receiveBuffer(); `end`: the message is
  // complete, and is delivered (or dropped when over the limit).
  void received(size_t size, bool end);
  // Forgets the message being received (the association is gone).
  void discardPartial();

 private:
  struct Channel {
    std::string label;
    std::string protocol;
    dcep::ChannelType type = dcep::ChannelType::kReliable;
    uint32_t reliabilityParameter = 0;
    bool acked = false;  // ACK received (always true for channels the peer opened)
    bool openedLocally = false;
  };

  bool sendOnStream(uint16_t sid, uint32_t ppid, std::span<const uint8_t> data,
                    const Channel* channel);
  void handleMessage(uint16_t sid, uint32_t ppid, std::span<const uint8_t> data);
  void handleDcep(uint16_t sid, std::span<const uint8_t> data);
  void ensureRxSpace();

  ChannelHost& host_;
  Association::Counters& counters_;
  const Role role_;
  const AssociationOptions& opts_;
  std::unordered_map<uint16_t, Channel> channels_;
  std::vector<uint16_t> pendingResets_;  // our outgoing streams to reset

  std::unique_ptr<uint8_t[]> rx_;  // the message being received
  size_t rxCapacity_ = 0;
  size_t rxLength_ = 0;
  bool rxDiscard_ = false;  // the message is over the limit
  uint16_t rxStream_ = 0;
  uint32_t rxPpid_ = 0;
};

}  // namespace jvb::sctp::detail
