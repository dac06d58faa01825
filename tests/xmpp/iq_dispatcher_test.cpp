#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <vector>

#include "xmpp/iq_dispatcher.hpp"
#include "xmpp/xmpp_service.hpp"

namespace {

using namespace jvb::xmpp;

class IqTest : public ::testing::Test {
 protected:
  Library lib_;
  Context ctx_;
  IqDispatcher iqs_;
  jvb::control::Health health_{true, "", 0};

  void SetUp() override {
    registerBaseHandlers(iqs_, [this] { return health_; });
  }

  StanzaPtr handle(const std::string& xml) {
    auto iq = parse(ctx_.get(), xml);
    EXPECT_TRUE(iq) << xml;
    return iqs_.handle(ctx_.get(), iq.get());
  }

  static std::string condition(xmpp_stanza_t* reply) {
    xmpp_stanza_t* err = xmpp_stanza_get_child_by_name(reply, "error");
    if (err == nullptr)
      return "";
    for (xmpp_stanza_t* c = xmpp_stanza_get_children(err); c; c = xmpp_stanza_get_next(c)) {
      if (xmpp_stanza_is_tag(c) && std::string(xmpp_stanza_get_name(c)) != "text") {
        return xmpp_stanza_get_name(c);
      }
    }
    return "";
  }
};

TEST_F(IqTest, HealthCheckThroughTheRoomGetsAResultAddressedBack) {
  // As Prosody's MUC forwards an IQ that Jicofo sent to the occupant JID.
  auto reply = handle(
      "<iq type='get' id='hc1' from='jvbbrewery@muc.tech.example.test/focus' "
      "to='jvb@tech.example.test/r1'><healthcheck "
      "xmlns='http://jitsi.org/protocol/healthcheck'/></iq>");
  ASSERT_TRUE(reply);
  EXPECT_EQ(attr(reply.get(), "type"), "result");
  EXPECT_EQ(attr(reply.get(), "id"), "hc1");
  EXPECT_EQ(attr(reply.get(), "to"), "jvbbrewery@muc.tech.example.test/focus");
  EXPECT_EQ(attr(reply.get(), "from"), "jvb@tech.example.test/r1");
}

TEST_F(IqTest, HealthCheckFromTheRealJidWhenUnhealthyIsInternalServerError) {
  health_ = {false, "media loop stuck: no heartbeat for 4000 ms (limit 3000 ms)", 4000};
  auto reply = handle(
      "<iq type='get' id='hc2' from='focus@tech.example.test/f'><healthcheck "
      "xmlns='http://jitsi.org/protocol/healthcheck'/></iq>");
  ASSERT_TRUE(reply);
  EXPECT_EQ(attr(reply.get(), "type"), "error");
  EXPECT_EQ(attr(reply.get(), "to"), "focus@tech.example.test/f");
  EXPECT_EQ(condition(reply.get()), "internal-server-error");
  EXPECT_NE(toText(reply.get()).find("media loop stuck"), std::string::npos);
}

TEST_F(IqTest, VersionQueryNamesTheBridge) {
  auto reply =
      handle("<iq type='get' id='v1' from='a@b/c'><query xmlns='jabber:iq:version'/></iq>");
  ASSERT_TRUE(reply);
  EXPECT_EQ(attr(reply.get(), "type"), "result");
  xmpp_stanza_t* q = xmpp_stanza_get_child_by_name_and_ns(reply.get(), "query", kNsVersion);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(text(xmpp_stanza_get_child_by_name(q, "name")), "jvb-audio");
  EXPECT_EQ(text(xmpp_stanza_get_child_by_name(q, "os")), "Linux");
}

TEST_F(IqTest, UnsupportedGetAndSetAreServiceUnavailable) {
  for (const char* type : {"get", "set"}) {
    auto reply = handle(std::string("<iq type='") + type +
                        "' id='u1' from='a@b/c'><graceful-shutdown "
                        "xmlns='http://jitsi.org/protocol/colibri'/></iq>");
    ASSERT_TRUE(reply);
    EXPECT_EQ(attr(reply.get(), "type"), "error");
    EXPECT_EQ(condition(reply.get()), "service-unavailable");
  }
}

TEST_F(IqTest, MalformedRequestsAreBadRequestAndResultsGetNoReply) {
  auto noChild = handle("<iq type='get' id='m1' from='a@b/c'/>");
  ASSERT_TRUE(noChild);
  EXPECT_EQ(condition(noChild.get()), "bad-request");
  auto twoChildren = handle(
      "<iq type='get' id='m2' from='a@b/c'><ping xmlns='urn:xmpp:ping'/><ping "
      "xmlns='urn:xmpp:ping'/></iq>");
  EXPECT_EQ(condition(twoChildren.get()), "bad-request");
  auto noId = handle("<iq type='get' from='a@b/c'><ping xmlns='urn:xmpp:ping'/></iq>");
  EXPECT_EQ(condition(noId.get()), "bad-request");
  auto badType =
      handle("<iq type='nonsense' id='m3' from='a@b/c'><ping xmlns='urn:xmpp:ping'/></iq>");
  EXPECT_EQ(condition(badType.get()), "bad-request");
  EXPECT_FALSE(handle("<iq type='result' id='r1' from='a@b/c'/>"));
  EXPECT_FALSE(handle("<iq type='error' id='r2' from='a@b/c'/>"));
}

TEST_F(IqTest, AThrowingHandlerBecomesInternalServerError) {
  iqs_.add("boom", "urn:test", [](xmpp_ctx_t*, xmpp_stanza_t*, xmpp_stanza_t*) -> IqOutcome {
    throw std::runtime_error("exploded");
  });
  auto reply = handle("<iq type='set' id='b1' from='a@b/c'><boom xmlns='urn:test'/></iq>");
  ASSERT_TRUE(reply);
  EXPECT_EQ(condition(reply.get()), "internal-server-error");
}

TEST_F(IqTest, PingIsAnsweredWithAnEmptyResult) {
  auto reply =
      handle("<iq type='get' id='p1' from='tech.example.test'><ping xmlns='urn:xmpp:ping'/></iq>");
  ASSERT_TRUE(reply);
  EXPECT_EQ(attr(reply.get(), "type"), "result");
  EXPECT_EQ(xmpp_stanza_get_children(reply.get()), nullptr);
}

// Colibri2's handler is deferred (XmppService answers the queue in batches): on
// the read path a deferred request is only queued, a cheap one behind it is
// answered at once, and the queued one is answered later by handle().
TEST_F(IqTest, DeferredRequestsAreQueuedAndCheapOnesBehindThemAnsweredFirst) {
  int ran = 0;
  iqs_.addDeferred("heavy", "urn:test", [&ran](xmpp_ctx_t*, xmpp_stanza_t*, xmpp_stanza_t*) {
    ++ran;
    return IqOutcome{StanzaPtr{}};
  });
  std::vector<IqDispatcher::Deferred> queue;
  iqs_.setDeferralSink([&queue](IqDispatcher::Deferred& d) {
    if (queue.size() >= 2) {
      return false;
    }
    queue.push_back(std::move(d));
    return true;
  });
  std::vector<std::string> sent;  // reply ids in the order they went out
  const IqReplyFn reply = [&sent](StanzaPtr r) { sent.push_back(attr(r.get(), "id")); };
  const auto now = std::chrono::steady_clock::now();
  auto dispatch = [&](const std::string& xml) {
    auto iq = parse(ctx_.get(), xml);
    EXPECT_TRUE(iq) << xml;
    return iqs_.dispatch(ctx_.get(), iq.get(), reply, now);
  };
  EXPECT_TRUE(dispatch("<iq type='get' id='c1' from='a@b/c'><heavy xmlns='urn:test'/></iq>"));
  EXPECT_TRUE(dispatch("<iq type='set' id='c2' from='a@b/c'><heavy xmlns='urn:test'/></iq>"));
  EXPECT_FALSE(
      dispatch("<iq type='get' id='h1' from='a@b/c'><healthcheck "
               "xmlns='http://jitsi.org/protocol/healthcheck'/></iq>"));
  // A full queue: refused now with resource-constraint (type wait), counted.
  auto full =
      parse(ctx_.get(), "<iq type='get' id='c3' from='a@b/c'><heavy xmlns='urn:test'/></iq>");
  StanzaPtr refusal;
  EXPECT_FALSE(iqs_.dispatch(
      ctx_.get(), full.get(), [&refusal](StanzaPtr r) { refusal = std::move(r); }, now));
  ASSERT_TRUE(refusal);
  EXPECT_EQ(condition(refusal.get()), "resource-constraint");
  EXPECT_EQ(attr(xmpp_stanza_get_child_by_name(refusal.get(), "error"), "type"), "wait");
  EXPECT_EQ(iqs_.refused(), 1U);
  // Result/error IQs and malformed requests never go to the queue.
  EXPECT_FALSE(dispatch("<iq type='result' id='r1' from='a@b/c'><heavy xmlns='urn:test'/></iq>"));
  EXPECT_FALSE(dispatch("<iq type='get' from='a@b/c'><heavy xmlns='urn:test'/></iq>"));
  EXPECT_EQ(ran, 0);
  EXPECT_EQ(sent,
            (std::vector<std::string>{"h1", ""}));  // health now; the id-less one: bad-request
  // The queue, in order, after the health check was answered.
  for (auto& d : queue) {
    d.reply(iqs_.handle(d.ctx, d.iq.get()));
  }
  EXPECT_EQ(ran, 2);
  EXPECT_EQ(sent, (std::vector<std::string>{"h1", "", "c1", "c2"}));
}

TEST_F(IqTest, WithoutASinkADeferredHandlerRunsInline) {
  iqs_.addDeferred("heavy", "urn:test", [](xmpp_ctx_t*, xmpp_stanza_t*, xmpp_stanza_t*) {
    return IqOutcome{StanzaPtr{}};
  });
  auto iq = parse(ctx_.get(), "<iq type='get' id='c1' from='a@b/c'><heavy xmlns='urn:test'/></iq>");
  EXPECT_FALSE(iqs_.deferrable(iq.get()));
  StanzaPtr got;
  EXPECT_FALSE(iqs_.dispatch(
      ctx_.get(), iq.get(), [&got](StanzaPtr r) { got = std::move(r); },
      std::chrono::steady_clock::now()));
  ASSERT_TRUE(got);
  EXPECT_EQ(attr(got.get(), "type"), "result");
}

TEST(StatsPresence, CarriesWhatJicofoReadsInJavaFormAndNothingVolatile) {
  Library lib;
  Context ctx;
  nlohmann::json stats = {{"stress_level", 0.0312},
                          {"conferences", 2},
                          {"participants", 7},
                          {"drain", false},
                          {"healthy", true},
                          {"version", "0.1.0-g1"},
                          {"graceful_shutdown", false},
                          {"shutting_down", false},
                          {"region", "default"},
                          {"relay_id", "jvb1"},
                          {"current_timestamp", "2026-01-01 00:00:00.000"},
                          {"total_bytes_received", 12345},
                          {"average_participant_stress", 0.01}};
  auto built = buildStatsElement(ctx.get(), stats);
  auto& el = built.element;
  const std::string sig = built.signature;
  EXPECT_DOUBLE_EQ(built.stress, 0.0312);
  EXPECT_STREQ(xmpp_stanza_get_ns(el.get()), "http://jitsi.org/protocol/colibri");
  std::map<std::string, std::string> got;
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(el.get()); c; c = xmpp_stanza_get_next(c)) {
    EXPECT_STREQ(xmpp_stanza_get_name(c), "stat");
    got[attr(c, "name")] = attr(c, "value");
  }
  EXPECT_EQ(got["stress_level"], "0.03");
  EXPECT_EQ(got["average_participant_stress"], "0.01");
  EXPECT_EQ(got["drain"], "false");
  EXPECT_EQ(got["healthy"], "true");
  EXPECT_EQ(got["conferences"], "2");
  EXPECT_EQ(got["relay_id"], "jvb1");
  EXPECT_EQ(got["version"], "0.1.0-g1");
  EXPECT_EQ(got.count("current_timestamp"), 0u);
  EXPECT_EQ(got.count("total_bytes_received"), 0u);
  // Same values, same signature; a change in a published value changes it.
  // Stress jitter is judged by MucClient against kStressStep, not by the signature.
  stats["current_timestamp"] = "2026-01-01 00:00:05.000";
  stats["stress_level"] = 0.0571;
  EXPECT_EQ(buildStatsElement(ctx.get(), stats).signature, sig);
  stats["participants"] = 8;
  EXPECT_NE(buildStatsElement(ctx.get(), stats).signature, sig);
}

}  // namespace
