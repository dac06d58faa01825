#pragma once
// Test harness for dtls::Session: two sessions wired back to back through
// in-memory datagram queues, driven by a manual clock.
//
// OpenSSL's retransmission timer runs on the real clock (see session.hpp),
// so when the harness advances the manual clock to a pending timeout it also
// sleeps the same real time (capped), letting OpenSSL agree that the timer
// expired. Tests that only need the handshake deadline turn that off.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "dtls/certificate.hpp"
#include "dtls/context.hpp"
#include "dtls/session.hpp"

namespace jvb::dtls::test {

using TimePoint = Session::TimePoint;
using Datagram = std::vector<uint8_t>;

// An identity: certificate + context, as one bridge process (or browser).
struct Peer {
  explicit Peer(ContextOptions options = {})
      : cert(Certificate::generate()), ctx(cert, std::move(options)) {}
  [[nodiscard]] std::vector<RemoteFingerprint> fingerprints(const char* hash = "sha-256") const {
    return {{hash, Certificate::fingerprint(cert.x509(), hash)}};
  }
  Certificate cert;
  Context ctx;
};

struct LinkOptions {
  SessionOptions client;
  SessionOptions server;
  // What each side was told about the other; default: the other's sha-256.
  std::optional<std::vector<RemoteFingerprint>> clientExpects;
  std::optional<std::vector<RemoteFingerprint>> serverExpects;
};

class BackToBack {
 public:
  // Return true to drop: (sent by the client?, index of that side's datagram).
  using DropFn = std::function<bool(bool fromClient, size_t index, const Datagram&)>;

  BackToBack(const Peer& clientPeer, const Peer& serverPeer, LinkOptions options = {})
      : client(
            clientPeer.ctx, Role::kClient,
            options.clientExpects.value_or(serverPeer.fingerprints()),
            [this](std::span<const uint8_t> d) { queue(true, d); }, options.client),
        server(
            serverPeer.ctx, Role::kServer,
            options.serverExpects.value_or(clientPeer.fingerprints()),
            [this](std::span<const uint8_t> d) { queue(false, d); }, options.server) {
    client.setOnApplicationData(
        [this](std::span<const uint8_t> d) { clientReceived.emplace_back(d.begin(), d.end()); });
    server.setOnApplicationData(
        [this](std::span<const uint8_t> d) { serverReceived.emplace_back(d.begin(), d.end()); });
  }
  BackToBack(const BackToBack&) = delete;
  BackToBack& operator=(const BackToBack&) = delete;

  void startBoth() {
    server.start(now);
    client.start(now);
  }

  // Delivers queued datagrams (in both directions) until none are left.
  void pump(int maxDatagrams = 1000) {
    while (maxDatagrams-- > 0 && (!toClient.empty() || !toServer.empty())) {
      if (!toServer.empty()) {
        Datagram d = std::move(toServer.front());
        toServer.pop_front();
        server.handleDatagram(d, now);
      }
      if (!toClient.empty()) {
        Datagram d = std::move(toClient.front());
        toClient.pop_front();
        client.handleDatagram(d, now);
      }
    }
  }

  // Pumps; when idle, moves the clock to the earliest pending timeout and
  // fires both timers. Stops when done() or when nothing is pending.
  bool runUntil(const std::function<bool()>& done, int maxSteps = 500) {
    for (int step = 0; step < maxSteps; ++step) {
      pump();
      if (done()) {
        return true;
      }
      std::optional<TimePoint> next;
      for (const Session* s : {&client, &server}) {
        const auto t = s->nextTimeout();
        if (t && (!next || *t < *next)) {
          next = t;
        }
      }
      if (!next) {
        return done();
      }
      if (*next > now) {
        if (sleepReal) {
          std::this_thread::sleep_for(
              std::min<std::chrono::nanoseconds>(*next - now, std::chrono::milliseconds(100)));
        }
        now = *next;
      }
      client.onTimer(now);
      server.onTimer(now);
    }
    return done();
  }

  bool handshake() {
    startBoth();
    return runUntil([this] { return bothSettled(); });
  }
  [[nodiscard]] bool bothSettled() const {
    auto settled = [](State s) { return s != State::kNew && s != State::kConnecting; };
    return settled(client.state()) && settled(server.state());
  }

  TimePoint now{std::chrono::seconds(1000)};
  bool sleepReal = true;
  DropFn drop;
  std::deque<Datagram> toClient, toServer;
  std::vector<Datagram> sentByClient, sentByServer;      // everything sent, dropped or not
  std::vector<Datagram> clientReceived, serverReceived;  // application data
  Session client;
  Session server;

 private:
  void queue(bool fromClient, std::span<const uint8_t> d) {
    auto& log = fromClient ? sentByClient : sentByServer;
    log.emplace_back(d.begin(), d.end());
    if (drop && drop(fromClient, log.size() - 1, log.back())) {
      return;
    }
    (fromClient ? toServer : toClient).emplace_back(d.begin(), d.end());
  }
};

// Splits a datagram into DTLS records (RFC 6347 section 4.1: 13-byte header,
// length in bytes 11..12). Returns nullopt unless the records tile it exactly.
inline std::optional<std::vector<std::span<const uint8_t>>> splitRecords(
    std::span<const uint8_t> d) {
  std::vector<std::span<const uint8_t>> out;
  size_t off = 0;
  while (off < d.size()) {
    if (d.size() - off < 13) {
      return std::nullopt;
    }
    const size_t len = (size_t{d[off + 11]} << 8) | d[off + 12];
    if (d.size() - off - 13 < len) {
      return std::nullopt;
    }
    out.push_back(d.subspan(off, 13 + len));
    off += 13 + len;
  }
  return out;
}

}  // namespace jvb::dtls::test
