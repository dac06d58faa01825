// dtls::Session back to back (in-memory datagrams, manual clock): handshake,
// SRTP profile choice and key export, fingerprint checks, loss, timeouts,
// hostile input, application data and close.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include "dtls/session.hpp"
#include "dtls_test_util.hpp"

namespace {

using namespace std::chrono_literals;
using jvb::dtls::Context;
using jvb::dtls::ContextOptions;
using jvb::dtls::RemoteFingerprint;
using jvb::dtls::Role;
using jvb::dtls::Session;
using jvb::dtls::SessionOptions;
using jvb::dtls::State;
using jvb::dtls::test::BackToBack;
using jvb::dtls::test::Datagram;
using jvb::dtls::test::LinkOptions;
using jvb::dtls::test::Peer;
using jvb::dtls::test::splitRecords;
namespace srtp = jvb::srtp;

Peer& bridge() {
  static Peer p;
  return p;
}
Peer& browser() {
  static Peer p;
  return p;
}
ContextOptions only(srtp::Profile profile) {
  ContextOptions o;
  o.srtpProfiles = {profile};
  return o;
}
bool sameKey(const srtp::MasterKey& a, const srtp::MasterKey& b) {
  return a.size == b.size && std::equal(a.bytes.begin(), a.bytes.begin() + a.size, b.bytes.begin());
}
std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
std::string text(const Datagram& d) {
  return {d.begin(), d.end()};
}

TEST(DtlsSession, HandshakeExportsMirroredGcmKeysByDefault) {
  BackToBack link(browser(), bridge());
  std::vector<State> serverStates;
  link.server.setOnStateChange([&](State s) { serverStates.push_back(s); });
  EXPECT_EQ(link.client.state(), State::kNew);
  EXPECT_FALSE(link.client.nextTimeout());
  ASSERT_TRUE(link.handshake());
  ASSERT_EQ(link.client.state(), State::kConnected) << link.client.failureReason();
  ASSERT_EQ(link.server.state(), State::kConnected) << link.server.failureReason();
  EXPECT_EQ(serverStates, (std::vector<State>{State::kConnecting, State::kConnected}));
  EXPECT_EQ(link.client.cipherName(), "ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_EQ(link.server.cipherName(), link.client.cipherName());

  const auto& ck = link.client.srtpKeys();
  const auto& sk = link.server.srtpKeys();
  ASSERT_TRUE(ck && sk);
  EXPECT_EQ(ck->profile, srtp::Profile::kAeadAes128Gcm);
  EXPECT_EQ(sk->profile, srtp::Profile::kAeadAes128Gcm);
  EXPECT_EQ(ck->local.size, 28u);  // 16-byte key + 12-byte salt (RFC 7714 section 12)
  EXPECT_TRUE(sameKey(ck->local, sk->remote));
  EXPECT_TRUE(sameKey(ck->remote, sk->local));
  EXPECT_FALSE(sameKey(ck->local, ck->remote));
  // The handshake is over: no deadline, nothing to retransmit.
  EXPECT_FALSE(link.client.nextTimeout());
  EXPECT_FALSE(link.server.nextTimeout());
  EXPECT_GT(link.server.stats().datagramsReceived, 0u);
}

TEST(DtlsSession, ApplicationDataBothWays) {
  BackToBack link(browser(), bridge());
  ASSERT_TRUE(link.handshake());
  ASSERT_EQ(link.server.state(), State::kConnected);
  EXPECT_FALSE(link.server.sendApplicationData({}));
  EXPECT_GT(link.client.maxApplicationDataSize(), 1000u);
  EXPECT_LT(link.client.maxApplicationDataSize(), 1200u);
  EXPECT_TRUE(link.client.sendApplicationData(bytes("sctp from the endpoint")));
  EXPECT_TRUE(link.server.sendApplicationData(bytes("sctp from the bridge")));
  link.pump();
  ASSERT_EQ(link.serverReceived.size(), 1u);
  ASSERT_EQ(link.clientReceived.size(), 1u);
  EXPECT_EQ(text(link.serverReceived[0]), "sctp from the endpoint");
  EXPECT_EQ(text(link.clientReceived[0]), "sctp from the bridge");
  // One record per datagram, within the MTU; too large is refused.
  const std::string big(link.server.maxApplicationDataSize(), 'x');
  const size_t before = link.sentByServer.size();
  EXPECT_TRUE(link.server.sendApplicationData(bytes(big)));
  ASSERT_EQ(link.sentByServer.size(), before + 1);
  EXPECT_LE(link.sentByServer.back().size(), 1200u);
  EXPECT_FALSE(link.server.sendApplicationData(bytes(big + "y")));
  link.pump();
  ASSERT_EQ(link.clientReceived.size(), 2u);
  EXPECT_EQ(link.clientReceived[1].size(), big.size());
}

TEST(DtlsSession, NoApplicationDataBeforeConnected) {
  BackToBack link(browser(), bridge());
  EXPECT_FALSE(link.client.sendApplicationData(bytes("early")));
  EXPECT_EQ(link.client.maxApplicationDataSize(), 0u);
  link.startBoth();
  EXPECT_FALSE(link.client.sendApplicationData(bytes("early")));
}

// What Chromium (and aiortc) do against an OpenSSL peer: offer only
// AES128_CM_HMAC_SHA1_80. Both roles must settle on it.
TEST(DtlsSession, PeerOfferingOnlyAesCm80GetsAesCm80) {
  Peer chromiumLike(only(srtp::Profile::kAes128CmHmacSha1_80));
  for (const bool bridgeIsServer : {true, false}) {
    SCOPED_TRACE(bridgeIsServer ? "bridge is server" : "bridge is client");
    BackToBack link(bridgeIsServer ? chromiumLike : bridge(),
                    bridgeIsServer ? bridge() : chromiumLike);
    ASSERT_TRUE(link.handshake());
    ASSERT_EQ(link.client.state(), State::kConnected) << link.client.failureReason();
    ASSERT_EQ(link.server.state(), State::kConnected) << link.server.failureReason();
    const auto& ck = link.client.srtpKeys();
    const auto& sk = link.server.srtpKeys();
    ASSERT_TRUE(ck && sk);
    EXPECT_EQ(ck->profile, srtp::Profile::kAes128CmHmacSha1_80);
    EXPECT_EQ(sk->profile, srtp::Profile::kAes128CmHmacSha1_80);
    EXPECT_EQ(ck->local.size, 30u);  // 16-byte key + 14-byte salt (RFC 3711)
    EXPECT_TRUE(sameKey(ck->local, sk->remote));
    EXPECT_TRUE(sameKey(ck->remote, sk->local));
  }
}

TEST(DtlsSession, NoCommonSrtpProfileFails) {
  Peer gcmOnly(only(srtp::Profile::kAeadAes128Gcm));
  Peer cmOnly(only(srtp::Profile::kAes128CmHmacSha1_80));
  BackToBack link(gcmOnly, cmOnly);
  ASSERT_TRUE(link.handshake());
  // The server completes without use_srtp in its ServerHello and refuses;
  // the client (RFC 5764 section 4.1.1) likewise.
  EXPECT_EQ(link.server.state(), State::kFailed);
  EXPECT_NE(link.server.failureReason().find("use_srtp"), std::string::npos)
      << link.server.failureReason();
  EXPECT_FALSE(link.server.srtpKeys());
  EXPECT_FALSE(link.client.srtpKeys());
  EXPECT_NE(link.client.state(), State::kConnected);
}

TEST(DtlsSession, WrongFingerprintAtServerFailsWithReasonAndNoKeys) {
  Peer stranger;
  LinkOptions o;
  o.serverExpects = stranger.fingerprints();
  BackToBack link(browser(), bridge(), o);
  ASSERT_TRUE(link.handshake());
  EXPECT_EQ(link.server.state(), State::kFailed);
  EXPECT_NE(link.server.failureReason().find("fingerprint"), std::string::npos)
      << link.server.failureReason();
  EXPECT_NE(link.server.failureReason().find(browser().cert.fingerprintSha256()), std::string::npos)
      << link.server.failureReason();
  EXPECT_FALSE(link.server.srtpKeys());
  // The bad_certificate alert reaches the client, which never connects.
  EXPECT_EQ(link.client.state(), State::kFailed);
  EXPECT_NE(link.client.failureReason().find("bad certificate"), std::string::npos)
      << link.client.failureReason();
  EXPECT_FALSE(link.client.srtpKeys());
}

TEST(DtlsSession, WrongFingerprintAtClientFails) {
  LinkOptions o;
  o.clientExpects = std::vector<RemoteFingerprint>{{"sha-256", std::string(95, 'A')}};
  BackToBack link(browser(), bridge(), o);
  ASSERT_TRUE(link.handshake());
  EXPECT_EQ(link.client.state(), State::kFailed);
  EXPECT_NE(link.client.failureReason().find("matches none"), std::string::npos)
      << link.client.failureReason();
  EXPECT_FALSE(link.client.srtpKeys());
  EXPECT_NE(link.server.state(), State::kConnected);
  EXPECT_FALSE(link.server.srtpKeys());
}

TEST(DtlsSession, OtherHashesAndCaseAreAccepted) {
  for (const char* hash : {"sha-1", "sha-384", "sha-512", "SHA-256"}) {
    SCOPED_TRACE(hash);
    LinkOptions o;
    auto fp = browser().fingerprints(std::string(hash) == "SHA-256" ? "sha-256" : hash);
    fp[0].hash = hash;
    std::transform(fp[0].value.begin(), fp[0].value.end(), fp[0].value.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    // An unusable entry first: only one has to match.
    fp.insert(fp.begin(), RemoteFingerprint{"md5", "00:11"});
    o.serverExpects = fp;
    BackToBack link(browser(), bridge(), o);
    ASSERT_TRUE(link.handshake());
    EXPECT_EQ(link.server.state(), State::kConnected) << link.server.failureReason();
    EXPECT_EQ(link.client.state(), State::kConnected) << link.client.failureReason();
  }
}

TEST(DtlsSession, OnlyUnsupportedHashesFail) {
  LinkOptions o;
  o.serverExpects = std::vector<RemoteFingerprint>{{"md5", "00:11:22"}};
  BackToBack link(browser(), bridge(), o);
  ASSERT_TRUE(link.handshake());
  EXPECT_EQ(link.server.state(), State::kFailed);
  EXPECT_NE(link.server.failureReason().find("supported hash"), std::string::npos)
      << link.server.failureReason();
}

TEST(DtlsSession, FingerprintsCanArriveAfterConstruction) {
  LinkOptions o;
  o.serverExpects = std::vector<RemoteFingerprint>{};
  BackToBack link(browser(), bridge(), o);
  link.server.setRemoteFingerprints(browser().fingerprints());
  ASSERT_TRUE(link.handshake());
  EXPECT_EQ(link.server.state(), State::kConnected) << link.server.failureReason();
}

// Every datagram is whole records and within the MTU, also with a small MTU
// that forces the certificate flight into several datagrams.
TEST(DtlsSession, DatagramsAreWholeRecordsWithinTheMtu) {
  ContextOptions small;
  small.mtu = 300;
  Peer a(small);
  Peer b(small);
  BackToBack link(a, b);
  ASSERT_TRUE(link.handshake());
  ASSERT_EQ(link.server.state(), State::kConnected) << link.server.failureReason();
  size_t largest = 0;
  for (const auto* sent : {&link.sentByClient, &link.sentByServer}) {
    for (const Datagram& d : *sent) {
      largest = std::max(largest, d.size());
      EXPECT_LE(d.size(), 300u);
      EXPECT_TRUE(splitRecords(d).has_value());
    }
  }
  EXPECT_GT(largest, 200u);  // records were packed, not one per datagram
  EXPECT_GE(link.sentByServer.size(), 3u);
  // The default MTU: ServerHello..ServerHelloDone in few datagrams.
  BackToBack normal(browser(), bridge());
  ASSERT_TRUE(normal.handshake());
  for (const Datagram& d : normal.sentByServer) {
    EXPECT_LE(d.size(), 1200u);
    EXPECT_TRUE(splitRecords(d).has_value());
  }
}

TEST(DtlsSession, LostClientHelloIsRetransmittedOnTimer) {
  LinkOptions o;
  o.client.initialRetransmit = 20ms;
  o.server.initialRetransmit = 20ms;
  BackToBack link(browser(), bridge(), o);
  link.drop = [](bool fromClient, size_t index, const Datagram&) {
    return fromClient && index == 0;
  };
  link.startBoth();
  ASSERT_TRUE(link.client.nextTimeout());
  EXPECT_LE(*link.client.nextTimeout(), link.now + 20ms);
  ASSERT_TRUE(link.runUntil([&] { return link.bothSettled(); }));
  EXPECT_EQ(link.client.state(), State::kConnected) << link.client.failureReason();
  EXPECT_EQ(link.server.state(), State::kConnected) << link.server.failureReason();
  EXPECT_GE(link.client.stats().retransmissions, 1u);
}

// The server's last flight (ChangeCipherSpec + Finished) is lost: the client
// retransmits its flight and the already connected server answers it again.
TEST(DtlsSession, LostFinalFlightIsRecovered) {
  LinkOptions o;
  o.client.initialRetransmit = 20ms;
  o.server.initialRetransmit = 20ms;
  BackToBack link(browser(), bridge(), o);
  int dropped = 0;
  link.drop = [&](bool fromClient, size_t, const Datagram& d) {
    // The server's last flight starts with a ChangeCipherSpec record (20).
    if (!fromClient && d[0] == 20 && dropped < 1) {
      ++dropped;
      return true;
    }
    return false;
  };
  ASSERT_TRUE(link.handshake());
  EXPECT_EQ(dropped, 1);
  // Recovery needs the server's final flight again, on the wire. Not the
  // retransmission counters: OpenSSL runs its timers on the real clock and also
  // retransmits from inside SSL_do_handshake/SSL_read when one has expired,
  // which no DTLSv1_handle_timeout call (the counter) sees.
  size_t finalFlights = 0;
  for (const Datagram& d : link.sentByServer) {
    finalFlights += d[0] == 20 ? 1 : 0;
  }
  EXPECT_GE(finalFlights, 2u);
  EXPECT_EQ(link.client.state(), State::kConnected) << link.client.failureReason();
  EXPECT_EQ(link.server.state(), State::kConnected) << link.server.failureReason();
  EXPECT_TRUE(link.client.srtpKeys());
}

TEST(DtlsSession, SilenceFailsAtTheHandshakeDeadline) {
  LinkOptions o;
  o.client.handshakeTimeout = 3s;
  o.server.handshakeTimeout = 5s;
  BackToBack link(browser(), bridge(), o);
  link.sleepReal = false;  // the deadline runs on the manual clock alone
  link.drop = [](bool, size_t, const Datagram&) { return true; };
  const auto t0 = link.now;
  ASSERT_TRUE(link.handshake());
  EXPECT_EQ(link.client.state(), State::kFailed);
  EXPECT_EQ(link.server.state(), State::kFailed);
  EXPECT_NE(link.client.failureReason().find("timed out after 3000 ms"), std::string::npos)
      << link.client.failureReason();
  EXPECT_EQ(link.now, t0 + 5s);  // the later deadline, reached exactly
  EXPECT_FALSE(link.client.nextTimeout());
  EXPECT_FALSE(link.server.nextTimeout());
}

TEST(DtlsSession, TimerBeforeDeadlineDoesNotFail) {
  LinkOptions o;
  o.server.handshakeTimeout = 30s;
  BackToBack link(browser(), bridge(), o);
  link.server.start(link.now);
  ASSERT_TRUE(link.server.nextTimeout());
  EXPECT_EQ(*link.server.nextTimeout(), link.now + 30s);
  link.server.onTimer(link.now + 29s);
  EXPECT_EQ(link.server.state(), State::kConnecting);
  link.server.onTimer(link.now + 30s);
  EXPECT_EQ(link.server.state(), State::kFailed);
}

TEST(DtlsSession, GarbageAndTruncatedDatagramsAreIgnored) {
  BackToBack link(browser(), bridge());
  link.client.start(link.now);
  ASSERT_EQ(link.toServer.size(), 1u);
  const Datagram hello = link.toServer.front();
  link.toServer.clear();

  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    Datagram junk(1 + rng() % 300);
    for (auto& b : junk) {
      b = static_cast<uint8_t>(rng());
    }
    junk[0] = static_cast<uint8_t>(20 + rng() % 44);  // looks like DTLS (RFC 7983)
    link.server.handleDatagram(junk, link.now);
  }
  for (size_t n = 1; n < hello.size(); n += 7) {  // truncated ClientHellos
    link.server.handleDatagram(std::span(hello).first(n), link.now);
  }
  link.server.handleDatagram({}, link.now);
  link.server.handleDatagram(Datagram(70000, 0x16), link.now);
  // A record header claiming a ClientHello with a body of garbage may fail
  // the session (decode_error); random junk like the above almost never
  // forms one. Either way: no crash, and if still connecting, a real
  // ClientHello completes the handshake.
  ASSERT_NE(link.server.state(), State::kConnected);
  if (link.server.state() == State::kConnecting) {
    link.toServer.push_back(hello);
    ASSERT_TRUE(link.runUntil([&] { return link.bothSettled(); }));
    EXPECT_EQ(link.server.state(), State::kConnected) << link.server.failureReason();
    EXPECT_EQ(link.client.state(), State::kConnected) << link.client.failureReason();
  } else {
    EXPECT_FALSE(link.server.failureReason().empty());
  }
  EXPECT_GE(link.server.stats().datagramsIgnored, 2u);
}

TEST(DtlsSession, MalformedHandshakeRecordFailsCleanly) {
  BackToBack link(browser(), bridge());
  link.client.start(link.now);
  Datagram hello = link.toServer.front();
  link.toServer.clear();
  // Keep the record and handshake headers (13 + 12 bytes); garble the body.
  for (size_t i = 25; i < hello.size(); ++i) {
    hello[i] = 0xFF;
  }
  link.server.handleDatagram(hello, link.now);
  EXPECT_EQ(link.server.state(), State::kFailed);
  EXPECT_FALSE(link.server.failureReason().empty());
  EXPECT_FALSE(link.server.srtpKeys());
  // Terminal: later input is ignored.
  const auto ignored = link.server.stats().datagramsIgnored;
  link.server.handleDatagram(hello, link.now);
  EXPECT_EQ(link.server.stats().datagramsIgnored, ignored + 1);
}

// A third party with another certificate reaches the bridge's server session
// (whose signalled fingerprint is the browser's): the fingerprint check
// refuses it.
TEST(DtlsSession, StrangerWithAnotherCertificateFailsTheFingerprintCheck) {
  Peer stranger;
  LinkOptions o;
  o.serverExpects = browser().fingerprints();
  BackToBack link(stranger, bridge(), o);
  ASSERT_TRUE(link.handshake());
  EXPECT_EQ(link.server.state(), State::kFailed);
  EXPECT_NE(link.server.failureReason().find(stranger.cert.fingerprintSha256()), std::string::npos)
      << link.server.failureReason();
  EXPECT_FALSE(link.server.srtpKeys());
}

TEST(DtlsSession, CloseSendsCloseNotify) {
  BackToBack link(browser(), bridge());
  ASSERT_TRUE(link.handshake());
  ASSERT_EQ(link.client.state(), State::kConnected);
  link.client.close();
  EXPECT_EQ(link.client.state(), State::kClosed);
  link.pump();
  EXPECT_EQ(link.server.state(), State::kClosed);
  EXPECT_NE(link.server.failureReason().find("close_notify"), std::string::npos);
  EXPECT_FALSE(link.client.sendApplicationData(bytes("late")));
  link.client.close();  // idempotent
  EXPECT_EQ(link.client.state(), State::kClosed);
}

TEST(DtlsSession, CloseWhileConnectingStopsTimers) {
  BackToBack link(browser(), bridge());
  link.client.start(link.now);
  ASSERT_TRUE(link.client.nextTimeout());
  link.client.close();
  EXPECT_EQ(link.client.state(), State::kClosed);
  EXPECT_FALSE(link.client.nextTimeout());
}

TEST(DtlsSession, ServerStartsOnFirstDatagramAndClientIgnoresUnsolicited) {
  BackToBack link(browser(), bridge());
  link.client.handleDatagram(Datagram{22, 0xFE, 0xFD}, link.now);
  EXPECT_EQ(link.client.state(), State::kNew);
  EXPECT_EQ(link.client.stats().datagramsIgnored, 1u);
  link.client.start(link.now);
  link.pump();  // the server was never started explicitly
  ASSERT_TRUE(link.runUntil([&] { return link.bothSettled(); }));
  EXPECT_EQ(link.server.state(), State::kConnected) << link.server.failureReason();
}

TEST(DtlsSession, MovedSessionKeepsWorking) {
  BackToBack link(browser(), bridge());
  link.startBoth();
  link.pump(1);  // mid-handshake
  Session moved = std::move(link.server);
  link.server = std::move(moved);
  ASSERT_TRUE(link.runUntil([&] { return link.bothSettled(); }));
  EXPECT_EQ(link.server.state(), State::kConnected) << link.server.failureReason();
}

TEST(DtlsSession, ConstructionRejectsBadArguments) {
  EXPECT_THROW(Session(bridge().ctx, Role::kServer, {}, nullptr), std::invalid_argument);
  SessionOptions bad;
  bad.handshakeTimeout = 0ms;
  EXPECT_THROW(Session(
                   bridge().ctx, Role::kServer, {}, [](std::span<const uint8_t>) {}, bad),
               std::invalid_argument);
  ContextOptions none;
  none.srtpProfiles.clear();
  EXPECT_THROW(Context(bridge().cert, none), std::invalid_argument);
  ContextOptions tiny;
  tiny.mtu = 100;
  EXPECT_THROW(Context(bridge().cert, tiny), std::invalid_argument);
}

TEST(DtlsSession, SendCallbackExceptionsAreContained) {
  Session s(bridge().ctx, Role::kClient, browser().fingerprints(),
            [](std::span<const uint8_t>) { throw std::runtime_error("socket gone"); });
  s.start(Session::TimePoint{});
  EXPECT_EQ(s.state(), State::kConnecting);
  EXPECT_EQ(s.stats().sendErrors, 1u);
}

// Writes the fuzz seeds (tests/fuzz/corpus/dtls_fuzz/) when asked:
//   JVB_DTLS_WRITE_SEEDS=<dir> dtls_test --gtest_filter='*Seeds*'
// Format of a seed: datagrams, each as a 2-byte big-endian length + bytes
// (a bare ClientHello also parses as one datagram; see dtls_fuzz.cpp).
TEST(DtlsSession, RecordsFuzzSeeds) {
  BackToBack link(browser(), bridge());
  ASSERT_TRUE(link.handshake());
  ASSERT_GE(link.sentByClient.size(), 2u);
  const char* dir = std::getenv("JVB_DTLS_WRITE_SEEDS");
  if (dir == nullptr) {
    return;  // nothing to write; the handshake above is the check
  }
  auto write = [&](const std::string& name, const std::vector<Datagram>& datagrams, bool framed) {
    std::ofstream f(std::string(dir) + "/" + name, std::ios::binary);
    for (const Datagram& d : datagrams) {
      if (framed) {
        f.put(static_cast<char>(d.size() >> 8)).put(static_cast<char>(d.size() & 0xFF));
      }
      f.write(reinterpret_cast<const char*>(d.data()), static_cast<std::streamsize>(d.size()));
    }
  };
  write("client_hello", {link.sentByClient[0]}, false);
  write("client_flights", link.sentByClient, true);
}

}  // namespace

namespace {

// A new ClientHello (epoch 0) over an established session (README
// "Misbehaving peers"): recognised (containsClientHello), not handed to
// OpenSSL, counted; the session, its keys and its application data go on.
TEST(DtlsSession, NewClientHelloAfterTheHandshakeIsRefused) {
  BackToBack link(browser(), bridge());
  ASSERT_TRUE(link.handshake());
  ASSERT_FALSE(link.sentByClient.empty());
  const auto& hello = link.sentByClient.front();  // the client's first flight
  EXPECT_TRUE(jvb::dtls::containsClientHello(hello));
  EXPECT_FALSE(jvb::dtls::containsClientHello(link.sentByServer.front()));  // ServerHello...
  EXPECT_FALSE(jvb::dtls::containsClientHello(link.sentByClient.back()));   // its last flight
  // Truncated: the record's length runs past the datagram.
  EXPECT_FALSE(jvb::dtls::containsClientHello(
      std::span<const uint8_t>(hello.data(), std::min<size_t>(hello.size(), 20))));
  EXPECT_FALSE(jvb::dtls::containsClientHello({}));
  const auto keys = *link.server.srtpKeys();
  link.server.handleDatagram(hello, link.now);
  link.server.handleDatagram(hello, link.now);
  EXPECT_EQ(link.server.stats().renegotiationsRefused, 2u);
  EXPECT_EQ(link.server.state(), State::kConnected);
  EXPECT_TRUE(sameKey(link.server.srtpKeys()->local, keys.local));
  EXPECT_TRUE(link.client.sendApplicationData(bytes("still there")));
  link.pump();
  ASSERT_EQ(link.serverReceived.size(), 1u);
  EXPECT_EQ(text(link.serverReceived[0]), "still there");
}

}  // namespace
