// control::MediaCompiler: Colibri2 endpoints compiled into the media model
// (media/media_model.hpp) and the commands it sends, with a recording sink.
#include "control/media_compiler.hpp"

#include <gtest/gtest.h>

#include <variant>
#include <vector>

namespace {

using namespace jvb;
using control::Endpoint;
using control::MediaCompiler;

const std::string kMeeting = "6f1c2d3e-aaaa-bbbb-cccc-0123456789ab";
const std::string kLevel = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
const std::string kMid = "urn:ietf:params:rtp-hdrext:sdes:mid";

Endpoint endpoint(const std::string& id, uint32_t ssrc, std::vector<control::HeaderExtension> ext) {
  Endpoint e;
  e.id = id;
  e.dtlsSetup = "active";
  control::PayloadType opus;
  opus.id = 111;
  opus.clockrate = 48000;
  e.audioPayloadTypes = {opus};
  e.acceptsAudio = true;
  e.audioHeaderExtensions = std::move(ext);
  if (ssrc != 0) {
    e.audioSources[ssrc] = control::AudioSource{id + "-a0", false};
  }
  return e;
}

struct Recorder {
  std::vector<media::Command> commands;
  MediaCompiler compiler{[this](media::Command c) {
    commands.push_back(std::move(c));
    return true;
  }};
  template <typename T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& c : commands) {
      if (const auto* t = std::get_if<T>(&c)) {
        out.push_back(*t);
      }
    }
    return out;
  }
};

TEST(MediaCompiler, RedAndOpusPayloadTypesByName) {
  const auto plain = MediaCompiler::compile(endpoint("a", 1111, {}));
  EXPECT_FALSE(plain.payloadTypes.hasRed());
  EXPECT_EQ(plain.payloadTypes.opus, media::PayloadTypes::kNone) << "a nameless pt is not Opus";
  Endpoint e = endpoint("b", 2222, {});
  control::PayloadType red{63, "RED", 48000, 2, {{"", "111/111"}}, {}};
  control::PayloadType opus{96, "opus", 48000, 2, {}, {}};
  control::PayloadType red2{64, "red", 48000, 2, {}, {}};
  e.audioPayloadTypes = {red, opus, red2};
  const auto s = MediaCompiler::compile(e);
  EXPECT_TRUE(s.payloadTypes.hasRed());
  EXPECT_EQ(s.payloadTypes.red, 63) << "the first RED payload type, name case-insensitive";
  EXPECT_TRUE(s.payloadTypes.isRed(63));
  EXPECT_FALSE(s.payloadTypes.isRed(64));
  EXPECT_TRUE(s.payloadTypes.contains(64));
  EXPECT_EQ(s.payloadTypes.opus, 96);
  EXPECT_EQ(s.payloadTypes.clockRate[63], 48000u);
}

TEST(MediaCompiler, CompilesTheSpecAndInternsExtensionProfiles) {
  Recorder r;
  r.compiler.endpointChanged(kMeeting, endpoint("a", 1111, {{1, kLevel}, {10, kMid}}));
  r.compiler.endpointChanged(kMeeting, endpoint("b", 2222, {{3, kLevel}, {10, kMid}}));
  r.compiler.endpointChanged(kMeeting, endpoint("c", 3333, {{1, kLevel}, {10, kMid}}));
  const auto ups = r.all<media::cmd::UpsertEndpoint>();
  ASSERT_EQ(ups.size(), 3u);
  const auto& a = ups[0].spec;
  EXPECT_EQ(a.meetingId, kMeeting);
  EXPECT_EQ(a.id, "a");
  EXPECT_TRUE(a.dtlsClient);
  EXPECT_TRUE(a.payloadTypes.contains(111));
  EXPECT_FALSE(a.payloadTypes.contains(100));
  EXPECT_EQ(a.payloadTypes.clockRate[111], 48000u);
  EXPECT_EQ(a.levelId, 1);
  EXPECT_EQ(a.midId, 10);
  ASSERT_EQ(a.sources.size(), 1u);
  EXPECT_EQ(a.sources[0].ssrc, 1111u);
  EXPECT_EQ(a.sources[0].name, "a-a0");
  EXPECT_EQ(ups[0].spec.conference, ups[1].spec.conference);
  EXPECT_NE(ups[0].spec.endpoint, ups[1].spec.endpoint);
  // a and c negotiated the same: one profile; b another.
  EXPECT_EQ(ups[0].spec.extProfile, ups[2].spec.extProfile);
  EXPECT_NE(ups[0].spec.extProfile, ups[1].spec.extProfile);
  const auto profiles = r.all<media::cmd::SetExtensionProfiles>();
  ASSERT_EQ(profiles.size(), 2u) << "sent again when a new profile appears";
  const auto& p = profiles.back().profiles;
  ASSERT_EQ(p.count, 2u);
  const auto* same = p.map(a.extProfile, a.extProfile);
  ASSERT_NE(same, nullptr);
  EXPECT_EQ((*same)[10], 0) << "sdes:mid stripped";
  EXPECT_EQ((*same)[1], 1);
  const auto* cross = p.map(a.extProfile, ups[1].spec.extProfile);
  ASSERT_NE(cross, nullptr);
  EXPECT_EQ((*cross)[1], 3) << "the level under the receiver's id";
  // Without sdes:mid the same profile needs no map at all.
  Recorder q;
  q.compiler.endpointChanged(kMeeting, endpoint("x", 9, {{1, kLevel}}));
  const auto only = q.all<media::cmd::SetExtensionProfiles>().back().profiles;
  EXPECT_EQ(only.map(0, 0), nullptr);
}

TEST(MediaCompiler, SourceIndicesAreStableAndFreedOnesReused) {
  Recorder r;
  r.compiler.endpointChanged(kMeeting, endpoint("a", 1111, {}));
  r.compiler.endpointChanged(kMeeting, endpoint("b", 2222, {}));
  auto ups = r.all<media::cmd::UpsertEndpoint>();
  const uint32_t ia = ups[0].spec.sources[0].index;
  const uint32_t ib = ups[1].spec.sources[0].index;
  EXPECT_NE(ia, ib);
  // An update with the same source keeps its index.
  r.compiler.endpointChanged(kMeeting, endpoint("a", 1111, {}));
  EXPECT_EQ(r.all<media::cmd::UpsertEndpoint>().back().spec.sources[0].index, ia);
  // a leaves: RemoveEndpoint, and its index goes to the next new source.
  r.compiler.endpointExpired(kMeeting, "a");
  const auto removes = r.all<media::cmd::RemoveEndpoint>();
  ASSERT_EQ(removes.size(), 1u);
  EXPECT_EQ(removes[0].endpoint, ups[0].spec.endpoint);
  r.compiler.endpointChanged(kMeeting, endpoint("c", 3333, {}));
  EXPECT_EQ(r.all<media::cmd::UpsertEndpoint>().back().spec.sources[0].index, ia);
  EXPECT_FALSE(r.compiler.handleOf(kMeeting, "a").has_value());
  EXPECT_TRUE(r.compiler.handleOf(kMeeting, "c").has_value());
}

TEST(MediaCompiler, SubscriptionsBySourceNameFollowTheConferencesSources) {
  Recorder r;
  r.compiler.endpointChanged(kMeeting, endpoint("r", 0, {}));
  // r includes a source nobody signals yet: compiled to nothing.
  r.compiler.setAudioSubscription(kMeeting, "r",
                                  media::AudioSubscription::fromFields(false, {"a-a0"}, {}));
  auto subs = r.all<media::cmd::SetSubscription>();
  ASSERT_EQ(subs.size(), 1u);
  EXPECT_EQ(subs[0].subscription.mode, media::AudioSubscription::Mode::kInclude);
  EXPECT_TRUE(subs[0].subscription.sources.empty());
  // a joins with that source: r's subscription is recompiled to its index.
  r.compiler.endpointChanged(kMeeting, endpoint("a", 1111, {}));
  const uint32_t ia = r.all<media::cmd::UpsertEndpoint>().back().spec.sources[0].index;
  subs = r.all<media::cmd::SetSubscription>();
  ASSERT_EQ(subs.size(), 2u);
  EXPECT_EQ(subs[1].subscription.sources, std::vector<uint32_t>{ia});
  EXPECT_EQ(subs[1].included, std::vector<uint32_t>{ia});
  EXPECT_TRUE(subs[1].subscription.allows(ia, false));
  EXPECT_FALSE(subs[1].subscription.allows(ia + 1, false));
  // An unrelated update does not resend it; a leaving a does.
  r.compiler.endpointChanged(kMeeting, endpoint("a", 1111, {}));
  EXPECT_EQ(r.all<media::cmd::SetSubscription>().size(), 2u);
  r.compiler.endpointExpired(kMeeting, "a");
  subs = r.all<media::cmd::SetSubscription>();
  ASSERT_EQ(subs.size(), 3u);
  EXPECT_TRUE(subs[2].subscription.sources.empty());
}

}  // namespace
