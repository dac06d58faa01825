// libFuzzer target for sctp/: the first byte picks what the rest is:
//  0. a DCEP message for the codec (parse, and build -> parse round trip);
//  1. a raw SCTP packet into an established server Association;
//  2. SCTP chunks behind a valid common header (the association's ports and
//     verification tag), so that usrsctp's chunk handling, not only its
//     header check, meets them;
//  3. a user message (stream, PPID, payload) that a real client association
//     sends, so that DCEP and message delivery on the server see it after
//     SCTP reassembly.
// The client/server pair lives across inputs (built again when an input
// ends the association). Nothing may crash, leak, or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sctp/association.hpp"
#include "sctp/dcep.hpp"

namespace {

namespace sctp = jvb::sctp;
namespace dcep = jvb::sctp::dcep;
using Packet = std::vector<uint8_t>;

void codec(std::span<const uint8_t> d) {
  (void)dcep::isAck(d);
  (void)dcep::messageType(d);
  const auto open = dcep::parseOpen(d);
  if (!open) {
    return;
  }
  const auto bytes = dcep::buildOpen(*open);
  if (!bytes || dcep::parseOpen(*bytes) != open) {
    std::abort();  // what parses must serialize back to the same OPEN
  }
}

class Harness {
 public:
  Harness() { build(); }

  void build() {
    server.reset();
    client.reset();
    toServer.clear();
    toClient.clear();
    sctp::AssociationCallbacks c;
    c.sendToDtls = [this](std::span<const uint8_t> p) {
      if (p.size() >= 12) {
        header.assign(p.begin(), p.begin() + 12);  // carries the server's vtag
      }
      if (toServer.size() < 256) {
        toServer.emplace_back(p.begin(), p.end());
      }
    };
    sctp::AssociationCallbacks s;
    s.sendToDtls = [this](std::span<const uint8_t> p) {
      if (toClient.size() < 256) {
        toClient.emplace_back(p.begin(), p.end());
      }
    };
    s.onText = [this](uint16_t sid, std::string_view text) {
      if (text.size() < 64 && sid == channel) {
        server->sendText(sid, text);  // echo, exercising sends from callbacks
      }
    };
    client = std::make_unique<sctp::Association>(sctp::Role::kClient, std::move(c));
    server = std::make_unique<sctp::Association>(sctp::Role::kServer, std::move(s));
    server->start();
    client->start();
    pump();
    channel =
        client->openChannel("JVB data channel", "http://jitsi.org/protocols/colibri").value_or(0);
    pump();
  }

  void pump() {
    for (int i = 0; i < 2000 && (!toServer.empty() || !toClient.empty()); ++i) {
      if (!toServer.empty()) {
        Packet p = std::move(toServer.front());
        toServer.pop_front();
        server->handlePacket(p);
      }
      if (!toClient.empty()) {
        Packet p = std::move(toClient.front());
        toClient.pop_front();
        client->handlePacket(p);
      }
    }
    toServer.clear();
    toClient.clear();
  }

  void ensureUp() {
    if (!client->connected() || !server->connected() || !server->channelOpen(channel)) {
      build();
    }
  }

  std::unique_ptr<sctp::Association> client;
  std::unique_ptr<sctp::Association> server;
  std::deque<Packet> toServer;
  std::deque<Packet> toClient;
  Packet header;
  uint16_t channel = 0;
};

Harness& harness() {
  static Harness* h = new Harness();  // lives for the process
  return *h;
}

void rawPacket(std::span<const uint8_t> d) {
  Harness& h = harness();
  h.ensureUp();
  h.server->handlePacket(d);
  h.pump();
}

void chunks(std::span<const uint8_t> d) {
  Harness& h = harness();
  h.ensureUp();
  if (h.header.size() != 12) {
    return;
  }
  Packet p = h.header;  // checksum left as is: input CRC checks are offloaded
  p.insert(p.end(), d.begin(), d.end());
  h.server->handlePacket(p);
  h.pump();
}

void message(std::span<const uint8_t> d) {
  static constexpr uint32_t kPpids[] = {
      sctp::ppid::kDcep,          sctp::ppid::kString,
      sctp::ppid::kBinary,        sctp::ppid::kStringEmpty,
      sctp::ppid::kBinaryEmpty,   sctp::ppid::kStringPartial,
      sctp::ppid::kBinaryPartial, 0,
  };
  if (d.size() < 2) {
    return;
  }
  Harness& h = harness();
  h.ensureUp();
  const uint32_t ppid = kPpids[d[0] % 8];
  // Mostly the open channel, sometimes another stream.
  const auto sid = static_cast<uint16_t>((d[1] & 0x80) != 0 ? d[1] & 0x3f : h.channel);
  h.client->sendRaw(sid, ppid, d.subspan(2));
  h.pump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::span<const uint8_t> rest(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      codec(rest);
      break;
    case 1:
      rawPacket(rest);
      break;
    case 2:
      chunks(rest);
      break;
    default:
      message(rest);
      break;
  }
  return 0;
}
