#include "sctp/association.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <usrsctp.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/log.hpp"
#include "sctp/detail.hpp"
#include "sctp/library.hpp"

namespace jvb::sctp {

namespace detail {

// What the usrsctp trampolines and the deferral machinery below see of an
// association.
class Node {
 public:
  virtual ~Node() = default;
  // An outgoing packet (checksum filled in).
  virtual void output(std::span<const uint8_t> packet) = 0;
  // One incoming packet, outside any usrsctp call.
  virtual void input(std::span<const uint8_t> packet) = 0;
  // usrsctp's timers ran: deliver what they queued.
  virtual void afterTimers() = 0;

  bool dead = false;  // destroyed by the owner; no callback may run
};

namespace {

constexpr size_t kMaxSettleRounds = 100000;

struct DeferredInput {
  uintptr_t id;
  std::vector<uint8_t> packet;
};

// Process-wide state; single-threaded by contract (association.hpp).
struct Global {
  std::unordered_map<uintptr_t, Node*> live;  // registered address -> association
  uintptr_t nextId = 1;                       // never reused
  int depth = 0;                              // nested calls into this library
  int outputDepth = 0;                        // inside a sendToDtls callback
  std::deque<DeferredInput> deferredInputs;   // handlePacket() from inside sendToDtls
  std::vector<Node*> graveyard;               // destroyed while depth > 0
  std::optional<Association::TimePoint> lastTick;
};

Global& global() {
  static Global g;
  return g;
}

Node* find(uintptr_t id) {
  auto& live = global().live;
  const auto it = live.find(id);
  return it == live.end() || it->second->dead ? nullptr : it->second;
}

void settle();

// Marks a call into this library; the outermost one, on return, feeds the
// packets deferred by sendToDtls and frees the associations destroyed
// meanwhile, when no association frame is on the stack any more.
class Entry {
 public:
  Entry() { ++global().depth; }
  ~Entry() {
    if (--global().depth == 0) {
      settle();
    }
  }
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;
};

void settle() {
  Global& g = global();
  ++g.depth;
  for (size_t round = 0; round < kMaxSettleRounds && !g.deferredInputs.empty(); ++round) {
    DeferredInput in = std::move(g.deferredInputs.front());
    g.deferredInputs.pop_front();
    if (Node* node = find(in.id)) {
      node->input(in.packet);
    }
  }
  g.deferredInputs.clear();
  while (!g.graveyard.empty()) {
    std::vector<Node*> graves;
    graves.swap(g.graveyard);
    for (Node* node : graves) {
      delete node;  // closes its sockets; their output finds no one
    }
  }
  --g.depth;
}

void* toAddr(uintptr_t id) {
  return reinterpret_cast<void*>(id);
}

uintptr_t fromAddr(void* addr) {
  return reinterpret_cast<uintptr_t>(addr);
}

}  // namespace

int connOutput(void* addr, void* buffer, size_t length, uint8_t /*tos*/, uint8_t /*setDf*/) {
  Node* node = find(fromAddr(addr));
  if (node == nullptr || buffer == nullptr || length < 12) {
    return 0;  // an association already gone (usrsctp may still send its ABORT)
  }
  // CRC32c offload is on (library.cpp): usrsctp leaves the checksum (bytes
  // 8..11 of the common header) zero; peers check it, so set it here.
  auto* bytes = static_cast<uint8_t*>(buffer);
  std::memset(bytes + 8, 0, 4);
  const uint32_t crc = usrsctp_crc32c(bytes, length);
  std::memcpy(bytes + 8, &crc, 4);
  ++global().outputDepth;
  node->output({bytes, length});
  --global().outputDepth;
  return 0;
}

void onLibraryInit() {
  global().lastTick.reset();
}

}  // namespace detail

namespace {

using detail::Entry;
using detail::global;

constexpr const char* kLog = "sctp";
constexpr uint32_t kCommonHeader = 12;
constexpr size_t kMinPacket = kCommonHeader + 4;  // and one chunk header
constexpr size_t kMaxPacket = 65536;
constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kKeepBuffer = 64 * 1024;
constexpr size_t kMaxDeferredInputs = 4096;

sockaddr_conn connAddress(uintptr_t id, uint16_t port) {
  sockaddr_conn a{};
  a.sconn_family = AF_CONN;
  a.sconn_port = htons(port);
  a.sconn_addr = detail::toAddr(id);
  return a;
}

bool wouldBlock(int err) {
  return err == EWOULDBLOCK || err == EAGAIN || err == EINPROGRESS;
}

}  // namespace

struct Association::Impl final : detail::Node {
  struct Channel {
    std::string label;
    std::string protocol;
    dcep::ChannelType type = dcep::ChannelType::kReliable;
    uint32_t reliabilityParameter = 0;
    bool acked = false;  // ACK received (always true for channels the peer opened)
    bool openedLocally = false;
  };

  Impl(Role r, AssociationCallbacks c, AssociationOptions o)
      : role(r), cb(std::move(c)), opts(std::move(o)), id(global().nextId++) {
    if (!cb.sendToDtls) {
      throw std::invalid_argument("sctp::Association: sendToDtls is required");
    }
    if (opts.mtu < 512 || opts.mtu > 65535) {
      throw std::invalid_argument("sctp::Association: mtu out of range");
    }
    if (opts.streams == 0) {
      throw std::invalid_argument("sctp::Association: streams must be > 0");
    }
    usrsctp_register_address(detail::toAddr(id));
    global().live.emplace(id, this);
    try {
      struct socket* s = makeSocket();
      if (role == Role::kServer) {
        listenSocket = s;
      } else {
        conn = s;
      }
    } catch (...) {
      global().live.erase(id);
      usrsctp_deregister_address(detail::toAddr(id));
      throw;
    }
  }

  ~Impl() override {
    global().live.erase(id);
    closeSocket(conn);
    closeSocket(listenSocket);
    usrsctp_deregister_address(detail::toAddr(id));
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

  [[nodiscard]] std::string prefix() const {
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
    if (global().outputDepth > 0) {
      // Called from inside a sendToDtls: usrsctp holds its locks; feed it
      // once the outermost call returns.
      if (global().deferredInputs.size() < kMaxDeferredInputs) {
        global().deferredInputs.push_back({id, {packet.begin(), packet.end()}});
      } else {
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
    flushResets();
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
    if (global().outputDepth == 0) {
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
    pendingResets.clear();
    closeSocket(conn);  // SO_LINGER 0: the ABORT leaves through sendToDtls
    closeSocket(listenSocket);
  }

  // --- receiving -----------------------------------------------------------

  void afterUsrsctp() {
    if (!dead) {
      drain();
    }
    if (!dead) {
      flushResets();
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
    pendingResets.clear();
    rxLength = 0;
    rxDiscard = false;
  }

  void ensureRxSpace() {
    const size_t need = rxLength + kReadChunk;
    if (rxCapacity >= need) {
      return;
    }
    const size_t capacity = std::max(need, rxCapacity * 2);
    auto buffer = std::make_unique_for_overwrite<uint8_t[]>(capacity);
    if (rxLength > 0) {
      std::memcpy(buffer.get(), rx.get(), rxLength);
    }
    rx = std::move(buffer);
    rxCapacity = capacity;
  }

  void readAll() {
    while (conn != nullptr && !dead) {
      ensureRxSpace();
      sctp_rcvinfo info{};
      socklen_t infoLength = sizeof info;
      unsigned int infoType = 0;
      int flags = 0;
      sockaddr_conn from{};
      socklen_t fromLength = sizeof from;
      uint8_t* at = rx.get() + rxLength;
      const ssize_t n =
          usrsctp_recvv(conn, at, rxCapacity - rxLength, reinterpret_cast<sockaddr*>(&from),
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
        // Notifications are small and come whole; never mixed into rx.
        if ((flags & MSG_EOR) != 0) {
          handleNotification({at, size});
        }
        continue;
      }
      if (infoType == SCTP_RECVV_RCVINFO) {
        rxStream = info.rcv_sid;
        rxPpid = ntohl(info.rcv_ppid);
      }
      if (!rxDiscard) {
        rxLength += size;
        if (rxLength > opts.maxIncomingMessageSize) {
          rxDiscard = true;
          rxLength = 0;
        }
      }
      if ((flags & MSG_EOR) == 0) {
        continue;  // partial delivery: more of this message follows
      }
      if (rxDiscard) {
        ++counters.dropped;
        LOG_DEBUG(kLog, "{}dropped a message over {} bytes on stream {}", prefix(),
                  opts.maxIncomingMessageSize, rxStream);
      } else {
        handleMessage(rxStream, rxPpid, {rx.get(), rxLength});
      }
      rxDiscard = false;
      rxLength = 0;
      if (rxCapacity > kKeepBuffer) {
        rx.reset();
        rxCapacity = 0;
      }
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
          handleStreamReset(n.sn_strreset_event, bytes);
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
        pendingResets.clear();
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

  void handleStreamReset(const sctp_stream_reset_event& ev, std::span<const uint8_t> bytes) {
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
      for (const auto& [sid, channel] : channels) {
        streams.push_back(sid);
      }
    }
    for (const uint16_t sid : streams) {
      if (channels.erase(sid) == 0) {
        continue;  // already closed here (we reset first)
      }
      pendingResets.push_back(sid);
      LOG_DEBUG(kLog, "{}peer closed channel {}", prefix(), sid);
      invoke(cb.onChannelClosed, sid);
      if (dead) {
        return;
      }
    }
  }

  void handleMessage(uint16_t sid, uint32_t ppid, std::span<const uint8_t> data) {
    switch (ppid) {
      case ppid::kDcep:
        handleDcep(sid, data);
        return;
      case ppid::kString:
      case ppid::kStringEmpty:
        if (!channels.contains(sid)) {
          ++counters.dropped;
          return;
        }
        ++counters.messagesIn;
        invoke(cb.onText, sid,
               ppid == ppid::kStringEmpty
                   ? std::string_view()
                   : std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
        return;
      case ppid::kBinary:
      case ppid::kBinaryEmpty:
        if (!channels.contains(sid)) {
          ++counters.dropped;
          return;
        }
        ++counters.messagesIn;
        invoke(cb.onBinary, sid, ppid == ppid::kBinaryEmpty ? std::span<const uint8_t>() : data);
        return;
      default:  // deprecated partial PPIDs (52, 54) and anything else
        ++counters.dropped;
        return;
    }
  }

  void handleDcep(uint16_t sid, std::span<const uint8_t> data) {
    const auto type = dcep::messageType(data);
    if (type == dcep::kOpen) {
      auto open = dcep::parseOpen(data);
      if (!open || channels.contains(sid) || sid >= outStreams) {
        ++counters.malformed;
        LOG_DEBUG(kLog, "{}ignored a DATA_CHANNEL_OPEN on stream {}", prefix(), sid);
        return;
      }
      Channel& ch = channels[sid];
      ch.label = open->label;
      ch.protocol = open->protocol;
      ch.type = open->channelType;
      ch.reliabilityParameter = open->reliabilityParameter;
      ch.acked = true;
      const auto ack = dcep::buildAck();
      if (!send(sid, ppid::kDcep, ack, nullptr)) {
        LOG_WARN(kLog, "{}could not acknowledge channel {}", prefix(), sid);
      }
      LOG_DEBUG(kLog, "{}channel {} opened by the peer: '{}' '{}'", prefix(), sid, open->label,
                open->protocol);
      invoke(cb.onChannelOpen, sid, open->label, open->protocol);
      return;
    }
    if (type == dcep::kAck && dcep::isAck(data)) {
      const auto it = channels.find(sid);
      if (it == channels.end() || !it->second.openedLocally || it->second.acked) {
        ++counters.malformed;
        return;
      }
      it->second.acked = true;
      const std::string label = it->second.label;
      const std::string protocol = it->second.protocol;
      invoke(cb.onChannelOpen, sid, label, protocol);
      return;
    }
    ++counters.malformed;
    LOG_DEBUG(kLog, "{}ignored a malformed DCEP message on stream {}", prefix(), sid);
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

  // --- sending -------------------------------------------------------------

  // One message; `channel` (when given) selects unordered / partial
  // reliability once the channel is acknowledged.
  bool send(uint16_t sid, uint32_t ppid, std::span<const uint8_t> data, const Channel* channel) {
    if (conn == nullptr || !connected || closed || dead || sid >= outStreams) {
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
        LOG_DEBUG(kLog, "{}send on stream {} failed: {}", prefix(), sid, std::strerror(err));
      }
      return false;
    }
    return true;
  }

  bool sendUser(uint16_t sid, bool text, std::span<const uint8_t> data) {
    if (refusedInsideOutput("send")) {
      ++counters.sendFailures;
      return false;
    }
    const auto it = channels.find(sid);
    if (it == channels.end() || data.size() > opts.maxMessageSize) {
      ++counters.sendFailures;
      return false;
    }
    static constexpr uint8_t kEmpty[1] = {0};
    const bool ok =
        data.empty()
            ? send(sid, text ? ppid::kStringEmpty : ppid::kBinaryEmpty, kEmpty, &it->second)
            : send(sid, text ? ppid::kString : ppid::kBinary, data, &it->second);
    ++(ok ? counters.messagesOut : counters.sendFailures);
    return ok;
  }

  std::optional<uint16_t> openChannel(const std::string& label, const std::string& protocol,
                                      dcep::ChannelType type, uint32_t reliability) {
    if (refusedInsideOutput("openChannel") || !connected) {
      return std::nullopt;
    }
    const bool even = opts.dtlsClient.value_or(role == Role::kClient);
    const uint32_t limit = std::min(inStreams, outStreams);
    uint32_t sid = even ? 0 : 1;
    while (sid < limit && channels.contains(static_cast<uint16_t>(sid))) {
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
    if (!bytes || !send(stream, ppid::kDcep, *bytes, nullptr)) {
      return std::nullopt;
    }
    Channel& ch = channels[stream];
    ch.label = label;
    ch.protocol = protocol;
    ch.type = type;
    ch.reliabilityParameter = reliability;
    ch.openedLocally = true;
    return stream;
  }

  bool closeChannel(uint16_t sid) {
    if (refusedInsideOutput("closeChannel") || channels.erase(sid) == 0) {
      return false;
    }
    pendingResets.push_back(sid);
    flushResets();
    return true;
  }

  // Resets our outgoing streams of closed channels; usrsctp runs one
  // reconfiguration request at a time, so a busy one is retried later.
  void flushResets() {
    if (pendingResets.empty() || conn == nullptr || !connected || dead) {
      return;
    }
    std::sort(pendingResets.begin(), pendingResets.end());
    pendingResets.erase(std::unique(pendingResets.begin(), pendingResets.end()),
                        pendingResets.end());
    const size_t count = std::min<size_t>(pendingResets.size(), 1024);
    std::vector<uint8_t> buffer(sizeof(sctp_reset_streams) + count * sizeof(uint16_t));
    sctp_reset_streams head{};
    head.srs_assoc_id = SCTP_ALL_ASSOC;
    head.srs_flags = SCTP_STREAM_RESET_OUTGOING;
    head.srs_number_streams = static_cast<uint16_t>(count);
    std::memcpy(buffer.data(), &head, sizeof head);
    std::memcpy(buffer.data() + offsetof(sctp_reset_streams, srs_stream_list), pendingResets.data(),
                count * sizeof(uint16_t));
    if (usrsctp_setsockopt(conn, IPPROTO_SCTP, SCTP_RESET_STREAMS, buffer.data(),
                           static_cast<socklen_t>(buffer.size())) == 0) {
      pendingResets.erase(pendingResets.begin(),
                          pendingResets.begin() + static_cast<std::ptrdiff_t>(count));
      return;
    }
    const int err = errno;
    if (err != EBUSY && err != EALREADY && !wouldBlock(err)) {
      LOG_DEBUG(kLog, "{}stream reset refused: {}", prefix(), std::strerror(err));
      pendingResets.clear();  // e.g. the peer does not support RE-CONFIG
    }
  }

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
  std::unordered_map<uint16_t, Channel> channels;
  std::vector<uint16_t> pendingResets;
  Counters counters;

  bool draining = false;
  bool drainAgain = false;
  std::unique_ptr<uint8_t[]> rx;  // the message being received
  size_t rxCapacity = 0;
  size_t rxLength = 0;
  bool rxDiscard = false;  // the message is over the limit
  uint16_t rxStream = 0;
  uint32_t rxPpid = 0;
};

Association::Association(Role role, AssociationCallbacks callbacks, AssociationOptions options) {
  const Entry entry;
  impl_ = new Impl(role, std::move(callbacks), std::move(options));
}

Association::~Association() {
  const Entry entry;
  impl_->dead = true;
  global().live.erase(impl_->id);
  global().graveyard.push_back(impl_);  // freed by the outermost Entry
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
  return impl_->openChannel(label, protocol, type, reliabilityParameter);
}

bool Association::closeChannel(uint16_t streamId) {
  const Entry entry;
  return impl_->closeChannel(streamId);
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
  return impl_->send(streamId, ppid, data, nullptr);
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

void Association::handleTimers(TimePoint now) {
  const Entry entry;
  auto& g = global();
  if (g.outputDepth > 0 || !Library::initialized()) {
    return;
  }
  uint32_t elapsed = 0;
  if (g.lastTick && now > *g.lastTick) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - *g.lastTick);
    elapsed = static_cast<uint32_t>(std::min<int64_t>(ms.count(), 3600 * 1000));
    *g.lastTick += ms;  // keep the sub-millisecond remainder
  } else {
    g.lastTick = now;
  }
  if (elapsed > 0) {
    usrsctp_handle_timers(elapsed);
  }
  std::vector<uintptr_t> ids;
  ids.reserve(g.live.size());
  for (const auto& [id, node] : g.live) {
    ids.push_back(id);
  }
  for (const uintptr_t id : ids) {
    if (detail::Node* node = detail::find(id)) {
      node->afterTimers();
    }
  }
}

}  // namespace jvb::sctp
