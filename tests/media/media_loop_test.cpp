#include <gtest/gtest.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <future>
#include <memory>
#include <thread>

#include "control/bridge_state.hpp"
#include "media/media_loop.hpp"
#include "rtp/demux.hpp"

namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using jvb::media::MediaLoop;

jvb::media::MediaOptions loopbackConfig() {
  jvb::media::MediaOptions cfg;
  cfg.bindAddress = "127.0.0.1";
  cfg.port = 0;  // ephemeral, so tests never collide
  return cfg;
}

// Polls `pred` every 10 ms, at most `limit` times.
template <typename Pred>
bool eventually(Pred pred, int limit = 500) {
  for (int i = 0; i < limit; ++i) {
    if (pred())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

TEST(MediaLoop, CountsDatagramsFromUnknownSourcesByClass) {
  MediaLoop media(loopbackConfig());
  media.start();
  ASSERT_NE(media.udpPort(), 0);
  asio::io_context io;
  udp::socket client(io, udp::endpoint(udp::v4(), 0));
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), media.udpPort());
  std::vector<uint8_t> stun(20, 0);
  stun[1] = 1;
  std::vector<uint8_t> rtp(40, 0);
  rtp[0] = 0x80;
  rtp[1] = 111;
  std::vector<uint8_t> garbage{0xff, 0x00, 0x13};
  client.send_to(asio::buffer(stun), to);
  client.send_to(asio::buffer(rtp), to);
  client.send_to(asio::buffer(rtp), to);
  client.send_to(asio::buffer(garbage), to);

  const auto& c = media.counters();
  ASSERT_TRUE(eventually([&] { return c.packetsReceived.load() == 4; }));
  EXPECT_EQ(c.bytesReceived.load(), 20u + 40u + 40u + 3u);
  using K = jvb::rtp::PacketKind;
  EXPECT_EQ(c.droppedUnknownSource[static_cast<size_t>(K::kStun)].load(), 1u);
  EXPECT_EQ(c.droppedUnknownSource[static_cast<size_t>(K::kRtp)].load(), 2u);
  EXPECT_EQ(c.droppedUnknownSource[static_cast<size_t>(K::kUnknown)].load(), 1u);
  media.stop();
}

// Sends, while the media thread is blocked for 600 ms, two RTP, one RTCP and
// one STUN datagram from a stranger, and waits until the loop has read all four.
void sendWhileBlocked(MediaLoop& media) {
  asio::io_context io;
  udp::socket client(io, udp::endpoint(udp::v4(), 0));
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), media.udpPort());
  std::vector<uint8_t> rtp(40, 0);
  rtp[0] = 0x80;
  rtp[1] = 111;
  std::vector<uint8_t> rtcp(8, 0);
  rtcp[0] = 0x80;
  rtcp[1] = 201;  // RR
  std::vector<uint8_t> stun(20, 0);
  stun[1] = 1;
  std::promise<void> blocked;
  ASSERT_TRUE(media.post([&blocked] {
    blocked.set_value();
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
  }));
  blocked.get_future().wait();
  client.send_to(asio::buffer(rtp), to);
  client.send_to(asio::buffer(rtcp), to);
  client.send_to(asio::buffer(stun), to);
  client.send_to(asio::buffer(rtp), to);
  const auto& c = media.counters();
  ASSERT_TRUE(eventually([&] { return c.packetsReceived.load() == 4; }));
}

// A started loop with jvb-audio.media.max-queue-delay = `limit` that has
// read sendWhileBlocked()'s four datagrams.
std::unique_ptr<MediaLoop> loopAfterABlockedStretch(std::chrono::milliseconds limit) {
  auto cfg = loopbackConfig();
  cfg.maxQueueDelay = limit;
  auto media = std::make_unique<MediaLoop>(cfg);
  media->start();
  sendWhileBlocked(*media);
  return media;
}

using K = jvb::rtp::PacketKind;

TEST(MediaLoop, RtpThatWaitedPastTheQueueDelayLimitIsDroppedUnread) {
  auto media = loopAfterABlockedStretch(std::chrono::milliseconds(250));
  const auto& c = media->counters();
  // The RTP never reached the router (which counts strangers' datagrams by
  // class); RTCP and STUN as old as it did.
  EXPECT_EQ(c.rtpStaleDropped.load(), 2u);
  EXPECT_EQ(c.droppedUnknownSource[static_cast<size_t>(K::kRtp)].load(), 0u);
  EXPECT_EQ(c.droppedUnknownSource[static_cast<size_t>(K::kRtcp)].load(), 1u);
  EXPECT_EQ(c.droppedUnknownSource[static_cast<size_t>(K::kStun)].load(), 1u);

  // Fresh RTP goes on to the router.
  asio::io_context io;
  udp::socket client(io, udp::endpoint(udp::v4(), 0));
  const std::array<uint8_t, 40> rtp{0x80, 111};
  client.send_to(asio::buffer(rtp),
                 udp::endpoint(asio::ip::make_address("127.0.0.1"), media->udpPort()));
  ASSERT_TRUE(eventually([&] { return c.packetsReceived.load() == 5; }));
  EXPECT_EQ(c.droppedUnknownSource[static_cast<size_t>(K::kRtp)].load(), 1u);
  EXPECT_EQ(c.rtpStaleDropped.load(), 2u);
  media->stop();
}

TEST(MediaLoop, AQueueDelayLimitOfZeroShedsNothing) {
  auto media = loopAfterABlockedStretch(std::chrono::milliseconds(0));
  EXPECT_EQ(media->counters().rtpStaleDropped.load(), 0u);
  EXPECT_EQ(media->counters().droppedUnknownSource[static_cast<size_t>(K::kRtp)].load(), 2u);
  media->stop();
}

TEST(MediaLoop, CommandsRunOnTheMediaThread) {
  MediaLoop media(loopbackConfig());
  media.start();
  std::promise<std::thread::id> ran;
  ASSERT_TRUE(media.post([&] { ran.set_value(std::this_thread::get_id()); }));
  auto f = ran.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_NE(f.get(), std::this_thread::get_id());
  media.stop();
  EXPECT_FALSE(media.post([] {}));
}

TEST(MediaLoop, HealthFollowsTheHeartbeatAndRecoversWhenTheLoopUnblocks) {
  MediaLoop media(loopbackConfig());
  media.start();
  const std::chrono::milliseconds maxStall(300);
  ASSERT_TRUE(eventually([&] { return jvb::control::evaluateHealth(media, maxStall).healthy; }));

  // Block the media thread, as a handler stuck in a syscall or a livelock would.
  std::promise<void> release;
  auto released = release.get_future().share();
  ASSERT_TRUE(media.post([released] { released.wait_for(std::chrono::seconds(30)); }));
  ASSERT_TRUE(eventually([&] { return !jvb::control::evaluateHealth(media, maxStall).healthy; }));
  const auto stuck = jvb::control::evaluateHealth(media, maxStall);
  EXPECT_NE(stuck.reason.find("media loop stuck"), std::string::npos) << stuck.reason;

  release.set_value();
  EXPECT_TRUE(eventually([&] { return jvb::control::evaluateHealth(media, maxStall).healthy; }));
  media.stop();
  const auto stopped = jvb::control::evaluateHealth(media, maxStall);
  EXPECT_FALSE(stopped.healthy);
  EXPECT_EQ(stopped.reason, "media loop is not running");
}

TEST(MediaLoop, AThrowingCommandIsCountedAndTheLoopKeepsServing) {
  MediaLoop media(loopbackConfig());
  media.start();
  ASSERT_TRUE(media.post([] { throw std::runtime_error("boom"); }));
  ASSERT_TRUE(eventually([&] { return media.counters().handlerErrors.load() == 1; }));
  std::promise<void> ran;
  ASSERT_TRUE(media.post([&] { ran.set_value(); }));
  EXPECT_EQ(ran.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  media.stop();
}

TEST(MediaLoop, BindFailureIsReportedAndNothingRuns) {
  MediaLoop first(loopbackConfig());
  first.start();
  auto cfg = loopbackConfig();
  cfg.port = first.udpPort();
  MediaLoop second(cfg);
  EXPECT_THROW(second.start(), std::system_error);
  EXPECT_FALSE(second.running());
  first.stop();
}

}  // namespace
