#include "load_run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>

#include "bridge_stats.hpp"
#include "colibri2_client.hpp"
#include "ids.hpp"
#include "proc_stats.hpp"

namespace jvb::load {

namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr int kMaxHealthInFlight = 50;
constexpr auto kSettle = milliseconds(300);
constexpr auto kDrain = milliseconds(500);
constexpr auto kExpireWait = milliseconds(5000);
constexpr auto kStatsTimeout = milliseconds(5000);
constexpr auto kStatsSettle = milliseconds(1100);
constexpr double kWithheldSlackMs = 100;

// Everything the IQ callbacks touch: shared with them, so that a reply
// arriving after the run ended finds live (closed) state.
struct State {
  bool closed = false;
  std::shared_ptr<MediaEngine> engine;
  std::string meetingId;
  int n = 0;
  std::vector<int64_t> allocSentNs;
  bool conferenceCreated = false;
  int allocsAcked = 0;
  int updatesAcked = 0;
  Clock::time_point allocsAckedAt{};
  std::string colibriError;
  Histogram allocRtt;
  Histogram updateRtt;
  // Health.
  int healthInFlight = 0;
  Histogram* healthTarget = nullptr;
  Histogram healthJoin;
  Histogram healthRun;
  uint64_t healthSent = 0;
  uint64_t healthTimeouts = 0;
  uint64_t healthErrors = 0;
  int pingInFlight = 0;
  Histogram* pingTarget = nullptr;
  Histogram pingJoin;
  Histogram pingRun;
  uint64_t pingTimeouts = 0;
  bool expireAnswered = false;
  bool expired = false;
  std::string expireError;
};

}  // namespace

RunResult runLoad(const Options& o, int n, Focus& focus, const dtls::Context& dtls,
                  Progress& progress, const std::atomic<bool>& interrupted) {
  RunResult r;
  r.endpoints = n;
  r.speakers = std::min(o.speakers, n);

  // Who sends: K speakers spread over the endpoints, then (with --silence)
  // every other endpoint with silence-level packets.
  EngineConfig cfg;
  cfg.endpoints = n;
  cfg.senderOf.assign(static_cast<size_t>(n), -1);
  cfg.speakers = r.speakers;
  for (int j = 0; j < r.speakers; ++j) {
    const int ep = static_cast<int>(static_cast<int64_t>(j) * n / r.speakers);
    cfg.senderOf[static_cast<size_t>(ep)] = static_cast<int>(cfg.senderEndpoint.size());
    cfg.senderEndpoint.push_back(ep);
    cfg.senderSpeaks.push_back(true);
  }
  if (o.silence) {
    for (int ep = 0; ep < n; ++ep) {
      if (cfg.senderOf[static_cast<size_t>(ep)] < 0) {
        cfg.senderOf[static_cast<size_t>(ep)] = static_cast<int>(cfg.senderEndpoint.size());
        cfg.senderEndpoint.push_back(ep);
        cfg.senderSpeaks.push_back(false);
      }
    }
  }
  r.senders = static_cast<int>(cfg.senderEndpoint.size());
  const uint64_t rnd = randomU64();
  cfg.ssrcBase = 1 + static_cast<uint32_t>(rnd % (0xFFFFFFFFULL - static_cast<uint64_t>(n) - 1));
  cfg.seed = rnd >> 32;
  cfg.payloadBytes = o.payloadBytes;
  cfg.framesPerSlot = static_cast<uint32_t>(std::max(1.0, std::round(o.rotateS * 50)));
  cfg.handshakeTimeout = milliseconds(static_cast<int64_t>(o.connectTimeoutS * 1000));
  cfg.rewriting = o.rewriting;
  cfg.withheldWindowFrames =
      o.rewriting ? static_cast<uint32_t>(std::ceil((o.newSsrcDelayMs + kWithheldSlackMs) / 20))
                  : 0;

  auto st = std::make_shared<State>();
  st->n = n;
  st->meetingId = uuid();
  r.meetingId = st->meetingId;
  st->allocSentNs.assign(static_cast<size_t>(n), 0);
  st->healthTarget = &st->healthJoin;
  st->pingTarget = &st->pingJoin;
  try {
    st->engine = std::make_shared<MediaEngine>(cfg, dtls);
  } catch (const std::exception& e) {
    r.failure = fmt::format("could not open {} UDP sockets on 127.0.0.1: {}", n, e.what());
    return r;
  }
  MediaEngine& engine = *st->engine;
  engine.start();

  const auto iqTimeout = milliseconds(static_cast<int64_t>(o.iqTimeoutS * 1000));
  const auto healthTimeout = milliseconds(static_cast<int64_t>(o.healthTimeoutS * 1000));
  const auto healthEvery = nanoseconds(static_cast<int64_t>(o.healthIntervalMs * 1e6));
  auto nextHealth = Clock::now();
  bool healthOn = true;

  const auto maybeHealth = [&](Clock::time_point now) {
    if (!healthOn || now < nextHealth || st->healthInFlight >= kMaxHealthInFlight) {
      return;
    }
    nextHealth = now + healthEvery;
    ++st->healthInFlight;
    ++st->healthSent;
    if (st->pingInFlight < kMaxHealthInFlight) {
      ++st->pingInFlight;
      Histogram* pt = st->pingTarget;
      focus.sendTo(focus.domain(), "get", "<ping xmlns='urn:xmpp:ping'/>", healthTimeout,
                   [st, pt](const IqOutcome& out) {
                     --st->pingInFlight;
                     if (out.kind == IqOutcome::Kind::kResult) {
                       pt->add(static_cast<uint64_t>(out.rtt.count()));
                     } else if (out.kind == IqOutcome::Kind::kTimeout) {
                       ++st->pingTimeouts;
                     }
                   });
    }
    Histogram* target = st->healthTarget;
    focus.sendToBridge("get", healthCheckXml(), healthTimeout, [st, target](const IqOutcome& out) {
      --st->healthInFlight;
      switch (out.kind) {
        case IqOutcome::Kind::kResult:
          target->add(static_cast<uint64_t>(out.rtt.count()));
          break;
        case IqOutcome::Kind::kError:
          ++st->healthErrors;
          break;
        case IqOutcome::Kind::kTimeout:
          ++st->healthTimeouts;
          break;
        case IqOutcome::Kind::kDisconnected:
          break;
      }
    });
  };

  // Checks that end the run early; returns the reason.
  const auto hardFailure = [&]() -> std::optional<std::string> {
    if (interrupted.load()) {
      return std::string("interrupted");
    }
    if (!focus.connected()) {
      return std::string("the XMPP connection to Prosody was lost");
    }
    if (focus.bridgeGone()) {
      return fmt::format("the bridge '{}' left the brewery", focus.bridgeNick());
    }
    if (!st->colibriError.empty()) {
      return st->colibriError;
    }
    if (engine.failed() > 0) {
      return fmt::format("{} failed for {} endpoint(s); first: {}",
                         o.rewriting ? "ICE/DTLS/colibri-ws" : "ICE/DTLS", engine.failed(),
                         engine.firstFailure());
    }
    return std::nullopt;
  };

  const auto sendAllocate = [&](int i) {
    const auto& local = engine.local(i);
    const std::optional<std::string> room =
        i == 0 ? std::optional<std::string>(
                     fmt::format("load-{}@conference.{}", st->meetingId.substr(0, 8), o.domain))
               : std::nullopt;
    st->allocSentNs[static_cast<size_t>(i)] = nowNs();
    focus.sendToBridge(
        "get", allocateXml(st->meetingId, room, local.id, local.ssrc, o.rewriting), iqTimeout,
        [st, i, iqTimeout, &focus](const IqOutcome& out) {
          if (st->closed) {
            return;
          }
          st->allocRtt.add(static_cast<uint64_t>(out.rtt.count()));
          MediaEngine& eng = *st->engine;
          const auto& loc = eng.local(i);
          if (out.kind != IqOutcome::Kind::kResult) {
            if (st->colibriError.empty()) {
              st->colibriError = fmt::format("Colibri2 endpoint create for {} (#{}) failed: {}",
                                             loc.id, i, out.describe());
            }
            return;
          }
          std::string why;
          auto t = parseBridgeTransport(out.stanza, loc.id, why);
          if (!t) {
            if (st->colibriError.empty()) {
              st->colibriError = fmt::format("Colibri2 answer for {}: {}", loc.id, why);
            }
            return;
          }
          if (i == 0) {
            st->conferenceCreated = true;
          }
          if (++st->allocsAcked == st->n) {
            st->allocsAckedAt = Clock::now();
          }
          eng.connect(i, std::move(*t));
          focus.sendToBridge("get",
                             transportXml(st->meetingId, loc.id, loc.ice.ufrag, loc.ice.pwd,
                                          eng.fingerprint(), loc.port),
                             iqTimeout, [st, i](const IqOutcome& upd) {
                               if (st->closed) {
                                 return;
                               }
                               st->updateRtt.add(static_cast<uint64_t>(upd.rtt.count()));
                               if (upd.kind != IqOutcome::Kind::kResult) {
                                 if (st->colibriError.empty()) {
                                   st->colibriError = fmt::format(
                                       "Colibri2 transport update for {} (#{}) failed: {}",
                                       st->engine->local(i).id, i, upd.describe());
                                 }
                                 return;
                               }
                               ++st->updatesAcked;
                             });
        });
  };

  // Ends the run: stops the media, expires the conference (bounded wait).
  const auto finish = [&]() {
    healthOn = false;
    engine.stop();
    if (st->conferenceCreated && focus.connected()) {
      focus.sendToBridge("get", expireConferenceXml(st->meetingId), kExpireWait,
                         [st](const IqOutcome& out) {
                           st->expireAnswered = true;
                           st->expired = out.kind == IqOutcome::Kind::kResult;
                           if (!st->expired) {
                             st->expireError = out.describe();
                           }
                         });
      const auto deadline = Clock::now() + kExpireWait + milliseconds(100);
      while (!st->expireAnswered && Clock::now() < deadline) {
        focus.runOnce(5);
      }
      if (!st->expired) {
        progress.note(fmt::format("warning: expiring conference {} failed: {}", st->meetingId,
                                  st->expireError.empty() ? "no answer" : st->expireError));
      }
    }
    // Let outstanding health checks land (bounded), then detach the callbacks.
    const auto deadline = Clock::now() + milliseconds(1000);
    while ((st->healthInFlight > 0 || st->pingInFlight > 0) && focus.connected() &&
           Clock::now() < deadline) {
      focus.runOnce(5);
    }
    st->closed = true;
    progress.done();
  };

  // The bridge's allocation counters: "not measured" (with the reason) when
  // they cannot be read, never a failure.
  AllocCounterFile allocFile;
  std::optional<AllocSample> allocBefore;
  if (o.allocCountFile.empty()) {
    r.allocNotMeasured = "no --alloc-count-file";
  } else if (allocFile.open(o.allocCountFile, r.allocNotMeasured)) {
    allocBefore = allocFile.sample();
    r.allocPid = allocFile.pid();
  } else {
    r.allocNotMeasured += " (is libjvb_alloc_preload.so preloaded into the bridge?)";
  }

  std::optional<ProcSample> bridgeBefore;
  if (o.bridgePid > 0) {
    bridgeBefore = sampleProcess(o.bridgePid);
    if (!bridgeBefore) {
      r.failure =
          fmt::format("cannot read /proc/{} (--bridge-pid): is the bridge running?", o.bridgePid);
      finish();
      return r;
    }
  }

  std::optional<HttpProbe> httpProbe;
  if (!o.healthUrl.empty()) {
    httpProbe.emplace(o.healthUrl, milliseconds(static_cast<int64_t>(o.healthIntervalMs)),
                      healthTimeout);
    httpProbe->setPhase(1);
  }
  Histogram focusTurns;
  auto lastTurn = Clock::now();
  const auto turn = [&](Clock::time_point now) {
    focusTurns.add(
        static_cast<uint64_t>(std::chrono::duration_cast<nanoseconds>(now - lastTurn).count()));
    lastTurn = now;
  };

  // --- Join -----------------------------------------------------------------
  const auto joinStart = Clock::now();
  const int64_t joinStartNs = nowNs();
  const double joinRate = o.joinRate;
  // Every loop below is bounded: by the join schedule + IQ timeouts +
  // connect timeout, and by the duration + slack.
  // (100 ms per endpoint covers a bridge that answers only ~20 IQs/s.)
  const auto joinLimit = joinStart + nanoseconds(static_cast<int64_t>(n / joinRate * 1e9)) +
                         milliseconds(100) * n + iqTimeout * 2 +
                         milliseconds(static_cast<int64_t>(o.connectTimeoutS * 1000)) +
                         milliseconds(10000);
  int nextToSend = 0;
  sendAllocate(nextToSend++);
  std::optional<std::string> failure;
  lastTurn = Clock::now();
  while (true) {
    focus.runOnce(1);
    const auto now = Clock::now();
    turn(now);
    if ((failure = hardFailure())) {
      break;
    }
    maybeHealth(now);
    if (st->conferenceCreated) {
      const int colibriInFlight =
          static_cast<int>(focus.inFlight()) - st->healthInFlight - st->pingInFlight;
      int burst = 0;  // bounded per turn
      while (nextToSend < n && burst < 64 && colibriInFlight + burst < o.maxInFlight &&
             now >= joinStart + nanoseconds(static_cast<int64_t>(nextToSend / joinRate * 1e9))) {
        sendAllocate(nextToSend++);
        ++burst;
      }
    }
    const int connected = engine.connected();
    const int channels = engine.channelsReady();
    progress.update(
        "join", static_cast<double>(connected) / n,
        fmt::format("{}/{} connected{}, {} allocated, {:.1f} s", connected, n,
                    o.rewriting ? fmt::format(", {} colibri-ws", channels) : "", st->allocsAcked,
                    std::chrono::duration<double>(now - joinStart).count()));
    if (connected == n && st->updatesAcked == n && (!o.rewriting || channels == n)) {
      break;
    }
    const auto connectLimit = milliseconds(static_cast<int64_t>(o.connectTimeoutS * 1000));
    if ((st->allocsAcked == n && now > st->allocsAckedAt + connectLimit) || now > joinLimit) {
      engine.stop();
      failure = fmt::format(
          "{} did not complete for {} of {} endpoints within {:g} s after the last "
          "allocation ({}; {} transport updates acknowledged)",
          o.rewriting ? "ICE/DTLS/colibri-ws" : "ICE/DTLS",
          n - std::min(engine.connected(), o.rewriting ? engine.channelsReady() : n), n,
          o.connectTimeoutS, engine.pendingSummary(), st->updatesAcked);
      break;
    }
  }
  // Join and IQ figures, once the media thread has stopped (any path).
  const auto collect = [&]() {
    r.joined = engine.connected();
    r.allocRttNs = st->allocRtt;
    r.updateRttNs = st->updateRtt;
    r.healthJoinNs = st->healthJoin;
    r.healthRunNs = st->healthRun;
    r.healthSent = st->healthSent;
    r.healthTimeouts = st->healthTimeouts;
    r.healthErrors = st->healthErrors;
    r.pingJoinNs = st->pingJoin;
    r.pingRunNs = st->pingRun;
    r.pingTimeouts = st->pingTimeouts;
    r.focusTurnNs = focusTurns;
    if (httpProbe) {
      r.httpHealthMeasured = true;
      r.httpHealth = httpProbe->results();
    }
    r.media = engine.results(o.routing == Routing::kLoudest);
    int64_t lastConnected = joinStartNs;
    for (int i = 0; i < n; ++i) {
      const int64_t c = r.media.connectedAtNs[static_cast<size_t>(i)];
      if (c > 0) {
        r.joinNs.add(static_cast<uint64_t>(
            std::max<int64_t>(0, c - st->allocSentNs[static_cast<size_t>(i)])));
        lastConnected = std::max(lastConnected, c);
      }
      const int64_t ch = r.media.channelAtNs[static_cast<size_t>(i)];
      if (ch > 0) {
        r.channelNs.add(static_cast<uint64_t>(
            std::max<int64_t>(0, ch - st->allocSentNs[static_cast<size_t>(i)])));
        lastConnected = std::max(lastConnected, ch);
      }
    }
    r.joinTotalS = static_cast<double>(lastConnected - joinStartNs) / 1e9;
  };
  if (failure) {
    r.failure = *failure;
    finish();
    if (httpProbe) {
      httpProbe->setPhase(0);
    }
    collect();
    return r;
  }
  const auto joinedAt = Clock::now();

  // Settle briefly, then sample the bridge's memory with everyone joined.
  while (Clock::now() < joinedAt + kSettle) {
    focus.runOnce(1);
    maybeHealth(Clock::now());
  }
  // The bridge's counters before the audio: with no health check in flight,
  // since this GET blocks the focus's loop (and its RTTs) for its duration.
  std::optional<nlohmann::json> statsBefore;
  if (!o.statsUrl.empty()) {
    const auto limit = Clock::now() + milliseconds(1000);
    while (st->healthInFlight > 0 && Clock::now() < limit) {
      focus.runOnce(1);
    }
    std::string why;
    statsBefore = fetchJson(o.statsUrl, kStatsTimeout, why);
    if (!statsBefore) {
      r.statsError = why;
    }
  }
  std::optional<ProcSample> bridgeJoined;
  if (o.bridgePid > 0) {
    bridgeJoined = sampleProcess(o.bridgePid);
  }
  const std::optional<AllocSample> allocJoined = allocFile.sample();

  // --- Audio ----------------------------------------------------------------
  const auto frames = static_cast<uint32_t>(std::max(1.0, std::round(o.durationS * 50)));
  st->healthTarget = &st->healthRun;
  st->pingTarget = &st->pingRun;
  if (httpProbe) {
    httpProbe->setPhase(2);
  }
  nextHealth = Clock::now();
  const double toolCpuStart = selfCpuSeconds();
  const auto sendAt = Clock::now() + milliseconds(20);
  engine.startSending(sendAt, frames);
  uint64_t lastRx = 0;
  auto lastRxAt = Clock::now();
  double rxRate = 0;
  const auto sendEndAt = sendAt + milliseconds(frames * 20LL);
  lastTurn = Clock::now();
  while (true) {
    focus.runOnce(1);
    const auto now = Clock::now();
    turn(now);
    if (engine.sendingDone() && now >= sendEndAt) {
      break;
    }
    if ((failure = hardFailure())) {
      break;
    }
    if (now > sendEndAt + milliseconds(10000)) {
      failure = "the media thread did not finish sending in time (overloaded?)";
      break;
    }
    maybeHealth(now);
    if (now - lastRxAt >= milliseconds(1000)) {
      const uint64_t rx = engine.rtpReceived();
      rxRate =
          static_cast<double>(rx - lastRx) / std::chrono::duration<double>(now - lastRxAt).count();
      lastRx = rx;
      lastRxAt = now;
    }
    const double elapsed = std::chrono::duration<double>(now - sendAt).count();
    progress.update(
        "audio", std::clamp(elapsed / o.durationS, 0.0, 1.0),
        fmt::format("{:.1f}/{:g} s, {} pkt/s in, {:.0f} pkt/s out, health p99 {:.1f} ms",
                    std::max(0.0, elapsed), o.durationS, r.senders * 50, rxRate,
                    ms(st->healthRun.percentile(0.99))));
  }
  const auto sendEnd = Clock::now();
  const double toolCpuEnd = selfCpuSeconds();
  std::optional<ProcSample> bridgeEnd;
  if (o.bridgePid > 0) {
    bridgeEnd = sampleProcess(o.bridgePid);
  }
  const std::optional<AllocSample> allocEnd = allocFile.sample();
  // In-flight packets land; no more health checks.
  healthOn = false;
  if (httpProbe) {
    httpProbe->setPhase(0);
  }
  const auto drainEnd = Clock::now() + kDrain;
  while (Clock::now() < drainEnd) {
    focus.runOnce(5);
  }
  // The bridge's counters after the audio, before the conference expires. Its
  // per-endpoint figures are the media thread's last report (every
  // stats.interval, 1 s in scripts/load.sh): wait that long after the audio.
  if (!o.statsUrl.empty() && r.statsError.empty()) {
    while (Clock::now() < sendEnd + kStatsSettle) {
      focus.runOnce(5);
    }
    std::string why;
    const auto statsEnd = fetchJson(o.statsUrl, kStatsTimeout, why);
    if (statsEnd) {
      r.bridgeRewriting = statsDelta(statsBefore, statsEnd, "ssrc_rewriting");
    } else {
      r.statsError = why;
    }
  }
  if (!r.statsError.empty()) {
    progress.note(fmt::format("warning: /colibri/stats: {}", r.statsError));
  }
  finish();

  // --- Results --------------------------------------------------------------
  collect();
  r.measureS = std::chrono::duration<double>(sendEnd - sendAt).count();
  for (const auto& s : r.media.senders) {
    r.sentPackets += s.sent;
    r.deliveries += s.deliveries;
    r.lost += s.lost;
    r.notRoutedPackets += s.notRouted;
  }
  r.expectedDeliveries = r.deliveries + r.lost;
  r.lossPct = r.expectedDeliveries == 0
                  ? 0.0
                  : 100.0 * static_cast<double>(r.lost) / static_cast<double>(r.expectedDeliveries);
  if (r.measureS > 0) {
    r.packetsInPerS = static_cast<double>(r.sentPackets) / r.measureS;
    r.packetsOutPerS = static_cast<double>(r.deliveries) / r.measureS;
    r.toolCpuPct = 100.0 * (toolCpuEnd - toolCpuStart) / r.measureS;
  }
  r.decryptFailures = r.media.decryptAuth + r.media.decryptReplay + r.media.decryptOther +
                      r.media.rtcpDecryptFailures;
  if (bridgeBefore && bridgeJoined && bridgeEnd) {
    r.bridgeSampled = true;
    r.rssBeforeKiB = bridgeBefore->rssKiB;
    r.rssJoinedKiB = bridgeJoined->rssKiB;
    r.rssEndKiB = bridgeEnd->rssKiB;
    r.rssPerEndpointKiB =
        (static_cast<double>(bridgeJoined->rssKiB) - static_cast<double>(bridgeBefore->rssKiB)) / n;
    r.bridgeCpuJoinPct = cpuPercent(*bridgeBefore, *bridgeJoined);
    r.bridgeCpuPct = cpuPercent(*bridgeJoined, *bridgeEnd);
  }
  if (allocBefore && allocJoined && allocEnd) {
    if (allocBefore->allocs == 0) {
      // The bridge allocates while it starts: zero means its calls bypass the
      // preload (a sanitizer runtime or a static allocator in the executable).
      r.allocNotMeasured =
          "the preload saw no allocation at all: the bridge's allocator bypasses it";
    } else {
      r.allocMeasured = true;
      r.allocAudio = allocDelta(*allocJoined, *allocEnd);
      r.allocJoin = allocDelta(*allocBefore, *allocJoined);
      r.allocWindowS = std::chrono::duration<double>(allocEnd->at - allocJoined->at).count();
    }
  }
  if (failure) {
    r.failure = *failure;
    return r;
  }
  r.completed = true;

  // Verification: what a correct bridge never does, whatever the load.
  const auto& m = r.media;
  if (m.ownAudio > 0) {
    r.problems.push_back(fmt::format("{} packets reached their own sender", m.ownAudio));
  }
  if (m.unknownSsrc > 0) {
    r.problems.push_back(
        fmt::format("{} packets with an SSRC no sender of this conference uses", m.unknownSsrc));
  }
  if (m.corrupt > 0) {
    r.problems.push_back(
        fmt::format("{} packets with a payload not matching their SSRC", m.corrupt));
  }
  if (r.decryptFailures > 0) {
    r.problems.push_back(fmt::format(
        "{} packets failed SRTP/SRTCP (auth {}, replay {}, other {}, rtcp {})", r.decryptFailures,
        m.decryptAuth, m.decryptReplay, m.decryptOther, m.rtcpDecryptFailures));
  }
  if (o.rewriting) {
    const auto& rw = m.rw;
    // Of the unannounced and wrong-owner packets, those whose mapping came later.
    const std::string late =
        rw.announcedLateNs.count() == 0
            ? std::string()
            : fmt::format("; {} of these packets got their mapping later, p50 {:.2f} ms after",
                          rw.announcedLateNs.count(), ms(rw.announcedLateNs.percentile(0.5)));
    if (rw.unannounced > 0) {
      r.problems.push_back(
          fmt::format("{} packets on an SSRC not announced to their receiver by AudioSourcesMap "
                      "({} of them on the sender's own SSRC){}",
                      rw.unannounced, rw.notRewritten, rw.wrongOwner > 0 ? "" : late));
    }
    if (rw.wrongOwner > 0) {
      r.problems.push_back(
          fmt::format("{} packets whose sender is not the owner AudioSourcesMap announced for "
                      "their SSRC{}",
                      rw.wrongOwner, late));
    }
    if (rw.seqBackwards > 0 || rw.tsBackwards > 0) {
      r.problems.push_back(
          fmt::format("per SSRC, {} sequence numbers and {} timestamps went backwards",
                      rw.seqBackwards, rw.tsBackwards));
    }
    if (rw.badMappings > 0) {
      r.problems.push_back(fmt::format("{} bad AudioSourcesMap entries; first: {}", rw.badMappings,
                                       rw.firstBadMapping));
    }
    if (rw.malformedMessages > 0) {
      r.problems.push_back(fmt::format("{} malformed colibri-ws messages", rw.malformedMessages));
    }
    if (rw.midExtension > 0) {
      r.problems.push_back(
          fmt::format("{} packets to rewriting receivers carried sdes:mid (no rtp-mid-demux)",
                      rw.midExtension));
    }
  }
  if (r.sentPackets > 0 && r.deliveries == 0) {
    r.problems.push_back("no audio packet reached any receiver");
  }
  if (r.healthSent > 0 && r.healthRunNs.count() + r.healthJoinNs.count() == 0) {
    r.problems.push_back("no health-check IQ was answered");
  }
  const bool httpHealthOk =
      !r.httpHealthMeasured ||
      (r.httpHealth.failures == 0 && ms(r.httpHealth.run.percentile(0.99)) < o.maxHealthP99Ms);
  const bool healthOk = r.healthRunNs.count() > 0 && r.healthTimeouts == 0 && r.healthErrors == 0 &&
                        ms(r.healthRunNs.percentile(0.99)) < o.maxHealthP99Ms && httpHealthOk;
  r.held = r.problems.empty() && r.joined == n && r.lost == 0 && m.sendErrors == 0 &&
           (r.sentPackets == 0 || ms(m.latencyNs.percentile(0.99)) < o.maxLatencyP99Ms) && healthOk;
  return r;
}

}  // namespace jvb::load
