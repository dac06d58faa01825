#include "dtls/session.hpp"

#include <openssl/x509_vfy.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

#include "common/log.hpp"
#include "dtls/datagram_bio.hpp"
#include "dtls/openssl_util.hpp"
#include "dtls/srtp_export.hpp"

namespace jvb::dtls {

namespace {

// Larger than any UDP payload; anything bigger is not a datagram.
constexpr size_t kMaxDatagram = 65535;
// RFC 6347 section 4.2.4.1: double the timer up to (at least) 60 s.
constexpr unsigned int kMaxRetransmitUs = 60U * 1000U * 1000U;
}  // namespace

std::string_view stateName(State state) {
  switch (state) {
    case State::kNew:
      return "new";
    case State::kConnecting:
      return "connecting";
    case State::kConnected:
      return "connected";
    case State::kFailed:
      return "failed";
    case State::kClosed:
      return "closed";
  }
  return "?";
}

std::string_view roleName(Role role) {
  return role == Role::kClient ? "client" : "server";
}

struct Session::Impl final : DatagramSink {
  Impl(const Context& context, Role r, std::vector<RemoteFingerprint> fps, SendFn sendFn,
       SessionOptions opts);

  // --- OpenSSL callbacks (C frames above them: they must not throw) -------
  static int verifyPeer(int preverifyOk, X509_STORE_CTX* store) noexcept;
  static void onInfo(const SSL* ssl, int where, int ret) noexcept;
  static unsigned int timerDuration(SSL* ssl, unsigned int previousUs) noexcept;
  static int exDataIndex();
  static Impl* fromSsl(const SSL* ssl);

  // --- state machine --------------------------------------------------------
  void start(TimePoint now);
  void handleDatagram(std::span<const uint8_t> datagram, TimePoint now);
  void onTimer(TimePoint now);
  void advanceHandshake();
  void completeHandshake();
  void readApplicationData();
  bool sendApplicationData(std::span<const uint8_t> data);
  void close();
  void onDatagram(std::span<const uint8_t> datagram) noexcept override;
  void flushOutput();
  void updateTimer(TimePoint now);
  void setState(State next);
  void fail(std::string reason);
  std::string describeError(std::string_view operation, int sslError);

  SslPtr ssl;
  BIO* rbio = nullptr;  // owned by ssl
  Role role;
  State state = State::kNew;
  size_t mtu;
  std::vector<RemoteFingerprint> fingerprints;
  SendFn send;
  DataFn onData;
  StateFn onState;
  SessionOptions options;
  std::optional<TimePoint> deadline;
  std::optional<TimePoint> retransmitAt;
  std::optional<srtp::Keys> keys;
  std::string failure;
  std::string cipher;
  std::string verifyFailure;       // set by verifyPeer
  std::string alertReceived;       // set by onInfo
  bool renegotiationSeen = false;  // onInfo: a refused renegotiation counted already
  SessionStats stats;
};

// ---------------------------------------------------------------------------
// OpenSSL glue

int Session::Impl::exDataIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

Session::Impl* Session::Impl::fromSsl(const SSL* ssl) {
  return ssl == nullptr ? nullptr : static_cast<Impl*>(SSL_get_ex_data(ssl, exDataIndex()));
}

// The per-SSL verify callback. Chain errors (self-signed, validity) do not
// matter for WebRTC (RFC 8827 section 6.5); the leaf certificate must match a
// signalled fingerprint (RFC 8122 section 5, RFC 5763 section 5). Rejecting
// here makes OpenSSL send a bad_certificate alert and stop before deriving
// any keys.
int Session::Impl::verifyPeer(int /*preverifyOk*/, X509_STORE_CTX* store) noexcept {
  if (X509_STORE_CTX_get_error_depth(store) != 0) {
    return 1;
  }
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  Impl* self = fromSsl(ssl);
  if (self == nullptr) {
    return 0;
  }
  try {
    std::string why = checkFingerprint(X509_STORE_CTX_get0_cert(store), self->fingerprints);
    if (why.empty()) {
      X509_STORE_CTX_set_error(store, X509_V_OK);
      return 1;
    }
    self->verifyFailure = std::move(why);
  } catch (...) {
    self->verifyFailure = "peer certificate check failed";
  }
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return 0;
}

void Session::Impl::onInfo(const SSL* ssl, int where, int ret) noexcept {
  Impl* self = fromSsl(ssl);
  if (self == nullptr) {
    return;
  }
  // A renegotiation (a ClientHello or HelloRequest in the established
  // epoch): OpenSSL starts a handshake and refuses it with a no_renegotiation
  // warning (the context sets SSL_OP_NO_RENEGOTIATION). Counted once, at
  // whichever of the two shows first.
  if ((where & SSL_CB_HANDSHAKE_START) != 0 && self->state == State::kConnected) {
    if (!self->renegotiationSeen) {
      ++self->stats.renegotiationsRefused;
    }
    self->renegotiationSeen = true;
    return;
  }
  if ((where & SSL_CB_ALERT) == 0) {
    return;
  }
  if ((where & SSL_CB_WRITE) != 0 && (ret & 0xFF) == SSL_AD_NO_RENEGOTIATION) {
    if (!self->renegotiationSeen) {
      ++self->stats.renegotiationsRefused;
    }
    self->renegotiationSeen = false;
  }
  const bool received = (where & SSL_CB_READ) != 0;
  try {
    if (received) {
      self->alertReceived =
          std::string(SSL_alert_type_string_long(ret)) + " " + SSL_alert_desc_string_long(ret);
    }
    LOG_DEBUG("dtls", "{}{} alert {}: {} {}", self->options.logTag,
              self->options.logTag.empty() ? "" : ": ", received ? "received" : "sent",
              SSL_alert_type_string_long(ret), SSL_alert_desc_string_long(ret));
  } catch (...) {
  }
}

// DTLS_set_timer_cb: the next retransmission timeout in microseconds, from
// the previous one (0 when a new flight starts its timer).
unsigned int Session::Impl::timerDuration(SSL* ssl, unsigned int previousUs) noexcept {
  const Impl* self = fromSsl(ssl);
  if (previousUs == 0) {
    const auto initial = self == nullptr
                             ? std::chrono::microseconds(1000000)
                             : std::chrono::microseconds(self->options.initialRetransmit);
    return static_cast<unsigned int>(
        std::min<long long>(initial.count(), static_cast<long long>(kMaxRetransmitUs)));
  }
  return previousUs >= kMaxRetransmitUs / 2 ? kMaxRetransmitUs : previousUs * 2;
}

// ---------------------------------------------------------------------------
// Construction

Session::Impl::Impl(const Context& context, Role r, std::vector<RemoteFingerprint> fps,
                    SendFn sendFn, SessionOptions opts)
    : role(r),
      mtu(context.mtu()),
      fingerprints(std::move(fps)),
      send(std::move(sendFn)),
      options(std::move(opts)) {
  if (!send) {
    throw std::invalid_argument("DTLS session: no send callback");
  }
  if (options.handshakeTimeout.count() <= 0 || options.initialRetransmit.count() <= 0) {
    throw std::invalid_argument("DTLS session: timeouts must be positive");
  }
  drainOpenSslErrors();
  ssl.reset(SSL_new(context.native()));
  BioPtr in(BIO_new(BIO_s_mem()));
  BioPtr out = makeDatagramBio(this);
  if (!ssl || !in || !out) {
    const std::string errors = drainOpenSslErrors();
    throw std::runtime_error("DTLS session: cannot create SSL/BIO: " + errors);
  }
  // An empty memory BIO must read as "retry" (WANT_READ), not end of file.
  BIO_set_mem_eof_return(in.get(), -1);
  rbio = in.get();
  SSL_set_bio(ssl.get(), in.release(), out.release());
  SSL_set_ex_data(ssl.get(), exDataIndex(), this);
  SSL_set_verify(ssl.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, &Impl::verifyPeer);
  SSL_set_info_callback(ssl.get(), &Impl::onInfo);
  DTLS_set_timer_cb(ssl.get(), &Impl::timerDuration);
  if (role == Role::kClient) {
    SSL_set_connect_state(ssl.get());
  } else {
    SSL_set_accept_state(ssl.get());
  }
  // Our MTU, not one queried from a socket (there is none): records and
  // handshake fragments are sized to fit it (RFC 6347 section 4.1.1.1).
  SSL_set_options(ssl.get(), SSL_OP_NO_QUERY_MTU);
  if (SSL_set_mtu(ssl.get(), static_cast<long>(mtu)) <= 0 ||
      DTLS_set_link_mtu(ssl.get(), static_cast<long>(mtu)) != 1) {
    const std::string errors = drainOpenSslErrors();
    throw std::runtime_error("DTLS session: MTU rejected: " + errors);
  }
}

// ---------------------------------------------------------------------------
// State machine

void Session::Impl::setState(State next) {
  if (state == next) {
    return;
  }
  state = next;
  if (next != State::kConnecting) {
    deadline.reset();
  }
  if (next == State::kFailed || next == State::kClosed) {
    retransmitAt.reset();
  }
  if (onState) {
    onState(next);
  }
}

void Session::Impl::fail(std::string reason) {
  if (state == State::kFailed || state == State::kClosed) {
    return;
  }
  failure = std::move(reason);
  LOG_WARN("dtls", "{}{}DTLS {} failed: {}", options.logTag, options.logTag.empty() ? "" : ": ",
           roleName(role), failure);
  setState(State::kFailed);
}

std::string Session::Impl::describeError(std::string_view operation, int sslError) {
  const std::string errors = logOpenSslErrors(log::Level::kDebug, "DTLS OpenSSL errors");
  if (!verifyFailure.empty()) {
    return verifyFailure;
  }
  if (!alertReceived.empty()) {
    return "peer sent " + alertReceived + " alert";
  }
  std::string out(operation);
  out += " failed (SSL_get_error ";
  out += std::to_string(sslError);
  out += ")";
  if (!errors.empty()) {
    out += ": " + errors;
  }
  return out;
}

void Session::Impl::onDatagram(std::span<const uint8_t> datagram) noexcept {
  ++stats.datagramsSent;
  stats.bytesSent += datagram.size();
  try {
    send(datagram);
  } catch (...) {
    ++stats.sendErrors;
  }
}

// OpenSSL's handshake buffering BIO (if any) holds whole records up to the
// MTU; push them out before returning to the caller.
void Session::Impl::flushOutput() {
  if (ssl) {
    (void)BIO_flush(SSL_get_wbio(ssl.get()));
  }
}

void Session::Impl::updateTimer(TimePoint now) {
  retransmitAt.reset();
  if (state != State::kConnecting && state != State::kConnected) {
    return;
  }
  timeval left{};
  if (DTLSv1_get_timeout(ssl.get(), &left) == 1) {
    retransmitAt =
        now + std::chrono::seconds(left.tv_sec) + std::chrono::microseconds(left.tv_usec);
  }
}

void Session::Impl::start(TimePoint now) {
  if (state != State::kNew) {
    return;
  }
  deadline = now + options.handshakeTimeout;
  setState(State::kConnecting);
  if (state == State::kConnecting) {
    advanceHandshake();  // a client writes its ClientHello here
  }
  flushOutput();
  updateTimer(now);
}

void Session::Impl::advanceHandshake() {
  drainOpenSslErrors();
  const int ret = SSL_do_handshake(ssl.get());
  if (ret == 1) {
    completeHandshake();
    return;
  }
  const int err = SSL_get_error(ssl.get(), ret);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    drainOpenSslErrors();
    return;
  }
  fail(describeError("handshake", err));
}

void Session::Impl::completeHandshake() {
  drainOpenSslErrors();
  // verifyPeer has already checked the leaf during the handshake; check the
  // certificate the handshake actually authenticated once more before any
  // key leaves this object.
  std::string why = checkFingerprint(SSL_get0_peer_certificate(ssl.get()), fingerprints);
  if (!why.empty()) {
    fail(std::move(why));
    return;
  }
  const std::optional<srtp::Profile> profile = selectedSrtpProfile(ssl.get());
  if (!profile) {
    // RFC 5764 section 4.1.2: without a common profile there is no SRTP.
    fail("no common use_srtp protection profile was negotiated");
    return;
  }
  keys = exportSrtpKeys(ssl.get(), *profile, role == Role::kClient);
  if (!keys) {
    fail("SRTP keying material export failed: " + drainOpenSslErrors());
    return;
  }
  const char* name = SSL_get_cipher_name(ssl.get());
  cipher = name == nullptr ? "" : name;
  LOG_INFO("dtls", "{}{}DTLS connected as {}: {}, {}", options.logTag,
           options.logTag.empty() ? "" : ": ", roleName(role), cipher, srtpProfileName(*profile));
  setState(State::kConnected);
}

void Session::Impl::readApplicationData() {
  // A record carries at most 2^14 bytes of plaintext (RFC 6347 section 4.1).
  std::array<uint8_t, 16384> buf{};
  while (state == State::kConnected) {
    drainOpenSslErrors();
    const int ret = SSL_read(ssl.get(), buf.data(), static_cast<int>(buf.size()));
    if (ret > 0) {
      ++stats.applicationDataReceived;
      if (onData) {
        onData({buf.data(), static_cast<size_t>(ret)});
      }
      continue;
    }
    const int err = SSL_get_error(ssl.get(), ret);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      drainOpenSslErrors();
      return;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      drainOpenSslErrors();
      failure = "peer sent close_notify";
      LOG_INFO("dtls", "{}{}DTLS closed by peer", options.logTag,
               options.logTag.empty() ? "" : ": ");
      setState(State::kClosed);
      return;
    }
    fail(describeError("read", err));
    return;
  }
}

void Session::Impl::handleDatagram(std::span<const uint8_t> datagram, TimePoint now) {
  if (datagram.empty() || datagram.size() > kMaxDatagram) {
    ++stats.datagramsIgnored;
    return;
  }
  if (state == State::kNew && role == Role::kServer) {
    start(now);
  }
  if (state != State::kConnecting && state != State::kConnected) {
    ++stats.datagramsIgnored;  // a client not started, or a terminal state
    return;
  }
  if (state == State::kConnected && containsClientHello(datagram)) {
    // A new handshake from the start (epoch 0) over the established one:
    // never for OpenSSL, which would drop it anyway.
    ++stats.renegotiationsRefused;
    ++stats.datagramsIgnored;
    return;
  }
  ++stats.datagramsReceived;
  drainOpenSslErrors();
  if (BIO_write(rbio, datagram.data(), static_cast<int>(datagram.size())) !=
      static_cast<int>(datagram.size())) {
    logOpenSslErrors(log::Level::kDebug, "DTLS input BIO write");
    (void)BIO_reset(rbio);
    return;
  }
  if (state == State::kConnecting) {
    advanceHandshake();
  }
  if (state == State::kConnected) {
    // Records after the Finished in the same datagram, application data, or
    // a retransmitted final flight of the peer (answered by OpenSSL).
    readApplicationData();
  }
  // Whatever OpenSSL did not consume (a datagram larger than its record
  // buffer) must not be read as the start of the next datagram.
  (void)BIO_reset(rbio);
  flushOutput();
  updateTimer(now);
}

void Session::Impl::onTimer(TimePoint now) {
  if (state == State::kConnecting && deadline && now >= *deadline) {
    fail("handshake timed out after " + std::to_string(options.handshakeTimeout.count()) + " ms");
    return;
  }
  if (state == State::kConnecting || state == State::kConnected) {
    drainOpenSslErrors();
    const long ret = DTLSv1_handle_timeout(ssl.get());
    if (ret > 0) {
      ++stats.retransmissions;
    } else if (ret < 0) {
      // OpenSSL gives up after 12 timeouts (DTLS1_TMO_ALERT_COUNT).
      fail(describeError("retransmission", SSL_ERROR_SSL));
      return;
    }
    drainOpenSslErrors();
    flushOutput();
  }
  updateTimer(now);
}

bool Session::Impl::sendApplicationData(std::span<const uint8_t> data) {
  if (state != State::kConnected || data.empty()) {
    return false;
  }
  if (data.size() > DTLS_get_data_mtu(ssl.get())) {
    return false;
  }
  drainOpenSslErrors();
  const int ret = SSL_write(ssl.get(), data.data(), static_cast<int>(data.size()));
  if (ret <= 0) {
    const int err = SSL_get_error(ssl.get(), ret);
    if (err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL) {
      fail(describeError("write", err));
    } else {
      drainOpenSslErrors();
    }
    return false;
  }
  ++stats.applicationDataSent;
  flushOutput();
  return true;
}

void Session::Impl::close() {
  if (state == State::kFailed || state == State::kClosed) {
    return;
  }
  if (state == State::kConnected) {
    // Sends close_notify; we do not wait for the peer's (RFC 5246 7.2.1).
    drainOpenSslErrors();
    (void)SSL_shutdown(ssl.get());
    drainOpenSslErrors();
    flushOutput();
  }
  failure = "closed locally";
  setState(State::kClosed);
}

// ---------------------------------------------------------------------------
// Public forwarding

Session::Session(const Context& context, Role role,
                 std::vector<RemoteFingerprint> remoteFingerprints, SendFn send,
                 SessionOptions options)
    : impl_(std::make_unique<Impl>(context, role, std::move(remoteFingerprints), std::move(send),
                                   std::move(options))) {}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

void Session::setOnApplicationData(DataFn fn) {
  impl_->onData = std::move(fn);
}
void Session::setOnStateChange(StateFn fn) {
  impl_->onState = std::move(fn);
}
void Session::setRemoteFingerprints(std::vector<RemoteFingerprint> fingerprints) {
  impl_->fingerprints = std::move(fingerprints);
}
void Session::start(TimePoint now) {
  impl_->start(now);
}
bool containsClientHello(std::span<const uint8_t> datagram) noexcept {
  // RFC 6347 section 4.1: type(1) version(2) epoch(2) sequence(6) length(2),
  // then the fragment; a handshake fragment starts with msg_type (4.2.2).
  constexpr size_t kRecordHeader = 13;
  constexpr uint8_t kHandshake = 22;
  constexpr uint8_t kClientHello = 1;
  size_t at = 0;
  while (datagram.size() - at >= kRecordHeader) {
    const auto* r = datagram.data() + at;
    const size_t length = (size_t{r[11]} << 8) | r[12];
    if (length > datagram.size() - at - kRecordHeader) {
      return false;
    }
    const bool epochZero = r[3] == 0 && r[4] == 0;
    if (r[0] == kHandshake && epochZero && length > 0 && r[kRecordHeader] == kClientHello) {
      return true;
    }
    at += kRecordHeader + length;
  }
  return false;
}

void Session::handleDatagram(std::span<const uint8_t> datagram, TimePoint now) {
  impl_->handleDatagram(datagram, now);
}
void Session::onTimer(TimePoint now) {
  impl_->onTimer(now);
}

std::optional<Session::TimePoint> Session::nextTimeout() const {
  std::optional<TimePoint> next;
  if (impl_->state == State::kConnecting) {
    next = impl_->deadline;
  }
  if (impl_->retransmitAt && (!next || *impl_->retransmitAt < *next)) {
    next = impl_->retransmitAt;
  }
  return next;
}

bool Session::sendApplicationData(std::span<const uint8_t> data) {
  return impl_->sendApplicationData(data);
}
size_t Session::maxApplicationDataSize() const {
  return impl_->state == State::kConnected ? DTLS_get_data_mtu(impl_->ssl.get()) : 0;
}
void Session::close() {
  impl_->close();
}
Role Session::role() const {
  return impl_->role;
}
State Session::state() const {
  return impl_->state;
}
const std::string& Session::failureReason() const {
  return impl_->failure;
}
const std::optional<srtp::Keys>& Session::srtpKeys() const {
  return impl_->keys;
}
const std::string& Session::cipherName() const {
  return impl_->cipher;
}
const SessionStats& Session::stats() const {
  return impl_->stats;
}

}  // namespace jvb::dtls
