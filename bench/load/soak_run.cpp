#include "soak_run.hpp"

#include <dirent.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>

#include "bridge_stats.hpp"
#include "colibri2_client.hpp"
#include "histogram.hpp"
#include "ids.hpp"
#include "media_engine.hpp"
#include "proc_stats.hpp"
#include "soak_report.hpp"

namespace jvb::load {

namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr int kMaxHealthInFlight = 50;
constexpr auto kExpireWait = milliseconds(5000);
constexpr auto kStatsTimeout = milliseconds(3000);
constexpr double kWithheldSlackMs = 100;
// After the conference expired: how long the bridge may take to close what it
// held (colibri-ws close handshakes, the media thread's removal), until its fds
// are back within kIdleFdSlack (soak_report.hpp) of its idle count.
constexpr auto kSettleLimit = milliseconds(8000);

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

int64_t countFds(int pid) {
  DIR* d = opendir(fmt::format("/proc/{}/fd", pid).c_str());
  if (d == nullptr) {
    return -1;
  }
  int64_t n = 0;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') {
      ++n;
    }
  }
  closedir(d);
  return n;
}

int64_t jsonInt(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : -1;
}

int64_t jsonInt(const nlohmann::json& j, const char* block, const char* key) {
  const auto it = j.find(block);
  return it != j.end() && it->is_object() ? jsonInt(*it, key) : -1;
}

// Per endpoint slot, on the owner's thread.
struct Slot {
  uint32_t generation = 0;
  bool joining = true;  // allocated, not yet up
  bool updateAcked = false;
  Clock::time_point startedAt{};
};

// Shared with the IQ callbacks (a reply after the run finds it closed).
struct State {
  bool closed = false;
  std::string colibriError;
  bool conferenceCreated = false;
  std::vector<Slot> slots;
  Histogram allocRtt;
  Histogram updateRtt;
  Histogram expireRtt;
  Histogram sourcesRtt;
  // The control plane while the media flows and endpoints churn (the
  // saturation check of README "Load testing"): every Colibri2 round trip and
  // health IQ answered in that phase.
  bool churnPhase = false;
  Histogram churnColibri;
  Histogram churnHealth;
  void addColibri(Histogram& h, const IqOutcome& out) {
    const auto ns = static_cast<uint64_t>(out.rtt.count());
    h.add(ns);
    if (churnPhase) {
      churnColibri.add(ns);
    }
  }
  uint64_t sourceUpdatesAcked = 0;
  uint64_t endpointsExpired = 0;
  int healthInFlight = 0;
  Histogram health;          // the whole run
  Histogram healthInterval;  // since the last sample
  uint64_t healthSent = 0;
  uint64_t healthTimeouts = 0;
  uint64_t healthErrors = 0;
  bool expireAnswered = false;
  bool expired = false;
  std::string expireError;
};

}  // namespace

double slope(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = std::min(x.size(), y.size());
  if (n < 2) {
    return 0;
  }
  double mx = 0;
  double my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0;
  double sxx = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx == 0 ? 0 : sxy / sxx;
}

int runSoak(const Options& o, Focus& focus, const dtls::Context& dtls, Progress& progress,
            const std::atomic<bool>& interrupted) {
  const int n = o.endpoints;
  const int stable = n - o.churners;
  const int speakers = std::min(o.speakers, stable);
  EngineConfig cfg;
  cfg.endpoints = n;
  cfg.stable = stable;
  cfg.senderOf.assign(static_cast<size_t>(n), -1);
  cfg.speakers = speakers;
  std::vector<bool> speaks(static_cast<size_t>(n), false);
  for (int j = 0; j < speakers; ++j) {
    const int ep = static_cast<int>(static_cast<int64_t>(j) * stable / speakers);
    cfg.senderOf[static_cast<size_t>(ep)] = static_cast<int>(cfg.senderEndpoint.size());
    cfg.senderEndpoint.push_back(ep);
    cfg.senderSpeaks.push_back(true);
    speaks[static_cast<size_t>(ep)] = true;
  }
  const uint64_t rnd = randomU64();
  // Room for every endpoint's SSRC and the churn slots' later ones (media_engine.cpp).
  cfg.ssrcBase = 1 + static_cast<uint32_t>(rnd % 0x7FFFFFFFULL);
  cfg.seed = rnd >> 32;
  cfg.payloadBytes = o.payloadBytes;
  cfg.framesPerSlot = static_cast<uint32_t>(std::max(1.0, std::round(o.rotateS * 50)));
  cfg.handshakeTimeout = milliseconds(static_cast<int64_t>(o.connectTimeoutS * 1000));
  cfg.rewriting = o.rewriting;
  cfg.withheldWindowFrames =
      o.rewriting ? static_cast<uint32_t>(std::ceil((o.newSsrcDelayMs + kWithheldSlackMs) / 20))
                  : 0;
  cfg.finalizeLagFrames = 250;  // 5 s: a frame's packets have landed, even on a loaded host
  // Muted stable endpoints take the source updates.
  std::vector<int> updatable;
  for (int i = 0; i < stable; ++i) {
    if (!speaks[static_cast<size_t>(i)]) {
      updatable.push_back(i);
    }
  }
  // Source updates come in pairs on one endpoint (a fresh extra SSRC added,
  // then removed), then the next: what the bridge holds for them stays
  // constant, so that their state does not pass for growth.
  uint64_t updatesSent = 0;

  auto st = std::make_shared<State>();
  st->slots.resize(static_cast<size_t>(n));
  const std::string meetingId = uuid();
  auto engine = std::make_shared<MediaEngine>(cfg, dtls);
  engine->start();
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
    focus.sendToBridge("get", healthCheckXml(), healthTimeout, [st](const IqOutcome& out) {
      --st->healthInFlight;
      if (out.kind == IqOutcome::Kind::kResult) {
        st->health.add(static_cast<uint64_t>(out.rtt.count()));
        st->healthInterval.add(static_cast<uint64_t>(out.rtt.count()));
        if (st->churnPhase) {
          st->churnHealth.add(static_cast<uint64_t>(out.rtt.count()));
        }
      } else if (out.kind == IqOutcome::Kind::kError) {
        ++st->healthErrors;
      } else if (out.kind == IqOutcome::Kind::kTimeout) {
        ++st->healthTimeouts;
      }
    });
  };
  const auto colibriFailed = [st](std::string what) {
    if (st->colibriError.empty()) {
      st->colibriError = std::move(what);
    }
  };

  // Endpoint create, then (on its answer) ICE/DTLS/colibri-ws and the
  // transport update, for slot i's current generation.
  const auto sendAllocate = [&](int i) {
    Slot& slot = st->slots[static_cast<size_t>(i)];
    slot.joining = true;
    slot.updateAcked = false;
    slot.startedAt = Clock::now();
    const uint32_t gen = slot.generation;
    const auto& local = engine->local(i);
    const std::optional<std::string> room =
        st->conferenceCreated ? std::nullopt
                              : std::optional<std::string>(fmt::format(
                                    "soak-{}@conference.{}", meetingId.substr(0, 8), o.domain));
    focus.sendToBridge(
        "get", allocateXml(meetingId, room, local.id, local.ssrc, o.rewriting), iqTimeout,
        [st, engine, i, gen, iqTimeout, &focus, &meetingId, colibriFailed](const IqOutcome& out) {
          if (st->closed) {
            return;
          }
          st->addColibri(st->allocRtt, out);
          const auto loc = engine->local(i);  // a copy: recycle() may replace it
          if (out.kind != IqOutcome::Kind::kResult) {
            colibriFailed(
                fmt::format("Colibri2 endpoint create for {} failed: {}", loc.id, out.describe()));
            return;
          }
          std::string why;
          auto t = parseBridgeTransport(out.stanza, loc.id, why);
          if (!t) {
            colibriFailed(fmt::format("Colibri2 answer for {}: {}", loc.id, why));
            return;
          }
          st->conferenceCreated = true;
          engine->connect(i, std::move(*t), gen);
          focus.sendToBridge(
              "get",
              transportXml(meetingId, loc.id, loc.ice.ufrag, loc.ice.pwd, engine->fingerprint(),
                           loc.port),
              iqTimeout, [st, i, gen, id = loc.id, colibriFailed](const IqOutcome& upd) {
                if (st->closed) {
                  return;
                }
                st->addColibri(st->updateRtt, upd);
                if (upd.kind != IqOutcome::Kind::kResult) {
                  colibriFailed(fmt::format("Colibri2 transport update for {} failed: {}", id,
                                            upd.describe()));
                  return;
                }
                Slot& s = st->slots[static_cast<size_t>(i)];
                if (s.generation == gen) {
                  s.updateAcked = true;
                }
              });
        });
  };

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
    if (engine->failed() > 0) {
      return fmt::format("{} failed for {} endpoint(s); first: {}",
                         o.rewriting ? "ICE/DTLS/colibri-ws" : "ICE/DTLS", engine->failed(),
                         engine->firstFailure());
    }
    return std::nullopt;
  };

  // Samples.
  AllocCounterFile allocFile;
  std::string allocWhy;
  const bool allocOk = !o.allocCountFile.empty() && allocFile.open(o.allocCountFile, allocWhy);
  std::vector<SoakSample> samples;
  std::optional<ProcSample> lastProc;
  StableTotals lastTotals;
  std::string statsError;
  Clock::time_point audioStart{};
  const auto sampleBridge = [&](SoakSample& s) {
    if (o.bridgePid > 0) {
      if (const auto p = sampleProcess(o.bridgePid)) {
        s.rssKiB = static_cast<int64_t>(p->rssKiB);
        if (lastProc) {
          s.cpuPct = cpuPercent(*lastProc, *p);
        }
        lastProc = p;
      }
      s.fds = countFds(o.bridgePid);
    }
    if (!o.statsUrl.empty()) {
      std::string why;
      if (const auto j = fetchJson(o.statsUrl, kStatsTimeout, why)) {
        const int64_t heap = jsonInt(*j, "heap_bytes_in_use");
        s.heapKiB = heap < 0 ? -1 : heap / 1024;
        s.conferences = jsonInt(*j, "conferences");
        s.endpoints = jsonInt(*j, "endpoints");
        s.mediaEndpoints = jsonInt(*j, "media", "endpoints");
        s.slotsUsed = jsonInt(*j, "ssrc_rewriting", "slots_used");
        s.channelSockets = jsonInt(*j, "ssrc_rewriting", "endpoints");
      } else if (statsError.empty()) {
        statsError = why;
      }
    }
    if (allocOk) {
      if (const auto a = allocFile.sample()) {
        s.liveAllocs = static_cast<int64_t>(a->allocs) - static_cast<int64_t>(a->frees);
      }
    }
  };
  SoakSample idleSample;
  sampleBridge(idleSample);

  std::FILE* csv = std::fopen(o.soakCsvPath.c_str(), "w");
  if (csv == nullptr) {
    std::fprintf(stderr, "jvb-audio-load: cannot write %s\n", o.soakCsvPath.c_str());
    return 1;
  }
  std::fputs(kSoakCsvHeader, csv);

  uint64_t churned = 0;
  uint64_t churnJoined = 0;
  Histogram churnJoinNs;
  std::optional<std::string> failure;

  std::optional<HttpProbe> httpProbe;
  if (!o.healthUrl.empty()) {
    httpProbe.emplace(o.healthUrl, milliseconds(static_cast<int64_t>(o.healthIntervalMs)),
                      healthTimeout);
    httpProbe->setPhase(1);
  }

  // --- Join: every endpoint once ---------------------------------------------
  const auto joinStart = Clock::now();
  const auto joinLimit = joinStart + nanoseconds(static_cast<int64_t>(n / o.joinRate * 1e9)) +
                         milliseconds(100) * n + iqTimeout * 2 +
                         milliseconds(static_cast<int64_t>(o.connectTimeoutS * 1000)) +
                         milliseconds(10000);
  int nextToSend = 0;
  sendAllocate(nextToSend++);
  while (true) {
    focus.runOnce(1);
    const auto now = Clock::now();
    if ((failure = hardFailure())) {
      break;
    }
    maybeHealth(now);
    if (st->conferenceCreated) {
      const int inFlight = static_cast<int>(focus.inFlight()) - st->healthInFlight;
      int burst = 0;
      while (nextToSend < n && burst < 64 && inFlight + burst < o.maxInFlight &&
             now >= joinStart + nanoseconds(static_cast<int64_t>(nextToSend / o.joinRate * 1e9))) {
        sendAllocate(nextToSend++);
        ++burst;
      }
    }
    int up = 0;
    for (int i = 0; i < nextToSend; ++i) {
      const Slot& s = st->slots[static_cast<size_t>(i)];
      up += engine->ready(i, s.generation) && s.updateAcked ? 1 : 0;
    }
    progress.update("join", static_cast<double>(up) / n,
                    fmt::format("{}/{} up, {:.1f} s", up, n, seconds(now - joinStart)));
    if (up == n) {
      break;
    }
    if (now > joinLimit) {
      failure = fmt::format("only {} of {} endpoints came up within {:.0f} s ({})", up, n,
                            seconds(joinLimit - joinStart), engine->pendingSummary());
      break;
    }
  }
  for (auto& s : st->slots) {
    s.joining = false;
  }
  const double joinS = seconds(Clock::now() - joinStart);
  if (!failure) {
    progress.note(
        fmt::format("soak: {} endpoints up in {:.2f} s ({} stable, {} speaking; {} churn "
                    "slots); {:g} s of churn follow",
                    n, joinS, stable, speakers, o.churners, o.durationS));
  }

  // --- Soak ------------------------------------------------------------------
  const auto frames = static_cast<uint32_t>(std::max(1.0, std::round(o.durationS * 50)));
  const auto every = [](double rate) {
    return rate > 0 ? nanoseconds(static_cast<int64_t>(1e9 / rate)) : nanoseconds::max();
  };
  const auto churnEvery = every(o.churnRate);
  const auto reconnectEvery = every(o.rewriting ? o.reconnectRate : 0);
  const auto updateEvery = every(updatable.empty() ? 0 : o.sourceUpdateRate);
  const auto sampleEvery = nanoseconds(static_cast<int64_t>(o.sampleIntervalS * 1e9));
  int nextChurn = stable;
  int nextReconnect = 0;
  Clock::time_point sendEndAt{};
  if (!failure) {
    audioStart = Clock::now() + milliseconds(20);
    engine->startSending(audioStart, frames);
    sendEndAt = audioStart + milliseconds(frames * 20LL);
    auto churnAt = audioStart + churnEvery / 2;
    auto reconnectAt = audioStart + reconnectEvery / 3;
    auto updateAt = audioStart + updateEvery / 4;
    auto sampleAt = audioStart;
    st->churnPhase = true;
    if (httpProbe) {
      httpProbe->setPhase(2);
    }
    lastProc = o.bridgePid > 0 ? sampleProcess(o.bridgePid) : std::nullopt;
    while (true) {
      focus.runOnce(1);
      const auto now = Clock::now();
      if (engine->sendingDone() && now >= sendEndAt) {
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
      const bool churning = now < sendEndAt - milliseconds(1000);  // the last second is quiet
      // Churn: the next churn slot that is up leaves; a new endpoint takes it.
      if (churning && o.churnRate > 0 && now >= churnAt) {
        churnAt += churnEvery;
        for (int tries = 0; tries < o.churners; ++tries) {
          const int i = nextChurn;
          nextChurn = nextChurn + 1 >= n ? stable : nextChurn + 1;
          Slot& s = st->slots[static_cast<size_t>(i)];
          if (s.joining) {
            continue;
          }
          const std::string oldId = engine->local(i).id;
          s.generation = engine->recycle(i);
          ++churned;
          focus.sendToBridge("get", expireEndpointXml(meetingId, oldId), iqTimeout,
                             [st, oldId, colibriFailed](const IqOutcome& out) {
                               if (st->closed) {
                                 return;
                               }
                               st->addColibri(st->expireRtt, out);
                               if (out.kind != IqOutcome::Kind::kResult) {
                                 colibriFailed(fmt::format("Colibri2 expire of {} failed: {}",
                                                           oldId, out.describe()));
                                 return;
                               }
                               ++st->endpointsExpired;
                             });
          sendAllocate(i);
          break;
        }
      }
      for (int i = stable; i < n; ++i) {
        Slot& s = st->slots[static_cast<size_t>(i)];
        if (!s.joining) {
          continue;
        }
        if (engine->ready(i, s.generation) && s.updateAcked) {
          s.joining = false;
          ++churnJoined;
          churnJoinNs.add(static_cast<uint64_t>((now - s.startedAt).count()));
        } else if (now - s.startedAt >
                   milliseconds(static_cast<int64_t>(o.connectTimeoutS * 1000)) + iqTimeout) {
          failure = fmt::format("churn endpoint {} did not come up within {:g} s ({})",
                                engine->local(i).id, o.connectTimeoutS, engine->pendingSummary());
          break;
        }
      }
      if (failure) {
        break;
      }
      if (churning && now >= reconnectAt) {
        reconnectAt += reconnectEvery;
        engine->reconnectChannel(nextReconnect);
        nextReconnect = (nextReconnect + 1) % stable;
      }
      if (churning && now >= updateAt) {
        updateAt += updateEvery;
        const int i = updatable[(updatesSent / 2) % updatable.size()];
        const bool add = updatesSent % 2 == 0;
        const auto& loc = engine->local(i);
        std::vector<uint32_t> ssrcs{loc.ssrc};
        if (add) {
          // Below every endpoint's SSRC (media_engine.cpp), a new one each time.
          ssrcs.push_back(cfg.ssrcBase - 1 - static_cast<uint32_t>(updatesSent / 2 % 0x40000000));
        }
        ++updatesSent;
        focus.sendToBridge("get", sourcesXml(meetingId, loc.id, ssrcs), iqTimeout,
                           [st, id = loc.id, colibriFailed](const IqOutcome& out) {
                             if (st->closed) {
                               return;
                             }
                             st->addColibri(st->sourcesRtt, out);
                             if (out.kind != IqOutcome::Kind::kResult) {
                               colibriFailed(fmt::format("Colibri2 source update of {} failed: {}",
                                                         id, out.describe()));
                               return;
                             }
                             ++st->sourceUpdatesAcked;
                           });
      }
      if (now >= sampleAt) {
        sampleAt += sampleEvery;
        SoakSample s;
        s.t = seconds(now - audioStart);
        s.judged = s.t >= o.warmupS;
        sampleBridge(s);
        const StableTotals t = engine->finalized();
        s.expected = t.expected - lastTotals.expected;
        s.lost = t.lost - lastTotals.lost;
        lastTotals = t;
        s.churned = churned;
        s.churnJoined = churnJoined;
        s.reconnects = engine->channelReconnects();
        s.sourceUpdates = st->sourceUpdatesAcked;
        s.healthP99Ms = ms(st->healthInterval.percentile(0.99));
        st->healthInterval = Histogram{};
        std::fputs(soakCsvRow(s).c_str(), csv);
        std::fflush(csv);
        samples.push_back(s);
        progress.update(
            "soak", std::clamp(s.t / o.durationS, 0.0, 1.0),
            fmt::format("{:.0f}/{:g} s, RSS {} KiB, fds {}, endpoints {}, churned {}, lost {}", s.t,
                        o.durationS, s.rssKiB, s.fds, s.endpoints, churned, t.lost));
      }
    }
  }
  // Drain: in-flight packets land, the last frames become final.
  healthOn = false;
  st->churnPhase = false;
  HttpProbe::Results httpHealth = httpProbe ? httpProbe->results() : HttpProbe::Results{};
  httpProbe.reset();
  // (2 s: the packets a contended host still holds in the bridge's or our queues.)
  const auto drainEnd = Clock::now() + milliseconds(2000);
  while (Clock::now() < drainEnd) {
    focus.runOnce(5);
  }
  engine->finalizeAll();
  const auto settle = Clock::now() + milliseconds(100);
  while (Clock::now() < settle) {
    focus.runOnce(5);
  }
  const uint64_t reconnectsStarted = engine->channelReconnectsStarted();
  const uint64_t reconnectsDone = engine->channelReconnects();
  const StableTotals totals = engine->finalized();
  engine->stop();
  EngineResults media = engine->results(false);
  // Close every socket of ours (UDP and colibri-ws) before the expire, so that
  // the bridge's descriptors can go back to its idle count.
  st->closed = true;
  engine.reset();
  std::string expireNote;
  if (st->conferenceCreated && focus.connected()) {
    focus.sendToBridge("get", expireConferenceXml(meetingId), kExpireWait,
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
      expireNote = st->expireError.empty() ? "no answer" : st->expireError;
    }
  }
  // After the expire: wait (bounded) until the bridge holds nothing of it.
  SoakSample after;
  const auto settleEnd = Clock::now() + kSettleLimit;
  while (true) {
    after = SoakSample{};
    sampleBridge(after);
    const bool clean =
        after.conferences == 0 && after.endpoints == 0 && after.mediaEndpoints <= 0 &&
        (after.fds < 0 || idleSample.fds < 0 || after.fds <= idleSample.fds + kIdleFdSlack);
    if (clean || Clock::now() >= settleEnd || !focus.connected()) {
      break;
    }
    const auto pause = Clock::now() + milliseconds(250);
    while (Clock::now() < pause) {
      focus.runOnce(5);
    }
  }
  progress.done();
  std::fclose(csv);

  // --- Verdict and report (soak_report.cpp) ---------------------------------
  const SoakOutcome outcome{
      .endpoints = n,
      .stable = stable,
      .speakers = speakers,
      .joinS = joinS,
      .failure = std::move(failure),
      .samples = std::move(samples),
      .idle = idleSample,
      .after = after,
      .statsError = std::move(statsError),
      .expireNote = std::move(expireNote),
      .media = std::move(media),
      .totals = totals,
      .reconnectsStarted = reconnectsStarted,
      .reconnectsDone = reconnectsDone,
      .churned = churned,
      .churnJoined = churnJoined,
      .churnJoinNs = churnJoinNs,
      .endpointsExpired = st->endpointsExpired,
      .sourceUpdatable = !updatable.empty(),
      .sourceUpdatesAcked = st->sourceUpdatesAcked,
      .health = st->health,
      .healthTimeouts = st->healthTimeouts,
      .healthErrors = st->healthErrors,
      .churnColibri = st->churnColibri,
      .churnHealth = st->churnHealth,
      .httpHealth = std::move(httpHealth),
  };
  const SoakVerdict verdict = judgeSoak(o, outcome);
  return reportSoak(o, outcome, verdict, interrupted);
}

}  // namespace jvb::load
