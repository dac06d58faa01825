#include "ice/ice_agent.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <utility>

#include "common/log.hpp"

namespace jvb::ice {

namespace {

constexpr uint32_t kPeerReflexiveTypePreference = 110;  // RFC 8445 section 5.1.2.2

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

std::optional<RemoteType> parseType(std::string_view t) {
  if (iequals(t, "host")) {
    return RemoteType::kHost;
  }
  if (iequals(t, "srflx")) {
    return RemoteType::kServerReflexive;
  }
  if (iequals(t, "prflx")) {
    return RemoteType::kPeerReflexive;
  }
  if (iequals(t, "relay")) {
    return RemoteType::kRelayed;
  }
  return std::nullopt;
}

// RFC 5389 section 6: the class bits C1 (0x0100) and C0 (0x0010) of the type.
enum class MessageClass { kRequest, kIndication, kSuccess, kError };
MessageClass messageClass(std::span<const uint8_t> d) {
  const unsigned type = (static_cast<unsigned>(d[0]) << 8) | d[1];
  return static_cast<MessageClass>(((type & 0x0100u) >> 7) | ((type & 0x0010u) >> 4));
}

uint64_t seedFromDevice() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

std::string_view iceStateName(IceState s) {
  switch (s) {
    case IceState::kNew:
      return "new";
    case IceState::kChecking:
      return "checking";
    case IceState::kConnected:
      return "connected";
    case IceState::kDisconnected:
      return "disconnected";
    case IceState::kFailed:
      return "failed";
  }
  return "?";
}

std::string_view iceFailureName(IceFailure f) {
  switch (f) {
    case IceFailure::kNone:
      return "none";
    case IceFailure::kAllPairsFailed:
      return "all candidate pairs failed";
    case IceFailure::kConsentExpired:
      return "consent expired";
  }
  return "?";
}

IceAgent::IceAgent(Credentials local, SendFn send, IceConfig config, Role role)
    : local_(std::move(local)),
      send_(std::move(send)),
      config_(config),
      role_(role),
      rng_(config.seed ? *config.seed : seedFromDevice()) {
  config_.maxPairs = std::clamp<size_t>(config_.maxPairs, 1, 100);
  config_.maxTransmissions = std::max(config_.maxTransmissions, 1);
  config_.consentTransmissions = std::max(config_.consentTransmissions, 1);
  tieBreaker_ = config_.tieBreaker ? *config_.tieBreaker : rng_();
  localPriority_ = candidatePriority(CandidateType::kHost, config_.localPreference, 1);
  prflxPriority_ = (kPeerReflexiveTypePreference << 24) |
                   (static_cast<uint32_t>(config_.localPreference) << 8) | 255u;
  pairs_.reserve(config_.maxPairs);
  triggered_.reserve(config_.maxPairs);
}

bool IceAgent::setRemoteCredentials(std::string_view ufrag, std::string_view pwd) {
  if (ufrag.empty() || pwd.empty()) {
    return false;
  }
  if (!remoteUfrag_.empty()) {
    return ufrag == remoteUfrag_ && pwd == codec_.peerPassword();
  }
  remoteUfrag_.assign(ufrag);
  codec_.setPeerPassword(pwd);
  return true;
}

bool IceAgent::addRemoteCandidate(const Candidate& c) {
  if (!iequals(c.protocol, "udp") || c.component != 1 || c.port == 0) {
    return false;
  }
  const auto type = parseType(c.type);
  if (!type) {
    return false;
  }
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(c.ip, ec);  // literal only, no DNS
  if (ec || addr.is_unspecified() || addr.is_multicast()) {
    return false;
  }
  const UdpEndpoint remote(addr, c.port);
  if (Pair* p = findPair(remote)) {
    // A signalled candidate replaces the peer-reflexive one learnt first.
    if (p->type == RemoteType::kPeerReflexive && *type != RemoteType::kPeerReflexive) {
      p->type = *type;
      p->remotePriority = c.priority;
      p->priority = pairPriority(c.priority);
      return true;
    }
    return false;
  }
  if (state_ == IceState::kDisconnected || state_ == IceState::kFailed) {
    return false;
  }
  return addPair(remote, *type, c.priority) != nullptr;
}

IceAgent::Result IceAgent::handleStun(std::span<const uint8_t> datagram, const UdpEndpoint& from,
                                      TimePoint now) {
  if (!stun::looksLikeStun(datagram)) {
    return Result::kRejected;
  }
  switch (messageClass(datagram)) {
    case MessageClass::kRequest:
      return handleRequest(datagram, from, now);
    case MessageClass::kSuccess:
    case MessageClass::kError:
      return handleResponse(datagram, from, now);
    case MessageClass::kIndication:
      break;  // keepalives (RFC 8445 section 11): nothing to do
  }
  return Result::kIgnored;
}

IceAgent::Result IceAgent::handleRequest(std::span<const uint8_t> datagram, const UdpEndpoint& from,
                                         TimePoint now) {
  if (state_ == IceState::kDisconnected || state_ == IceState::kFailed) {
    return Result::kIgnored;  // RFC 7675 section 5.1: stop sending on a dead session
  }
  stun::BindingRequest req;
  const stun::RequestCheck rc = codec_.checkRequest(datagram, local_, &req);
  if (rc == stun::RequestCheck::kUnknownAttributes) {
    const size_t n = codec_.buildUnknownAttributesError(datagram, local_.pwd, scratch_);
    if (n > 0) {
      sendNow({scratch_.data(), n}, from);
    }
    return Result::kRejected;
  }
  if (rc != stun::RequestCheck::kValid) {
    return Result::kRejected;
  }
  if (!remoteUfrag_.empty() && req.remoteUfrag != remoteUfrag_) {
    return Result::kRejected;  // another generation's check
  }

  // RFC 8445 section 7.3.1.1: both sides claim the same role; the larger
  // tie-breaker is controlling.
  if (req.senderRole && *req.senderRole == role_) {
    const bool oursLarger = tieBreaker_ >= req.tieBreaker;
    const bool keepRole = role_ == Role::kControlling ? oursLarger : !oursLarger;
    if (keepRole) {
      const size_t n = codec_.buildErrorResponse(req.transactionId, 487, local_.pwd, scratch_);
      if (n > 0) {
        sendNow({scratch_.data(), n}, from);
      }
      return Result::kRoleConflict;
    }
    setRole(role_ == Role::kControlling ? Role::kControlled : Role::kControlling);
  }

  const size_t n = codec_.buildSuccessResponse(req.transactionId, from, local_.pwd, scratch_);
  if (n == 0) {
    return Result::kRejected;
  }
  sendNow({scratch_.data(), n}, from);
  if (selected_) {
    // ICE has completed: answering is all there is for the selected address;
    // another one may be where the peer is now (a NAT rebinding).
    if (from != pairs_[*selected_].remote) {
      followPeer(from, req.priority, now);
    }
    return Result::kAnswered;
  }

  // RFC 8445 section 7.3.1.3/7.3.1.4: learn a peer-reflexive candidate, then
  // a triggered check unless the pair is valid or being checked.
  // NOTE: an In-Progress check is left to finish rather than cancelled and
  // re-sent; it retransmits on its own schedule.
  Pair* p = findPair(from);
  if (p == nullptr) {
    p = addPair(from, RemoteType::kPeerReflexive, req.priority);
    if (p == nullptr) {
      return Result::kAnswered;
    }
  }
  if (role_ == Role::kControlled && req.useCandidate) {  // RFC 8445 section 7.3.1.5
    if (p->state == PairState::kSucceeded) {
      select(*p, now);
      return Result::kAnswered;
    }
    p->nominateOnSuccess = true;
  }
  switch (p->state) {
    case PairState::kSucceeded:
    case PairState::kInProgress:
      break;
    case PairState::kFailed:
      p->state = PairState::kWaiting;
      [[fallthrough]];
    case PairState::kWaiting:
      enqueueTriggered(*p);
      break;
  }
  return Result::kAnswered;
}

IceAgent::Result IceAgent::handleResponse(std::span<const uint8_t> datagram,
                                          const UdpEndpoint& from, TimePoint now) {
  if (state_ == IceState::kDisconnected || state_ == IceState::kFailed) {
    return Result::kIgnored;
  }
  stun::BindingResponse r;
  const stun::ResponseCheck rc = codec_.checkResponse(datagram, r);
  if (rc == stun::ResponseCheck::kUnmatched) {
    return Result::kIgnored;  // late retransmission answer, or given up on
  }
  if (rc != stun::ResponseCheck::kValid) {
    return Result::kRejected;
  }
  if (consentTx_.active && consentTx_.id == r.transactionId) {
    consentTx_.active = false;
    if (selected_ && r.errorCode == 0 && from == pairs_[*selected_].remote) {
      lastConsent_ = now;  // RFC 7675 section 5.1: consent refreshed
      moving_.reset();     // the selected address is still there: nothing moves
    }
    return Result::kResponse;
  }
  const auto it = std::find_if(pairs_.begin(), pairs_.end(), [&](const Pair& q) {
    return q.tx.active && q.tx.id == r.transactionId;
  });
  if (it == pairs_.end()) {
    return Result::kIgnored;
  }
  Pair& p = *it;
  p.tx.active = false;
  const bool wasNomination = p.tx.useCandidate && p.tx.role == Role::kControlling;

  if (from != p.remote) {  // RFC 8445 section 7.2.5.2.1: non-symmetric
    p.state = PairState::kFailed;
  } else if (r.errorCode == 487) {
    // RFC 8445 section 7.2.5.1: take the role opposite to the one we claimed,
    // then check the pair again.
    setRole(p.tx.role == Role::kControlling ? Role::kControlled : Role::kControlling);
    if (p.state != PairState::kSucceeded) {
      p.state = PairState::kWaiting;
      enqueueTriggered(p);
    } else if (role_ == Role::kControlling && wasNomination) {
      enqueueTriggered(p, true);  // still ours to nominate
    }
    return Result::kResponse;
  } else if (r.errorCode != 0) {
    p.state = PairState::kFailed;
  } else {
    if (p.state != PairState::kSucceeded) {
      p.state = PairState::kSucceeded;
      p.validSince = now;
    }
    p.lastSuccess = now;
    if (selected_) {
      maybeMove(now);  // a check of followPeer()
      return Result::kResponse;
    }
    if ((role_ == Role::kControlling && wasNomination) ||
        (role_ == Role::kControlled && p.nominateOnSuccess)) {
      select(p, now);
      return Result::kResponse;
    }
    maybeNominate(now);
    return Result::kResponse;
  }
  // The pair failed.
  const auto idx = static_cast<size_t>(&p - pairs_.data());
  if (nominating_ == idx) {
    nominating_.reset();
  }
  if (moving_ == idx) {
    moving_.reset();
  }
  maybeNominate(now);
  checkAllFailed();
  return Result::kResponse;
}

void IceAgent::tick(TimePoint now) {
  if (state_ == IceState::kDisconnected || state_ == IceState::kFailed) {
    return;
  }
  runRetransmissions(now);
  runConsent(now);
  if (state_ == IceState::kDisconnected) {
    return;
  }
  maybeMove(now);
  maybeNominate(now);
  runChecks(now);
  checkAllFailed();
}

std::optional<IceAgent::TimePoint> IceAgent::nextWakeup() const {
  if (state_ == IceState::kDisconnected || state_ == IceState::kFailed) {
    return std::nullopt;
  }
  std::optional<TimePoint> t;
  const auto consider = [&t](TimePoint x) {
    if (!t || x < *t) {
      t = x;
    }
  };
  for (const Pair& p : pairs_) {
    if (p.tx.active) {
      consider(p.tx.nextSend);
    }
  }
  if (selected_) {
    if (consentTx_.active) {
      consider(consentTx_.nextSend);
    }
    consider(nextConsentAt_);
    consider(lastConsent_ + config_.consentTimeout);
    if (moving_) {
      consider(moveSince_ + config_.moveProbe);
    }
    return t;
  }
  const bool pending =
      !triggered_.empty() || std::any_of(pairs_.begin(), pairs_.end(), [](const Pair& p) {
        return p.state == PairState::kWaiting && !p.tx.active;
      });
  if (canCheck() && pending) {
    consider(nextCheckAt_);
  }
  if (role_ == Role::kControlling && !nominating_) {
    for (const Pair& p : pairs_) {
      if (p.state == PairState::kSucceeded && p.type == RemoteType::kRelayed) {
        consider(p.validSince + config_.relayNominationDelay);
      }
    }
  }
  return t;
}

std::optional<UdpEndpoint> IceAgent::selectedRemote() const {
  if (!selected_) {
    return std::nullopt;
  }
  return pairs_[*selected_].remote;
}

bool IceAgent::isValidRemote(const UdpEndpoint& from) const {
  const Pair* p = findPair(from);
  return p != nullptr && p->state == PairState::kSucceeded;
}

bool IceAgent::knowsRemote(const UdpEndpoint& from) const {
  return findPair(from) != nullptr;
}

bool IceAgent::expectsResponse(std::span<const uint8_t> datagram) const {
  if (datagram.size() < 20) {
    return false;
  }
  const auto matches = [&](const Transaction& tx) {
    return tx.active && std::equal(tx.id.begin(), tx.id.end(), datagram.begin() + 8);
  };
  return matches(consentTx_) ||
         std::any_of(pairs_.begin(), pairs_.end(), [&](const Pair& p) { return matches(p.tx); });
}

std::vector<PairInfo> IceAgent::pairs() const {
  std::vector<PairInfo> out;
  out.reserve(pairs_.size());
  for (const Pair& p : pairs_) {
    out.push_back(PairInfo{p.remote, p.type, p.priority, p.state, p.nominated});
  }
  return out;
}

void IceAgent::sendNow(std::span<const uint8_t> datagram, const UdpEndpoint& to) {
  if (send_) {
    send_(datagram, to);
  }
}

IceAgent::Pair* IceAgent::findPair(const UdpEndpoint& remote) {
  const auto it =
      std::find_if(pairs_.begin(), pairs_.end(), [&](const Pair& p) { return p.remote == remote; });
  return it == pairs_.end() ? nullptr : &*it;
}

const IceAgent::Pair* IceAgent::findPair(const UdpEndpoint& remote) const {
  const auto it =
      std::find_if(pairs_.begin(), pairs_.end(), [&](const Pair& p) { return p.remote == remote; });
  return it == pairs_.end() ? nullptr : &*it;
}

IceAgent::Pair* IceAgent::addPair(const UdpEndpoint& remote, RemoteType type,
                                  uint32_t remotePriority) {
  if (pairs_.size() >= config_.maxPairs) {
    return nullptr;
  }
  Pair& p = pairs_.emplace_back();
  p.remote = remote;
  p.type = type;
  p.remotePriority = remotePriority;
  p.priority = pairPriority(remotePriority);
  return &p;
}

void IceAgent::enqueueTriggered(Pair& p, bool front) {
  const auto idx = static_cast<size_t>(&p - pairs_.data());
  if (p.triggered) {
    if (!front) {
      return;
    }
    triggered_.erase(std::find(triggered_.begin(), triggered_.end(), idx));
  }
  p.triggered = true;
  triggered_.insert(front ? triggered_.begin() : triggered_.end(), idx);
}

// RFC 8445 section 6.1.2.3: 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0), G being
// the controlling agent's candidate priority.
uint64_t IceAgent::pairPriority(uint32_t remotePriority) const {
  const uint64_t g = role_ == Role::kControlling ? localPriority_ : remotePriority;
  const uint64_t d = role_ == Role::kControlling ? remotePriority : localPriority_;
  return (std::min(g, d) << 32) + 2 * std::max(g, d) + (g > d ? 1 : 0);
}

void IceAgent::setRole(Role role) {
  if (role == role_) {
    return;
  }
  LOG_DEBUG("ice", "{}: role conflict, now {}", local_.ufrag, roleName(role));
  role_ = role;
  for (Pair& p : pairs_) {
    p.priority = pairPriority(p.remotePriority);
  }
  if (role_ == Role::kControlled) {
    nominating_.reset();
  }
}

bool IceAgent::startTransaction(Transaction& tx, bool useCandidate, int maxSends,
                                const UdpEndpoint& to, TimePoint now) {
  if (tx.active) {
    codec_.forget(tx.id);
    tx.active = false;
  }
  tx.bytes.resize(stun::kMaxMessageSize);  // capacity kept from the previous check
  const stun::RequestParams params{local_.ufrag, remoteUfrag_, prflxPriority_,
                                   role_,        tieBreaker_,  useCandidate};
  const size_t n = codec_.buildRequest(params, tx.bytes, tx.id);
  if (n == 0) {
    return false;
  }
  tx.bytes.resize(n);
  tx.active = true;
  tx.sent = 1;
  tx.maxSends = maxSends;
  tx.rto = config_.initialRto;
  tx.nextSend = now + tx.rto;
  tx.useCandidate = useCandidate;
  tx.role = role_;
  sendNow(tx.bytes, to);
  return true;
}

// RFC 5389 section 7.2.1: resend at RTO, doubling (up to maxRto); the
// transaction fails one RTO after the last transmission.
void IceAgent::runRetransmissions(TimePoint now) {
  for (Pair& p : pairs_) {
    Transaction& tx = p.tx;
    if (!tx.active || now < tx.nextSend) {
      continue;
    }
    if (tx.sent < tx.maxSends) {
      tx.rto = std::min<Duration>(tx.rto * 2, config_.maxRto);
      tx.nextSend = now + tx.rto;
      ++tx.sent;
      sendNow(tx.bytes, p.remote);
      continue;
    }
    codec_.forget(tx.id);
    tx.active = false;
    const auto idx = static_cast<size_t>(&p - pairs_.data());
    if (selected_ == idx) {
      continue;  // a selected pair stands or falls by consent (runConsent)
    }
    p.state = PairState::kFailed;
    if (nominating_ == idx) {
      nominating_.reset();
    }
    if (moving_ == idx) {
      moving_.reset();
    }
  }
}

void IceAgent::runChecks(TimePoint now) {
  if (!canCheck() || now < nextCheckAt_) {
    return;
  }
  Pair* next = nullptr;
  bool useCandidate = false;
  while (!triggered_.empty() && next == nullptr) {  // RFC 8445 section 6.1.4.2
    const size_t idx = triggered_.front();
    triggered_.erase(triggered_.begin());
    Pair& p = pairs_[idx];
    p.triggered = false;
    if (p.tx.active) {
      continue;
    }
    if (nominating_ == idx && role_ == Role::kControlling) {
      next = &p;
      useCandidate = true;
    } else if (p.state == PairState::kWaiting) {
      next = &p;
    }
  }
  if (next == nullptr) {  // ordinary check: the highest-priority waiting pair
    for (Pair& p : pairs_) {
      if (p.state == PairState::kWaiting && !p.tx.active &&
          (next == nullptr || p.priority > next->priority)) {
        next = &p;
      }
    }
  }
  if (next == nullptr) {
    return;
  }
  nextCheckAt_ = now + config_.ta;
  if (!startTransaction(next->tx, useCandidate, config_.maxTransmissions, next->remote, now)) {
    next->state = PairState::kFailed;
    if (nominating_ == static_cast<size_t>(next - pairs_.data())) {
      nominating_.reset();
    }
    return;
  }
  if (!useCandidate) {
    next->state = PairState::kInProgress;
  }
  if (state_ == IceState::kNew) {
    setState(IceState::kChecking);
  }
}

void IceAgent::runConsent(TimePoint now) {
  if (!selected_) {
    return;
  }
  Pair& p = pairs_[*selected_];
  if (now - lastConsent_ >= config_.consentTimeout) {  // RFC 7675 section 5.1
    LOG_INFO("ice", "{}: consent to send to {}:{} expired", local_.ufrag,
             p.remote.address().to_string(), p.remote.port());
    p.state = PairState::kFailed;
    finish(IceState::kDisconnected, IceFailure::kConsentExpired);
    return;
  }
  if (consentTx_.active && now >= consentTx_.nextSend) {
    if (consentTx_.sent < consentTx_.maxSends) {
      consentTx_.rto = std::min<Duration>(consentTx_.rto * 2, config_.maxRto);
      consentTx_.nextSend = now + consentTx_.rto;
      ++consentTx_.sent;
      sendNow(consentTx_.bytes, p.remote);
    } else {
      codec_.forget(consentTx_.id);
      consentTx_.active = false;
    }
  }
  if (now >= nextConsentAt_) {
    nextConsentAt_ = now + consentDelay();
    startTransaction(consentTx_, false, config_.consentTransmissions, p.remote, now);
  }
}

// NominateFirstHostOrReflexiveValid: the best valid host/reflexive pair at
// once; a relayed one only after relayNominationDelay without a better one.
void IceAgent::maybeNominate(TimePoint now) {
  if (role_ != Role::kControlling || selected_ || nominating_) {
    return;
  }
  Pair* best = nullptr;
  for (Pair& p : pairs_) {
    if (p.state != PairState::kSucceeded) {
      continue;
    }
    if (p.type == RemoteType::kRelayed && now < p.validSince + config_.relayNominationDelay) {
      continue;
    }
    const bool better = best == nullptr ||
                        (best->type == RemoteType::kRelayed && p.type != RemoteType::kRelayed) ||
                        ((best->type == RemoteType::kRelayed) == (p.type == RemoteType::kRelayed) &&
                         p.priority > best->priority);
    if (better) {
      best = &p;
    }
  }
  if (best == nullptr) {
    return;
  }
  nominating_ = static_cast<size_t>(best - pairs_.data());
  enqueueTriggered(*best, true);
}

void IceAgent::select(Pair& p, TimePoint now) {
  selected_ = static_cast<size_t>(&p - pairs_.data());
  nominating_.reset();
  p.nominated = true;
  // RFC 8445 section 8.1.2: ICE is complete; stop every other check.
  for (Pair& q : pairs_) {
    if (q.tx.active) {
      codec_.forget(q.tx.id);
      q.tx.active = false;
    }
    q.triggered = false;
  }
  triggered_.clear();
  lastConsent_ = now;
  nextConsentAt_ = now + consentDelay();
  LOG_INFO("ice", "{}: selected {}:{} ({})", local_.ufrag, p.remote.address().to_string(),
           p.remote.port(), roleName(role_));
  setState(IceState::kConnected);
}

void IceAgent::followPeer(const UdpEndpoint& from, uint32_t remotePriority, TimePoint now) {
  // One address checked at a time: a peer (it holds the password) that
  // sends checks from many source addresses gets each answered, not a check
  // train of ours toward every one of them.
  const bool busy = std::any_of(pairs_.begin(), pairs_.end(), [&](const Pair& q) {
    return q.tx.active && q.remote != from && &q != &pairs_[*selected_];
  });
  if (busy) {
    return;
  }
  Pair* p = findPair(from);
  if (p == nullptr) {
    // RFC 8445 section 7.3.1.3: a peer-reflexive candidate, even after
    // completion (section 8.3: triggered checks go on). A long call through
    // a NAT that rebinds again and again reuses the failed pairs' room.
    p = addPair(from, RemoteType::kPeerReflexive, remotePriority);
    if (p == nullptr) {
      p = recyclePair(from, RemoteType::kPeerReflexive, remotePriority);
    }
    if (p == nullptr) {
      return;
    }
    LOG_DEBUG("ice", "{}: connected, check from a new address {}:{}", local_.ufrag,
              from.address().to_string(), from.port());
  }
  const auto idx = static_cast<size_t>(p - pairs_.data());
  if (moving_ != idx) {
    moving_ = idx;
    moveSince_ = now;
    // Is the selected address still there? Its answer keeps it selected.
    if (!consentTx_.active) {
      startTransaction(consentTx_, false, config_.consentTransmissions, pairs_[*selected_].remote,
                       now);
    }
  }
  // A fresh check of the new address (its answer is consent to send there),
  // one at a time.
  if (!p->tx.active) {
    if (p->state != PairState::kSucceeded) {
      p->state = PairState::kInProgress;
    }
    if (!startTransaction(p->tx, false, config_.maxTransmissions, from, now) &&
        p->state != PairState::kSucceeded) {
      p->state = PairState::kFailed;
      moving_.reset();
    }
  }
}

void IceAgent::maybeMove(TimePoint now) {
  if (!selected_ || !moving_) {
    return;
  }
  Pair& next = pairs_[*moving_];
  if (next.state == PairState::kFailed) {
    moving_.reset();  // the new address did not answer: stay
    return;
  }
  if (next.state != PairState::kSucceeded || next.lastSuccess < moveSince_ ||
      now - moveSince_ < config_.moveProbe) {
    return;
  }
  Pair& old = pairs_[*selected_];
  LOG_INFO("ice",
           "{}: the peer moved from {}:{} to {}:{} (no answer from the old address for {} ms)",
           local_.ufrag, old.remote.address().to_string(), old.remote.port(),
           next.remote.address().to_string(), next.remote.port(),
           std::chrono::duration_cast<std::chrono::milliseconds>(now - moveSince_).count());
  // RFC 7675: consent to the old address is gone; nothing more goes there.
  old.nominated = false;
  old.state = PairState::kFailed;
  if (old.tx.active) {
    codec_.forget(old.tx.id);
    old.tx.active = false;
  }
  if (consentTx_.active) {
    codec_.forget(consentTx_.id);
    consentTx_.active = false;
  }
  const UdpEndpoint from = old.remote;
  selected_ = *moving_;
  moving_.reset();
  next.nominated = true;
  lastConsent_ = next.lastSuccess;  // its answer to our check
  nextConsentAt_ = now + consentDelay();
  if (onMoved_) {
    onMoved_(from, next.remote);
  }
}

IceAgent::Pair* IceAgent::recyclePair(const UdpEndpoint& remote, RemoteType type,
                                      uint32_t remotePriority) {
  for (size_t i = 0; i < pairs_.size(); ++i) {
    Pair& p = pairs_[i];
    if (p.state != PairState::kFailed || p.tx.active || selected_ == i || moving_ == i ||
        nominating_ == i) {
      continue;
    }
    if (p.triggered) {
      triggered_.erase(std::find(triggered_.begin(), triggered_.end(), i));
    }
    p = Pair{};
    p.remote = remote;
    p.type = type;
    p.remotePriority = remotePriority;
    p.priority = pairPriority(remotePriority);
    return &p;
  }
  return nullptr;
}

void IceAgent::checkAllFailed() {
  if (selected_ || pairs_.empty() || state_ == IceState::kFailed ||
      state_ == IceState::kDisconnected) {
    return;
  }
  if (std::all_of(pairs_.begin(), pairs_.end(),
                  [](const Pair& p) { return p.state == PairState::kFailed; })) {
    finish(IceState::kFailed, IceFailure::kAllPairsFailed);
  }
}

void IceAgent::finish(IceState state, IceFailure why) {
  codec_.forgetAll();
  for (Pair& p : pairs_) {
    p.tx.active = false;
    p.triggered = false;
  }
  consentTx_.active = false;
  triggered_.clear();
  selected_.reset();
  nominating_.reset();
  moving_.reset();
  setState(state, why);
}

void IceAgent::setState(IceState state, IceFailure why) {
  if (state == state_) {
    return;
  }
  state_ = state;
  failure_ = why;
  LOG_DEBUG("ice", "{}: {}{}{}", local_.ufrag, iceStateName(state),
            why == IceFailure::kNone ? "" : ": ",
            why == IceFailure::kNone ? "" : iceFailureName(why));
  if (onState_) {
    onState_(state, why);
  }
}

IceAgent::Duration IceAgent::consentDelay() {
  std::uniform_real_distribution<double> jitter(0.8, 1.2);  // RFC 7675 section 5.1
  const std::chrono::duration<double, std::milli> d(
      jitter(rng_) * static_cast<double>(config_.consentInterval.count()));
  return std::chrono::duration_cast<Duration>(d);
}

bool IceAgent::canCheck() const {
  return !selected_ && !remoteUfrag_.empty() && state_ != IceState::kDisconnected &&
         state_ != IceState::kFailed;
}

}  // namespace jvb::ice
