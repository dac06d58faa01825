// sctp::Association: two associations back to back in memory (client and
// server), driven by a manual clock.
#include <fmt/format.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "sctp/association.hpp"
#include "sctp/dcep.hpp"
#include "sctp/library.hpp"
#include "sctp_test_util.hpp"

namespace {

using namespace std::chrono_literals;
using jvb::sctp::Association;
using jvb::sctp::AssociationCallbacks;
using jvb::sctp::AssociationOptions;
using jvb::sctp::Library;
using jvb::sctp::Role;
using jvb::sctp::test::kLabel;
using jvb::sctp::test::kProtocol;
using jvb::sctp::test::Packet;
using jvb::sctp::test::Pair;
namespace dcep = jvb::sctp::dcep;
namespace ppid = jvb::sctp::ppid;

std::string pattern(size_t n, char seed = 'a') {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>(seed + static_cast<char>(i % 23));
  }
  return s;
}

std::span<const uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(SctpAssociation, ConnectsAndOpensTheBridgeChannel) {
  Pair pair;
  ASSERT_TRUE(pair.connect());
  EXPECT_TRUE(pair.clientEvents.connected);
  EXPECT_TRUE(pair.serverEvents.connected);
  EXPECT_EQ(pair.client->streamCount(), 1024);
  EXPECT_EQ(pair.server->streamCount(), 1024);

  const auto sid = pair.client->openChannel(kLabel, kProtocol);
  ASSERT_TRUE(sid.has_value());
  EXPECT_EQ(*sid % 2, 0) << "the DTLS client uses even stream ids (RFC 8832 section 6)";
  ASSERT_TRUE(pair.runUntil([&] { return !pair.clientEvents.opened.empty(); }));
  ASSERT_EQ(pair.serverEvents.opened.size(), 1u);
  EXPECT_EQ(pair.serverEvents.opened[0].sid, *sid);
  EXPECT_EQ(pair.serverEvents.opened[0].label, kLabel);
  EXPECT_EQ(pair.serverEvents.opened[0].protocol, kProtocol);
  ASSERT_EQ(pair.clientEvents.opened.size(), 1u);
  EXPECT_EQ(pair.clientEvents.opened[0].label, kLabel);
  EXPECT_TRUE(pair.server->channelOpen(*sid));
  EXPECT_TRUE(pair.client->channelOpen(*sid));
  EXPECT_EQ(pair.client->counters().malformed, 0u);
  EXPECT_EQ(pair.server->counters().malformed, 0u);

  // A second channel takes the next even id.
  const auto second = pair.client->openChannel("second", "");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, *sid + 2);
}

TEST(SctpAssociation, TextBothWaysIntactAndInOrder) {
  Pair pair;
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  const std::string big = pattern(16 * 1024);
  const std::string utf8 =
      "{\"colibriClass\":\"EndpointMessage\",\"msg\":\"h\xc3\xa9llo \xe2\x82\xac\"}";

  ASSERT_TRUE(pair.client->sendText(*sid, "hello"));
  ASSERT_TRUE(pair.client->sendText(*sid, ""));
  ASSERT_TRUE(pair.client->sendText(*sid, big));
  ASSERT_TRUE(pair.client->sendText(*sid, utf8));
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(pair.client->sendText(*sid, fmt::format("m{}", i)));
  }
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.texts.size() == 104; }));
  const auto& got = pair.serverEvents.texts;
  EXPECT_EQ(got[0].second, "hello");
  EXPECT_EQ(got[1].second, "");
  EXPECT_EQ(got[2].second, big);
  EXPECT_EQ(got[3].second, utf8);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(got[4 + i].second, fmt::format("m{}", i));
    EXPECT_EQ(got[4 + i].first, *sid);
  }

  // And back, as the bridge answers on the same stream.
  ASSERT_TRUE(pair.server->sendText(*sid, "{\"colibriClass\":\"ServerHello\"}"));
  ASSERT_TRUE(pair.server->sendText(*sid, ""));
  ASSERT_TRUE(pair.server->sendText(*sid, big));
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(pair.server->sendText(*sid, fmt::format("r{}", i)));
  }
  ASSERT_TRUE(pair.runUntil([&] { return pair.clientEvents.texts.size() == 103; }));
  EXPECT_EQ(pair.clientEvents.texts[0].second, "{\"colibriClass\":\"ServerHello\"}");
  EXPECT_EQ(pair.clientEvents.texts[1].second, "");
  EXPECT_EQ(pair.clientEvents.texts[2].second, big);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(pair.clientEvents.texts[3 + i].second, fmt::format("r{}", i));
  }
  EXPECT_EQ(pair.server->counters().messagesIn, 104u);
  EXPECT_EQ(pair.server->counters().messagesOut, 103u);
  EXPECT_EQ(pair.client->counters().messagesIn, 103u);
  EXPECT_EQ(pair.server->counters().dropped, 0u);
  EXPECT_EQ(pair.server->counters().sendFailures, 0u);
}

TEST(SctpAssociation, PacketsFitTheConfiguredMtu) {
  Pair pair;
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  const std::string big = pattern(60 * 1024);
  ASSERT_TRUE(pair.client->sendText(*sid, big));
  ASSERT_TRUE(pair.server->sendText(*sid, big));
  ASSERT_TRUE(pair.runUntil(
      [&] { return pair.serverEvents.texts.size() == 1 && pair.clientEvents.texts.size() == 1; }));
  EXPECT_EQ(pair.serverEvents.texts[0].second, big);
  EXPECT_LE(pair.clientEvents.maxPacket, AssociationOptions{}.mtu);
  EXPECT_LE(pair.serverEvents.maxPacket, AssociationOptions{}.mtu);
  EXPECT_GE(pair.clientEvents.maxPacket, AssociationOptions{}.mtu - 64) << "full-size packets";
}

TEST(SctpAssociation, SmallerMtuOption) {
  AssociationOptions options;
  options.mtu = 600;
  Pair pair(options, options);
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  ASSERT_TRUE(pair.client->sendText(*sid, pattern(8000)));
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.texts.size() == 1; }));
  EXPECT_LE(pair.clientEvents.maxPacket, 600u);
}

TEST(SctpAssociation, BinaryMessages) {
  Pair pair;
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  const Packet data = {0, 1, 2, 255, 0};
  ASSERT_TRUE(pair.client->sendBinary(*sid, data));
  ASSERT_TRUE(pair.client->sendBinary(*sid, {}));
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.binaries.size() == 2; }));
  EXPECT_EQ(pair.serverEvents.binaries[0].second, data);
  EXPECT_TRUE(pair.serverEvents.binaries[1].second.empty());
  EXPECT_TRUE(pair.serverEvents.texts.empty());
}

TEST(SctpAssociation, ServerOpensOddStreams) {
  Pair pair;
  ASSERT_TRUE(pair.connect());
  const auto sid = pair.server->openChannel("from-bridge", "p");
  ASSERT_TRUE(sid.has_value());
  EXPECT_EQ(*sid % 2, 1);
  ASSERT_TRUE(pair.runUntil([&] { return !pair.serverEvents.opened.empty(); }));
  ASSERT_EQ(pair.clientEvents.opened.size(), 1u);
  EXPECT_EQ(pair.clientEvents.opened[0].sid, *sid);
  EXPECT_EQ(pair.clientEvents.opened[0].label, "from-bridge");
  ASSERT_TRUE(pair.client->sendText(*sid, "x"));
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.texts.size() == 1; }));
}

TEST(SctpAssociation, ParityFollowsTheDtlsRoleOption) {
  AssociationOptions client;
  client.dtlsClient = false;  // SCTP client but DTLS server: odd ids
  AssociationOptions server;
  server.dtlsClient = true;
  Pair pair(client, server);
  ASSERT_TRUE(pair.connect());
  EXPECT_EQ(pair.client->openChannel("a", "").value_or(0) % 2, 1);
  EXPECT_EQ(pair.server->openChannel("b", "").value_or(1) % 2, 0);
}

TEST(SctpAssociation, UnorderedAndPartiallyReliableChannels) {
  Pair pair;
  ASSERT_TRUE(pair.connect());
  const auto u = pair.client->openChannel("u", "", dcep::ChannelType::kReliableUnordered);
  const auto r = pair.client->openChannel("r", "", dcep::ChannelType::kPartialReliableRexmit, 0);
  const auto t =
      pair.client->openChannel("t", "", dcep::ChannelType::kPartialReliableTimedUnordered, 500);
  ASSERT_TRUE(u && r && t);
  ASSERT_TRUE(pair.runUntil([&] { return pair.clientEvents.opened.size() == 3; }));
  for (const uint16_t sid : {*u, *r, *t}) {
    ASSERT_TRUE(pair.client->sendText(sid, "on " + std::to_string(sid)));
  }
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.texts.size() == 3; }));
}

TEST(SctpAssociation, OversizedOutgoingMessageIsRefused) {
  Pair pair;
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  const std::string tooBig(AssociationOptions{}.maxMessageSize + 1, 'x');
  EXPECT_FALSE(pair.client->sendText(*sid, tooBig));
  EXPECT_FALSE(pair.client->sendText(*sid + 2, "not open"));
  EXPECT_EQ(pair.client->counters().sendFailures, 2u);
  EXPECT_TRUE(pair.client->sendText(*sid, std::string(AssociationOptions{}.maxMessageSize, 'y')));
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.texts.size() == 1; }));
}

TEST(SctpAssociation, OversizedIncomingMessageIsDroppedAndCounted) {
  AssociationOptions client;
  client.maxMessageSize = 1024 * 1024;
  Pair pair(client, {});
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  const std::string within = pattern(200 * 1024, 'A');  // partial delivery, reassembled
  const std::string over = pattern(300 * 1024, 'B');
  ASSERT_TRUE(pair.client->sendText(*sid, within));
  ASSERT_TRUE(pair.client->sendText(*sid, over));
  ASSERT_TRUE(pair.client->sendText(*sid, "after"));
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.texts.size() == 2; }, 120s));
  EXPECT_EQ(pair.serverEvents.texts[0].second, within);
  EXPECT_EQ(pair.serverEvents.texts[1].second, "after");
  EXPECT_EQ(pair.server->counters().dropped, 1u);
}

TEST(SctpAssociation, MessagesOnUnopenedStreamsOrUnknownPpidsAreDropped) {
  Pair pair;
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  ASSERT_TRUE(pair.client->sendRaw(10, ppid::kString, bytes("nobody opened 10")));
  ASSERT_TRUE(pair.client->sendRaw(*sid, ppid::kStringPartial, bytes("deprecated")));
  ASSERT_TRUE(pair.client->sendRaw(*sid, 1234, bytes("unknown")));
  ASSERT_TRUE(pair.client->sendText(*sid, "fine"));
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.texts.size() == 1; }));
  EXPECT_EQ(pair.serverEvents.texts[0].second, "fine");
  EXPECT_EQ(pair.server->counters().dropped, 3u);
}

TEST(SctpAssociation, MalformedDcepIsCountedAndIgnored) {
  Pair pair;
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  const uint64_t before = pair.server->counters().malformed;

  // OPEN whose label length runs past the end.
  Packet bogus = *dcep::buildOpen({dcep::ChannelType::kReliable, 0, 0, "label", "proto"});
  bogus[8] = 0xff;
  ASSERT_TRUE(pair.client->sendRaw(20, ppid::kDcep, bogus));
  // OPEN with an unknown channel type.
  Packet badType = *dcep::buildOpen({dcep::ChannelType::kReliable, 0, 0, "x", ""});
  badType[1] = 0x7f;
  ASSERT_TRUE(pair.client->sendRaw(22, ppid::kDcep, badType));
  // Truncated header, unknown message type, ACK nobody asked for, a second
  // OPEN on an open stream, an OPEN with trailing garbage length fields.
  ASSERT_TRUE(pair.client->sendRaw(24, ppid::kDcep, Packet{dcep::kOpen, 0, 0}));
  ASSERT_TRUE(pair.client->sendRaw(26, ppid::kDcep, Packet{0x09}));
  ASSERT_TRUE(pair.client->sendRaw(28, ppid::kDcep, Packet{dcep::kAck}));
  ASSERT_TRUE(pair.client->sendRaw(
      *sid, ppid::kDcep, *dcep::buildOpen({dcep::ChannelType::kReliable, 0, 0, "again", ""})));
  Packet both = *dcep::buildOpen({dcep::ChannelType::kReliable, 0, 0, "ab", "cd"});
  both[11] = 9;  // protocol length 9, only 2 bytes left
  ASSERT_TRUE(pair.client->sendRaw(30, ppid::kDcep, both));
  ASSERT_TRUE(pair.client->sendText(*sid, "still works"));
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.texts.size() == 1; }));
  EXPECT_EQ(pair.serverEvents.texts[0].second, "still works");
  EXPECT_EQ(pair.server->counters().malformed - before, 7u);
  EXPECT_EQ(pair.serverEvents.opened.size(), 1u) << "no channel opened by malformed DCEP";
  for (const int s : {20, 22, 24, 26, 28, 30}) {
    EXPECT_FALSE(pair.server->channelOpen(static_cast<uint16_t>(s)));
  }
}

TEST(SctpAssociation, GarbageAndTruncatedPacketsDoNotHurt) {
  Pair pair;
  std::vector<Packet> captured;
  pair.tap = [&](bool fromClient, const Packet& p) {
    if (fromClient) {
      captured.push_back(p);
    }
  };
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  pair.tap = nullptr;
  ASSERT_FALSE(captured.empty());

  std::mt19937 rng(42);
  const auto before = pair.server->counters();
  for (int i = 0; i < 300; ++i) {
    Packet garbage(rng() % 1500);
    for (auto& b : garbage) {
      b = static_cast<uint8_t>(rng());
    }
    pair.server->handlePacket(garbage);
  }
  for (const Packet& p : captured) {
    for (size_t n = 0; n < p.size(); n += 3) {
      pair.server->handlePacket({p.data(), n});  // truncated
    }
    Packet flipped = p;
    flipped[rng() % flipped.size()] ^= 0x5a;
    pair.server->handlePacket(flipped);
  }
  // Chunks after a valid common header (the association's verification tag).
  const Packet& header = captured.back();
  for (int i = 0; i < 300; ++i) {
    Packet p(header.begin(), header.begin() + 12);
    const size_t extra = 4 + rng() % 200;
    for (size_t k = 0; k < extra; ++k) {
      p.push_back(static_cast<uint8_t>(rng()));
    }
    // Keep the association: no ABORT (6), SHUTDOWN (7), SHUTDOWN-COMPLETE (14).
    if (p[12] == 6 || p[12] == 7 || p[12] == 14 || p[12] == 1 || p[12] == 10) {
      p[12] = 0x3f;
    }
    pair.server->handlePacket(p);
  }
  pair.pump();
  const auto after = pair.server->counters();
  EXPECT_GT(after.malformed, before.malformed) << "runts are counted";
  EXPECT_EQ(
      after.packetsIn - before.packetsIn, 300 + 300 + [&] {
        size_t n = 0;
        for (const Packet& p : captured) {
          n += (p.size() + 2) / 3 + 1;
        }
        return n;
      }());

  ASSERT_TRUE(pair.client->sendText(*sid, "after the garbage"));
  ASSERT_TRUE(pair.server->sendText(*sid, "reply"));
  ASSERT_TRUE(pair.runUntil(
      [&] { return !pair.serverEvents.texts.empty() && !pair.clientEvents.texts.empty(); }));
  EXPECT_EQ(pair.serverEvents.texts.back().second, "after the garbage");
  EXPECT_EQ(pair.clientEvents.texts.back().second, "reply");
}

TEST(SctpAssociation, LostPacketsAreRetransmittedByTimers) {
  Pair pair;
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  int dropped = 0;
  pair.drop = [&](bool fromClient, const Packet&) { return fromClient && dropped++ < 3; };
  pair.realTime = true;  // usrsctp checks chunk ages on the real clock
  ASSERT_TRUE(pair.client->sendText(*sid, "one"));
  ASSERT_TRUE(pair.client->sendText(*sid, "two"));
  pair.pump();
  EXPECT_TRUE(pair.serverEvents.texts.empty());
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.texts.size() == 2; }, 20s));
  EXPECT_EQ(pair.serverEvents.texts[0].second, "one");
  EXPECT_EQ(pair.serverEvents.texts[1].second, "two");
}

TEST(SctpAssociation, ChannelCloseResetsStreams) {
  Pair pair;
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  ASSERT_TRUE(pair.client->closeChannel(*sid));
  EXPECT_FALSE(pair.client->channelOpen(*sid));
  EXPECT_FALSE(pair.client->sendText(*sid, "closed"));
  ASSERT_TRUE(pair.runUntil([&] { return !pair.serverEvents.channelsClosed.empty(); }));
  EXPECT_EQ(pair.serverEvents.channelsClosed[0], *sid);
  EXPECT_FALSE(pair.server->channelOpen(*sid));
  pair.runUntil([] { return false; }, 1s);
  EXPECT_TRUE(pair.clientEvents.channelsClosed.empty()) << "the closing side is not told";

  // The stream can carry a new channel afterwards.
  const auto again = pair.client->openChannel("again", "");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *sid);
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.opened.size() == 2; }));
  ASSERT_TRUE(pair.client->sendText(*again, "new"));
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.texts.size() == 1; }));
  EXPECT_EQ(pair.serverEvents.texts[0].second, "new");
}

TEST(SctpAssociation, CloseAbortsAndThePeerIsTold) {
  Pair pair;
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  pair.server->close();
  EXPECT_FALSE(pair.server->connected());
  EXPECT_FALSE(pair.server->sendText(*sid, "after close"));
  ASSERT_TRUE(pair.runUntil([&] { return pair.clientEvents.closed == 1; }));
  EXPECT_FALSE(pair.client->connected());
  EXPECT_FALSE(pair.client->sendText(*sid, "x"));
  EXPECT_EQ(pair.serverEvents.closed, 0) << "no onClosed for a local close";
}

TEST(SctpAssociation, ClientCloseLetsTheServerAcceptANewAssociation) {
  Pair pair;
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  pair.client->close();
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.closed == 1; }));
  EXPECT_FALSE(pair.server->connected());

  // A new client (e.g. after an ICE restart) opens a new association.
  pair.client = pair.make(Role::kClient, true, {});
  pair.clientEvents = {};
  pair.serverEvents.opened.clear();
  pair.client->start();
  ASSERT_TRUE(pair.runUntil([&] { return pair.client->connected() && pair.server->connected(); }));
  const auto again = pair.client->openChannel(kLabel, kProtocol);
  ASSERT_TRUE(again.has_value());
  ASSERT_TRUE(pair.runUntil([&] { return !pair.serverEvents.opened.empty(); }));
  ASSERT_TRUE(pair.server->sendText(*again, "hello again"));
  ASSERT_TRUE(pair.runUntil([&] { return !pair.clientEvents.texts.empty(); }));
}

TEST(SctpAssociation, PeerTimesOutWhenTheOtherSideIsDestroyed) {
  Pair pair;
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(pair.client->sendText(*sid, pattern(3000)));
  }
  pair.pump(3);  // some of it arrives
  pair.server.reset();
  pair.toServer.clear();
  // The client keeps sending into the void until its retransmissions give up.
  for (int i = 0; i < 50; ++i) {
    pair.client->sendText(*sid, "more");
    pair.tick();
    pair.toServer.clear();
  }
  ASSERT_TRUE(pair.runUntil(
      [&] {
        pair.toServer.clear();
        return pair.clientEvents.closed == 1;
      },
      30min));
  EXPECT_FALSE(pair.client->connected());
}

TEST(SctpAssociation, DestroyedWhilePeerKeepsSending) {
  Pair pair;
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(pair.client->sendText(*sid, pattern(2000)));
  }
  pair.pump(2);
  pair.server.reset();
  // Packets for the destroyed association now go to a fresh server, which
  // answers the out-of-the-blue packets with ABORT.
  pair.server = pair.make(Role::kServer, false, {});
  pair.server->start();
  ASSERT_TRUE(pair.runUntil([&] { return pair.clientEvents.closed == 1; }, 5min));
}

TEST(SctpAssociation, DestroyedFromItsOwnOnTextCallback) {
  Pair pair;
  std::unique_ptr<Association>* self = &pair.server;
  AssociationCallbacks cb;
  int texts = 0;
  cb.sendToDtls = [&](std::span<const uint8_t> p) {
    pair.toClient.emplace_back(p.begin(), p.end());
  };
  cb.onText = [&](uint16_t, std::string_view text) {
    ++texts;
    EXPECT_EQ(text, "die");
    self->reset();  // destroys the association inside its own callback
  };
  pair.server = std::make_unique<Association>(Role::kServer, std::move(cb));
  ASSERT_TRUE(pair.connect());
  const auto sid = pair.client->openChannel(kLabel, kProtocol);
  ASSERT_TRUE(sid.has_value());
  ASSERT_TRUE(pair.runUntil([&] { return !pair.clientEvents.opened.empty(); }));
  ASSERT_TRUE(pair.client->sendText(*sid, "die"));
  ASSERT_TRUE(pair.client->sendText(*sid, "never delivered"));
  ASSERT_TRUE(pair.runUntil([&] { return pair.server == nullptr; }));
  pair.runUntil([] { return false; }, 2s);
  EXPECT_EQ(texts, 1);
}

TEST(SctpAssociation, DestroyedFromItsOwnSendToDtls) {
  Pair pair;
  ASSERT_TRUE(pair.connect());
  int sent = 0;
  AssociationCallbacks cb;
  std::unique_ptr<Association> victim;
  cb.sendToDtls = [&](std::span<const uint8_t>) {
    ++sent;
    victim.reset();  // inside usrsctp: deferred teardown
  };
  victim = std::make_unique<Association>(Role::kClient, std::move(cb));
  victim->start();  // sends the INIT, which destroys it
  EXPECT_EQ(victim, nullptr);
  EXPECT_EQ(sent, 1);
  pair.runUntil([] { return false; }, 5s);
  EXPECT_EQ(sent, 1) << "no output after destruction";
}

TEST(SctpAssociation, DestroyedFromOnClosedAndOnChannelOpen) {
  Pair pair;
  pair.server.reset();
  AssociationCallbacks cb;
  cb.sendToDtls = [&](std::span<const uint8_t> p) {
    pair.toClient.emplace_back(p.begin(), p.end());
  };
  cb.onChannelOpen = [&](uint16_t, const std::string&, const std::string&) { pair.server.reset(); };
  pair.server = std::make_unique<Association>(Role::kServer, std::move(cb));
  ASSERT_TRUE(pair.connect());
  ASSERT_TRUE(pair.client->openChannel(kLabel, kProtocol).has_value());
  ASSERT_TRUE(pair.runUntil([&] { return pair.server == nullptr; }));

  // The client's onClosed destroys the client.
  Pair second;
  ASSERT_TRUE(second.open().has_value());
  AssociationCallbacks ccb;
  ccb.sendToDtls = [&](std::span<const uint8_t> p) {
    second.toServer.emplace_back(p.begin(), p.end());
  };
  ccb.onClosed = [&] { second.client.reset(); };
  second.client = std::make_unique<Association>(Role::kClient, std::move(ccb));
  second.client->start();
  ASSERT_TRUE(second.runUntil([&] { return second.client && second.client->connected(); }));
  second.server->close();
  ASSERT_TRUE(second.runUntil([&] { return second.client == nullptr; }));
}

TEST(SctpAssociation, DirectWiringWithoutQueues) {
  // Each sendToDtls calls the peer's handlePacket directly: the library
  // defers the nested input until usrsctp has returned.
  std::unique_ptr<Association> client;
  std::unique_ptr<Association> server;
  std::vector<std::string> got;
  AssociationCallbacks ccb;
  ccb.sendToDtls = [&](std::span<const uint8_t> p) {
    if (server) {
      server->handlePacket(p);
    }
  };
  AssociationCallbacks scb;
  scb.sendToDtls = [&](std::span<const uint8_t> p) {
    if (client) {
      client->handlePacket(p);
    }
  };
  scb.onText = [&](uint16_t sid, std::string_view text) {
    got.emplace_back(text);
    EXPECT_TRUE(server->sendText(sid, std::string("echo ") + std::string(text)));
  };
  std::vector<std::string> echoed;
  ccb.onText = [&](uint16_t, std::string_view text) { echoed.emplace_back(text); };
  client = std::make_unique<Association>(Role::kClient, std::move(ccb));
  server = std::make_unique<Association>(Role::kServer, std::move(scb));
  server->start();
  client->start();
  ASSERT_TRUE(client->connected());
  ASSERT_TRUE(server->connected());
  const auto sid = client->openChannel(kLabel, kProtocol);
  ASSERT_TRUE(sid.has_value());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(client->sendText(*sid, fmt::format("t{}", i)));
  }
  auto now = Association::TimePoint{} + std::chrono::hours(2000);
  Association::handleTimers(now);
  for (int i = 0; i < 100 && echoed.size() < 10; ++i) {
    now += 20ms;
    Association::handleTimers(now);
  }
  ASSERT_EQ(got.size(), 10u);
  ASSERT_EQ(echoed.size(), 10u);
  EXPECT_EQ(echoed[9], "echo t9");
}

TEST(SctpAssociation, CallsFromInsideSendToDtlsAreRefused) {
  Pair pair;
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  bool inner = true;
  AssociationCallbacks cb;
  std::unique_ptr<Association> other;
  cb.sendToDtls = [&](std::span<const uint8_t>) {
    inner = pair.client->sendText(*sid, "from inside") || pair.client->openChannel("x", "");
    pair.client->close();  // refused too
  };
  other = std::make_unique<Association>(Role::kClient, std::move(cb));
  other->start();
  EXPECT_FALSE(inner);
  EXPECT_TRUE(pair.client->connected());
}

TEST(SctpAssociation, ThrowingCallbacksAreCaught) {
  Pair pair;
  AssociationCallbacks cb;
  cb.sendToDtls = [&](std::span<const uint8_t> p) {
    pair.toClient.emplace_back(p.begin(), p.end());
  };
  cb.onText = [](uint16_t, std::string_view) { throw std::runtime_error("boom"); };
  pair.server = std::make_unique<Association>(Role::kServer, std::move(cb));
  const auto sid = [&] {
    EXPECT_TRUE(pair.connect());
    return pair.client->openChannel(kLabel, kProtocol);
  }();
  ASSERT_TRUE(sid.has_value());
  ASSERT_TRUE(pair.client->sendText(*sid, "a"));
  ASSERT_TRUE(pair.client->sendText(*sid, "b"));
  ASSERT_TRUE(pair.runUntil([&] { return pair.server->counters().callbackErrors == 2; }));
}

TEST(SctpAssociation, ThrowingSendToDtlsIsCaught) {
  Pair pair;
  int calls = 0;
  AssociationCallbacks cb;
  cb.sendToDtls = [&](std::span<const uint8_t> p) {
    if (++calls == 1) {
      throw std::runtime_error("DTLS gone");  // the INIT is lost, then retransmitted
    }
    pair.toServer.emplace_back(p.begin(), p.end());
  };
  cb.onConnected = [&] { pair.clientEvents.connected = true; };
  pair.client = std::make_unique<Association>(Role::kClient, std::move(cb));
  pair.server->start();
  pair.client->start();
  EXPECT_EQ(pair.client->counters().callbackErrors, 1u);
  ASSERT_TRUE(pair.runUntil([&] { return pair.client->connected() && pair.server->connected(); }));
}

TEST(SctpAssociation, NotConnectedRefusesToSend) {
  Pair pair;
  EXPECT_FALSE(pair.client->openChannel(kLabel, kProtocol).has_value());
  EXPECT_FALSE(pair.client->sendText(0, "x"));
  EXPECT_FALSE(pair.client->sendRaw(0, ppid::kString, bytes("x")));
  EXPECT_FALSE(pair.client->connected());
}

TEST(SctpAssociation, ClientGivesUpWhenNobodyAnswers) {
  Pair pair;
  pair.drop = [](bool, const Packet&) { return true; };
  pair.client->start();
  ASSERT_TRUE(pair.runUntil([&] { return pair.clientEvents.closed == 1; }, 30min));
  EXPECT_FALSE(pair.client->connected());
}

TEST(SctpAssociation, ServerStartsImplicitlyOnTheFirstPacket) {
  Pair pair;
  pair.client->start();  // the server's start() is never called
  ASSERT_TRUE(pair.runUntil([&] { return pair.server->connected(); }));
}

TEST(SctpAssociation, ManyAssociationsAtOnce) {
  std::vector<std::unique_ptr<Pair>> pairs;
  for (int i = 0; i < 20; ++i) {
    pairs.push_back(std::make_unique<Pair>());
    ASSERT_TRUE(pairs.back()->open().has_value());
  }
  for (size_t i = 0; i < pairs.size(); ++i) {
    ASSERT_TRUE(pairs[i]->client->sendText(0, "to " + std::to_string(i)));
  }
  for (size_t i = 0; i < pairs.size(); ++i) {
    ASSERT_TRUE(pairs[i]->runUntil([&] { return pairs[i]->serverEvents.texts.size() == 1; }));
    EXPECT_EQ(pairs[i]->serverEvents.texts[0].second, "to " + std::to_string(i));
  }
}

TEST(SctpLibrary, InitAndFinishRepeatedly) {
  ASSERT_FALSE(Library::initialized()) << "no association left over by earlier tests";
  const unsigned before = Library::initCount();
  for (int round = 0; round < 10; ++round) {
    {
      Pair pair;
      const auto sid = pair.open();
      ASSERT_TRUE(sid.has_value());
      ASSERT_TRUE(pair.client->sendText(*sid, "round " + std::to_string(round)));
      ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.texts.size() == 1; }));
      EXPECT_TRUE(Library::initialized());
    }
    EXPECT_FALSE(Library::initialized()) << "the last association finishes usrsctp";
  }
  EXPECT_EQ(Library::initCount() - before, 10u);

  // A Library held across associations keeps usrsctp up.
  const Library keep;
  const unsigned held = Library::initCount();
  for (int round = 0; round < 3; ++round) {
    Pair pair;
    ASSERT_TRUE(pair.open().has_value());
  }
  EXPECT_EQ(Library::initCount(), held);
  EXPECT_TRUE(Library::initialized());
}

}  // namespace

namespace {

// A peer that opens channel after channel (README "Misbehaving peers"):
// past maxChannels the server neither acknowledges nor keeps them, resets
// their streams (the peer's channels close), counts them, and the channels
// it accepted carry messages as before.
TEST(SctpAssociation, ChannelsPastTheCapAreRefusedAndTheFirstKeepsWorking) {
  AssociationOptions server;
  server.maxChannels = 2;
  Pair pair({}, server);
  const auto first = pair.open();
  ASSERT_TRUE(first.has_value());
  std::vector<uint16_t> more;
  for (int i = 0; i < 5; ++i) {
    std::string label = "extra";
    label += std::to_string(i);
    const auto sid = pair.client->openChannel(label, "");
    ASSERT_TRUE(sid.has_value());
    more.push_back(*sid);
  }
  ASSERT_TRUE(pair.runUntil([&] { return pair.server->counters().channelsRefused == 4; }));
  ASSERT_TRUE(pair.runUntil([&] { return pair.clientEvents.channelsClosed.size() == 4; }));
  EXPECT_EQ(pair.serverEvents.opened.size(), 2u);
  EXPECT_TRUE(pair.server->channelOpen(more[0]));
  for (size_t i = 1; i < more.size(); ++i) {
    EXPECT_FALSE(pair.server->channelOpen(more[i])) << more[i];
    EXPECT_FALSE(pair.client->channelOpen(more[i])) << more[i];
  }
  ASSERT_TRUE(pair.client->sendText(*first, "still here"));
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.texts.size() == 1; }));
  EXPECT_EQ(pair.serverEvents.texts[0].second, "still here");
  EXPECT_EQ(pair.server->counters().malformed, 0u);
}

// Oversized incoming messages are told apart from the other drops.
TEST(SctpAssociation, OversizedIncomingMessagesAreCountedAsSuch) {
  AssociationOptions client;
  client.maxMessageSize = 1024 * 1024;
  AssociationOptions server;
  server.maxIncomingMessageSize = 64 * 1024;
  Pair pair(client, server);
  const auto sid = pair.open();
  ASSERT_TRUE(sid.has_value());
  ASSERT_TRUE(pair.client->sendText(*sid, pattern(100 * 1024, 'O')));
  ASSERT_TRUE(pair.client->sendRaw(10, ppid::kString, bytes("nobody opened 10")));
  ASSERT_TRUE(pair.client->sendText(*sid, "after"));
  ASSERT_TRUE(pair.runUntil([&] { return pair.serverEvents.texts.size() == 1; }, 60s));
  EXPECT_EQ(pair.serverEvents.texts[0].second, "after");
  EXPECT_EQ(pair.server->counters().dropped, 2u);
  EXPECT_EQ(pair.server->counters().oversized, 1u);
}

}  // namespace
