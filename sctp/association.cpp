// One SCTP association over DTLS (association.hpp): its usrsctp sockets and
// their options, the INIT/handshake (listen and accept, or connect), the
// packets to and from DTLS, the receive loop and the association's
// notifications, closing and teardown, the owner's callbacks, and the public
// Association methods. Messages go through the channels (channels.cpp) on
// the association's socket; the process-wide usrsctp state is runtime.cpp.
#include "sctp/association.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <usrsctp.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "common/log.hpp"
#include "sctp/channels.hpp"
#include "sctp/library.hpp"
#include "sctp/runtime.hpp"

namespace jvb::sctp {

namespace {

using detail::Entry;
using detail::wouldBlock;

constexpr const char* kLog = "sctp";
constexpr uint32_t kCommonHeader = 12;
constexpr size_t kMinPacket = kCommonHeader + 4;  // and one chunk header
constexpr size_t kMaxPacket = 65536;

sockaddr_conn connAddress(uintptr_t id, uint16_t port) {
  sockaddr_conn a{};
  a.sconn_family = AF_CONN;
  a.sconn_port = htons(port);
  a.sconn_addr = detail::toAddr(id);
  return a;
}

}  // namespace

struct Association::Impl final : detail::Node, detail::ChannelHost {
  Impl(Role r, AssociationCallbacks c, AssociationOptions o)
      : role(r),
        cb(std::move(c)),
        opts(std::move(o)),
        id(detail::newAddress()),
        channels(*this, counters, role, opts) {
    if (!cb.sendToDtls) {
      throw std::invalid_argument("sctp::Association: sendToDtls is required");
    }
    if (opts.mtu < 512 || opts.mtu > 65535) {
      throw std::invalid_argument("sctp::Association: mtu out of range");
    }
    if (opts.streams == 0) {
      throw std::invalid_argument("sctp::Association: streams must be > 0");
    }
    detail::registerNode(id, this);
    try {
      struct socket* s = makeSocket();
      if (role == Role::kServer) {
        listenSocket = s;
      } else {
        conn = s;
      }
    } catch (...) {
      detail::unlinkNode(id);
      detail::deregisterAddress(id);
      throw;
    }
  }

  ~Impl() override {
    detail::unlinkNode(id);
    closeSocket(conn);
    closeSocket(listenSocket);
    detail::deregisterAddress(id);
    // `library` goes last: the final reference calls usrsctp_finish().
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // --- setup ---------------------------------------------------------------

  struct socket* makeSocket() {
    struct socket* s =
        usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, nullptr, nullptr, 0, nullptr);
    if (s == nullptr) {
      throw std::runtime_error("usrsctp_socket failed: " + std::string(std::strerror(errno)));
    }
    if (!configure(s)) {
      usrsctp_close(s);
      throw std::runtime_error("usrsctp socket options refused");
    }
    sockaddr_conn local = connAddress(id, opts.localPort);
    if (usrsctp_bind(s, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      const int err = errno;
      usrsctp_close(s);
      throw std::runtime_error("usrsctp_bind failed: " + std::string(std::strerror(err)));
    }
    return s;
  }

  template <typename T>
  bool setOption(struct socket* s, int level, int name, const T& value, const char* what) {
    if (usrsctp_setsockopt(s, level, name, &value, sizeof value) != 0) {
      LOG_WARN(kLog, "{}setsockopt {} failed: {}", prefix(), what, std::strerror(errno));
      return false;
    }
    return true;
  }

  // The options a WebRTC peer expects, on every socket (listening and
  // accepted; an accepted socket inherits most, set again anyway).
  bool configure(struct socket* s) {
    if (usrsctp_set_non_blocking(s, 1) != 0) {
      return false;
    }
    bool ok = true;
    // Close = ABORT, freeing the association at once (RFC 8831 section 6.2
    // leaves graceful shutdown optional).
    const linger noLinger{1, 0};
    ok &= setOption(s, SOL_SOCKET, SO_LINGER, noLinger, "SO_LINGER");
    const int on = 1;
    ok &= setOption(s, IPPROTO_SCTP, SCTP_RECVRCVINFO, on, "SCTP_RECVRCVINFO");
    ok &= setOption(s, IPPROTO_SCTP, SCTP_NODELAY, on, "SCTP_NODELAY");
    // Channels close by resetting their streams (RFC 8831 section 6.7).
    sctp_assoc_value reset{};
    reset.assoc_id = SCTP_ALL_ASSOC;
    reset.assoc_value = SCTP_ENABLE_RESET_STREAM_REQ;
    ok &= setOption(s, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, reset, "SCTP_ENABLE_STREAM_RESET");
    static constexpr uint16_t kEvents[] = {SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT,
                                           SCTP_SHUTDOWN_EVENT};
    for (const uint16_t type : kEvents) {
      sctp_event ev{};
      ev.se_assoc_id = SCTP_ALL_ASSOC;
      ev.se_type = type;
      ev.se_on = 1;
      ok &= setOption(s, IPPROTO_SCTP, SCTP_EVENT, ev, "SCTP_EVENT");
    }
    sctp_initmsg init{};
    init.sinit_num_ostreams = opts.streams;
    init.sinit_max_instreams = opts.streams;
    ok &= setOption(s, IPPROTO_SCTP, SCTP_INITMSG, init, "SCTP_INITMSG");
    sctp_rtoinfo rto{};
    rto.srto_assoc_id = SCTP_ALL_ASSOC;
    rto.srto_initial = static_cast<uint32_t>(opts.rtoInitial.count());
    rto.srto_min = static_cast<uint32_t>(opts.rtoMin.count());
    rto.srto_max = static_cast<uint32_t>(opts.rtoMax.count());
    ok &= setOption(s, IPPROTO_SCTP, SCTP_RTOINFO, rto, "SCTP_RTOINFO");
    // A non-blocking send needs room for the whole message.
    const int sendBuffer =
        static_cast<int>(std::clamp<size_t>(2 * opts.maxMessageSize, 256 * 1024, 16 << 20));
    ok &= setOption(s, SOL_SOCKET, SO_SNDBUF, sendBuffer, "SO_SNDBUF");
    ok &= setMtu(s);
    return ok;
  }

  // A fixed path MTU (no PMTU discovery over DTLS): the endpoint default
  // before the association exists, the association's once it does.
  bool setMtu(struct socket* s) {
    sctp_paddrparams params{};
    sockaddr_conn any{};  // every path (usrsctp wants the family even then)
    any.sconn_family = AF_CONN;
    std::memcpy(&params.spp_address, &any, sizeof any);
    params.spp_assoc_id = SCTP_FUTURE_ASSOC;
    params.spp_flags = SPP_PMTUD_DISABLE;
    // usrsctp adds the 12-byte common header to spp_pathmtu for AF_CONN.
    params.spp_pathmtu = opts.mtu - kCommonHeader;
    return setOption(s, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, params, "SCTP_PEER_ADDR_PARAMS");
  }

  void closeSocket(struct socket*& s) {
    if (s != nullptr) {
      struct socket* old = std::exchange(s, nullptr);
      usrsctp_close(old);
    }
  }

  [[nodiscard]] std::string prefix() const override {
    return opts.logTag.empty() ? std::string() : opts.logTag + ": ";
  }

  // --- entry points --------------------------------------------------------

  void start() {
    if (started || closed || dead) {
      return;
    }
    started = true;
    if (role == Role::kServer) {
      if (usrsctp_listen(listenSocket, 1) != 0) {
        LOG_WARN(kLog, "{}usrsctp_listen failed: {}", prefix(), std::strerror(errno));
      }
      return;
    }
    sockaddr_conn remote = connAddress(id, opts.remotePort);
    if (usrsctp_connect(conn, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0 &&
        !wouldBlock(errno)) {
      LOG_WARN(kLog, "{}usrsctp_connect failed: {}", prefix(), std::strerror(errno));
    }
    afterUsrsctp();
  }

  void handlePacket(std::span<const uint8_t> packet) {
    if (dead) {
      return;
    }
    if (detail::insideOutput()) {
      // Called from inside a sendToDtls: usrsctp holds its locks; feed it
      // once the outermost call returns.
      if (!detail::deferInput(id, packet)) {
        ++counters.dropped;
      }
      return;
    }
    input(packet);
  }

  void input(std::span<const uint8_t> packet) override {
    ++counters.packetsIn;
    if (closed) {
      return;
    }
    if (packet.size() < kMinPacket || packet.size() > kMaxPacket) {
      ++counters.malformed;
      return;
    }
    if (role == Role::kServer && !started) {
      start();
    }
    usrsctp_conninput(detail::toAddr(id), packet.data(), packet.size(), 0);
    afterUsrsctp();
  }

  void afterTimers() override {
    const auto readable = [](struct socket* s) {
      return s != nullptr && (usrsctp_get_events(s) & SCTP_EVENT_READ) != 0;
    };
    if (readable(listenSocket) || readable(conn)) {
      drain();
    }
    channels.flushResets();
  }

  void output(std::span<const uint8_t> packet) override {
    ++counters.packetsOut;
    try {
      cb.sendToDtls(packet);
    } catch (const std::exception& e) {
      ++counters.callbackErrors;
      LOG_WARN(kLog, "{}sendToDtls threw: {}", prefix(), e.what());
    } catch (...) {
      ++counters.callbackErrors;
      LOG_WARN(kLog, "{}sendToDtls threw", prefix());
    }
  }

  bool refusedInsideOutput(const char* what) const {
    if (!detail::insideOutput()) {
      return false;
    }
    LOG_WARN(kLog, "{}{} called from inside sendToDtls: refused", prefix(), what);
    return true;
  }

  void close() {
    if (closed || dead) {
      return;
    }
    closed = true;
    started = true;
    connected = false;
    channels.clear();
    closeSocket(conn);  // SO_LINGER 0: the ABORT leaves through sendToDtls
    closeSocket(listenSocket);
  }

  // --- receiving -----------------------------------------------------------

  void afterUsrsctp() {
    if (!dead) {
      drain();
    }
    if (!dead) {
      channels.flushResets();
    }
  }

  // Accepts a pending association (server) and reads everything queued. A
  // nested call (a callback feeding this association again) only asks the
  // running one for another round.
  void drain() {
    if (draining) {
      drainAgain = true;
      return;
    }
    draining = true;
    do {
      drainAgain = false;
      if (listenSocket != nullptr && !dead) {
        acceptPending();
      }
      if (conn != nullptr && !dead) {
        readAll();
      }
    } while (drainAgain && !dead);
    draining = false;
  }

  void acceptPending() {
    for (;;) {
      sockaddr_conn from{};
      socklen_t fromLength = sizeof from;
      struct socket* s =
          usrsctp_accept(listenSocket, reinterpret_cast<sockaddr*>(&from), &fromLength);
      if (s == nullptr) {
        return;  // EWOULDBLOCK: nothing pending
      }
      if (!configure(s)) {
        LOG_WARN(kLog, "{}accepted association refused its options", prefix());
      }
      if (conn != nullptr) {
        // A new association from the peer (the old one is gone or being
        // replaced): start over.
        LOG_INFO(kLog, "{}new association replaces the previous one", prefix());
        closeSocket(conn);
        resetAssociationState();
      }
      conn = s;
      closedNotified = false;
    }
  }

  void resetAssociationState() {
    connected = false;
    inStreams = outStreams = 0;
    channels.clear();
    channels.discardPartial();
  }

  // Reads everything queued: each piece of a message goes into the channels'
  // receive buffer, which reassembles and delivers it.
  void readAll() {
    while (conn != nullptr && !dead) {
      const std::span<uint8_t> space = channels.receiveBuffer();
      sctp_rcvinfo info{};
      socklen_t infoLength = sizeof info;
      unsigned int infoType = 0;
      int flags = 0;
      sockaddr_conn from{};
      socklen_t fromLength = sizeof from;
      const ssize_t n =
          usrsctp_recvv(conn, space.data(), space.size(), reinterpret_cast<sockaddr*>(&from),
                        &fromLength, &info, &infoLength, &infoType, &flags);
      if (n < 0) {
        const int err = errno;
        if (!wouldBlock(err)) {
          LOG_DEBUG(kLog, "{}recv: {}", prefix(), std::strerror(err));
          associationGone();
        }
        return;
      }
      if (n == 0) {
        associationGone();  // end of file: shut down or aborted
        return;
      }
      const auto size = static_cast<size_t>(n);
      if ((flags & MSG_NOTIFICATION) != 0) {
        // Notifications are small and come whole; never mixed into the
        // message being received.
        if ((flags & MSG_EOR) != 0) {
          handleNotification({space.data(), size});
        }
        continue;
      }
      if (infoType == SCTP_RECVV_RCVINFO) {
        channels.receivingOn(info.rcv_sid, ntohl(info.rcv_ppid));
      }
      channels.received(size, (flags & MSG_EOR) != 0);
    }
  }

  // The association ended (or failed to start): free its socket, tell the
  // owner once.
  void associationGone() {
    const bool notify = !closedNotified;
    closeSocket(conn);
    resetAssociationState();
    closedNotified = true;
    if (notify) {
      invoke(cb.onClosed);
    }
  }

  void handleNotification(std::span<const uint8_t> bytes) {
    sctp_notification n{};
    std::memcpy(&n, bytes.data(), std::min(bytes.size(), sizeof n));
    if (bytes.size() < sizeof n.sn_header) {
      return;
    }
    switch (n.sn_header.sn_type) {
      case SCTP_ASSOC_CHANGE:
        if (bytes.size() >= sizeof n.sn_assoc_change) {
          handleAssocChange(n.sn_assoc_change);
        }
        break;
      case SCTP_STREAM_RESET_EVENT:
        if (bytes.size() >= sizeof n.sn_strreset_event) {
          channels.handleStreamReset(n.sn_strreset_event, bytes);
        }
        break;
      case SCTP_SHUTDOWN_EVENT:
        LOG_DEBUG(kLog, "{}peer shuts the association down", prefix());
        break;
      default:
        break;
    }
  }

  void handleAssocChange(const sctp_assoc_change& change) {
    switch (change.sac_state) {
      case SCTP_COMM_UP:
        connected = true;
        closedNotified = false;
        outStreams = change.sac_outbound_streams;
        inStreams = change.sac_inbound_streams;
        setMtu(conn);
        LOG_DEBUG(kLog, "{}association up: {} out / {} in streams", prefix(), outStreams,
                  inStreams);
        invoke(cb.onConnected);
        break;
      case SCTP_RESTART:
        // The peer restarted: its channels are gone.
        outStreams = change.sac_outbound_streams;
        inStreams = change.sac_inbound_streams;
        channels.clear();
        LOG_INFO(kLog, "{}association restarted by the peer", prefix());
        break;
      case SCTP_COMM_LOST:
      case SCTP_SHUTDOWN_COMP:
      case SCTP_CANT_STR_ASSOC:
        LOG_DEBUG(kLog, "{}association ended (state {}, error {})", prefix(), change.sac_state,
                  change.sac_error);
        associationGone();
        break;
      default:
        break;
    }
  }

  template <typename Fn, typename... Args>
  void invoke(const Fn& fn, Args&&... args) {
    if (!fn || dead) {
      return;
    }
    try {
      fn(std::forward<Args>(args)...);
    } catch (const std::exception& e) {
      ++counters.callbackErrors;
      LOG_WARN(kLog, "{}callback threw: {}", prefix(), e.what());
    } catch (...) {
      ++counters.callbackErrors;
      LOG_WARN(kLog, "{}callback threw", prefix());
    }
  }

  // Association::sendText, sendBinary.
  bool sendUser(uint16_t sid, bool text, std::span<const uint8_t> data) {
    if (refusedInsideOutput("send")) {
      ++counters.sendFailures;
      return false;
    }
    return channels.send(sid, text, data);
  }

  // --- what the channels use (detail::ChannelHost) -------------------------

  [[nodiscard]] struct socket* connectedSocket() const override {
    return conn != nullptr && connected && !closed && !dead ? conn : nullptr;
  }
  [[nodiscard]] uint16_t inboundStreams() const override { return inStreams; }
  [[nodiscard]] uint16_t outboundStreams() const override { return outStreams; }

  void channelOpened(uint16_t sid, const std::string& label, const std::string& protocol) override {
    invoke(cb.onChannelOpen, sid, label, protocol);
  }

  void textReceived(uint16_t sid, std::string_view text) override { invoke(cb.onText, sid, text); }

  void binaryReceived(uint16_t sid, std::span<const uint8_t> data) override {
    invoke(cb.onBinary, sid, data);
  }

  void channelClosed(uint16_t sid) override { invoke(cb.onChannelClosed, sid); }

  [[nodiscard]] bool destroyed() const override { return dead; }

  // --- state ---------------------------------------------------------------

  Library library;  // first member: outlives the sockets
  const Role role;
  const AssociationCallbacks cb;
  const AssociationOptions opts;
  const uintptr_t id;  // the registered AF_CONN address

  struct socket* listenSocket = nullptr;  // server
  struct socket* conn = nullptr;          // the association's socket
  bool started = false;
  bool closed = false;  // close() called
  bool connected = false;
  bool closedNotified = false;
  uint16_t inStreams = 0;
  uint16_t outStreams = 0;
  Counters counters;
  detail::Channels channels;  // on the streams of `conn`

  bool draining = false;
  bool drainAgain = false;
};

Association::Association(Role role, AssociationCallbacks callbacks, AssociationOptions options) {
  const Entry entry;
  impl_ = new Impl(role, std::move(callbacks), std::move(options));
}

Association::~Association() {
  const Entry entry;
  detail::destroyLater(impl_->id, impl_);  // freed by the outermost Entry
}

void Association::start() {
  const Entry entry;
  if (!impl_->refusedInsideOutput("start")) {
    impl_->start();
  }
}

void Association::handlePacket(std::span<const uint8_t> packet) {
  const Entry entry;
  impl_->handlePacket(packet);
}

std::optional<uint16_t> Association::openChannel(const std::string& label,
                                                 const std::string& protocol,
                                                 dcep::ChannelType type,
                                                 uint32_t reliabilityParameter) {
  const Entry entry;
  if (impl_->refusedInsideOutput("openChannel") || !impl_->connected) {
    return std::nullopt;
  }
  return impl_->channels.open(label, protocol, type, reliabilityParameter);
}

bool Association::closeChannel(uint16_t streamId) {
  const Entry entry;
  if (impl_->refusedInsideOutput("closeChannel")) {
    return false;
  }
  return impl_->channels.close(streamId);
}

bool Association::sendText(uint16_t streamId, std::string_view text) {
  const Entry entry;
  return impl_->sendUser(streamId, true,
                         {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

bool Association::sendBinary(uint16_t streamId, std::span<const uint8_t> data) {
  const Entry entry;
  return impl_->sendUser(streamId, false, data);
}

bool Association::sendRaw(uint16_t streamId, uint32_t ppid, std::span<const uint8_t> data) {
  const Entry entry;
  if (impl_->refusedInsideOutput("sendRaw")) {
    return false;
  }
  return impl_->channels.sendRaw(streamId, ppid, data);
}

void Association::close() {
  const Entry entry;
  if (!impl_->refusedInsideOutput("close")) {
    impl_->close();
  }
}

Role Association::role() const {
  return impl_->role;
}

bool Association::connected() const {
  return impl_->connected;
}

bool Association::channelOpen(uint16_t streamId) const {
  return impl_->channels.contains(streamId);
}

uint16_t Association::streamCount() const {
  return std::min(impl_->inStreams, impl_->outStreams);
}

Association::Counters Association::counters() const {
  return impl_->counters;
}

}  // namespace jvb::sctp
