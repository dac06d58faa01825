#pragma once
// Test harness for sctp::Association: a client and a server wired back to
// back through in-memory packet queues (no re-entrancy: each one's
// sendToDtls only queues), driven by a manual clock that feeds
// Association::handleTimers().
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sctp/association.hpp"

namespace jvb::sctp::test {

using Packet = std::vector<uint8_t>;

inline const std::string kLabel = "JVB data channel";
inline const std::string kProtocol = "http://jitsi.org/protocols/colibri";

// What one side observed.
struct Events {
  bool connected = false;
  int closed = 0;
  struct Open {
    uint16_t sid;
    std::string label;
    std::string protocol;
  };
  std::vector<Open> opened;
  std::vector<std::pair<uint16_t, std::string>> texts;
  std::vector<std::pair<uint16_t, Packet>> binaries;
  std::vector<uint16_t> channelsClosed;
  size_t maxPacket = 0;
  uint64_t packets = 0;
};

class Pair {
 public:
  // Return true to drop the packet: (sent by the client?, the packet).
  using DropFn = std::function<bool(bool fromClient, const Packet&)>;

  explicit Pair(AssociationOptions clientOptions = {}, AssociationOptions serverOptions = {}) {
    client = make(Role::kClient, true, std::move(clientOptions));
    server = make(Role::kServer, false, std::move(serverOptions));
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;

  std::unique_ptr<Association> make(Role role, bool isClient, AssociationOptions options) {
    Events& ev = isClient ? clientEvents : serverEvents;
    AssociationCallbacks cb;
    cb.sendToDtls = [this, isClient](std::span<const uint8_t> p) {
      Events& e = isClient ? clientEvents : serverEvents;
      e.maxPacket = std::max(e.maxPacket, p.size());
      ++e.packets;
      Packet packet(p.begin(), p.end());
      if (tap) {
        tap(isClient, packet);
      }
      if (drop && drop(isClient, packet)) {
        return;
      }
      (isClient ? toServer : toClient).push_back(std::move(packet));
    };
    cb.onConnected = [&ev] { ev.connected = true; };
    cb.onClosed = [&ev] { ++ev.closed; };
    cb.onChannelOpen = [&ev](uint16_t sid, const std::string& label, const std::string& protocol) {
      ev.opened.push_back({sid, label, protocol});
    };
    cb.onText = [&ev](uint16_t sid, std::string_view text) {
      ev.texts.emplace_back(sid, std::string(text));
    };
    cb.onBinary = [&ev](uint16_t sid, std::span<const uint8_t> data) {
      ev.binaries.emplace_back(sid, Packet(data.begin(), data.end()));
    };
    cb.onChannelClosed = [&ev](uint16_t sid) { ev.channelsClosed.push_back(sid); };
    return std::make_unique<Association>(role, std::move(cb), std::move(options));
  }

  // Delivers queued packets both ways until none are left.
  void pump(int maxPackets = 100000) {
    while (maxPackets-- > 0 && (!toClient.empty() || !toServer.empty())) {
      if (!toServer.empty()) {
        Packet p = std::move(toServer.front());
        toServer.pop_front();
        if (server) {
          server->handlePacket(p);
        }
      }
      if (!toClient.empty()) {
        Packet p = std::move(toClient.front());
        toClient.pop_front();
        if (client) {
          client->handlePacket(p);
        }
      }
    }
  }

  // Advances the manual clock by `step` and runs the timers.
  void tick(std::chrono::milliseconds step = std::chrono::milliseconds(20)) {
    if (realTime) {
      std::this_thread::sleep_for(step);
    }
    now += step;
    Association::handleTimers(now);
  }

  // Pumps and ticks until `done` or `limit` of manual time passed.
  bool runUntil(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    const auto end = now + limit;
    Association::handleTimers(now);
    while (true) {
      pump();
      if (done()) {
        return true;
      }
      if (now >= end) {
        return false;
      }
      tick();
    }
  }

  bool connect() {
    server->start();
    client->start();
    return runUntil([this] { return client->connected() && server->connected(); });
  }

  // Connects and opens the bridge channel from the client; its stream id.
  std::optional<uint16_t> open(const std::string& label = kLabel,
                               const std::string& protocol = kProtocol) {
    if (!connect()) {
      return std::nullopt;
    }
    const size_t before = serverEvents.opened.size();
    const auto sid = client->openChannel(label, protocol);
    if (!sid || !runUntil([&] {
          return serverEvents.opened.size() > before && client->channelOpen(*sid) &&
                 !clientEvents.opened.empty();
        })) {
      return std::nullopt;
    }
    return sid;
  }

  Association::TimePoint now = Association::TimePoint{} + std::chrono::hours(1000);
  std::deque<Packet> toServer;
  std::deque<Packet> toClient;
  DropFn drop;
  // Sleep through each tick: usrsctp's retransmissions also check the real
  // clock (association.hpp, rtoMin).
  bool realTime = false;
  std::function<void(bool fromClient, const Packet&)> tap;
  Events clientEvents;
  Events serverEvents;
  std::unique_ptr<Association> client;
  std::unique_ptr<Association> server;
};

}  // namespace jvb::sctp::test
