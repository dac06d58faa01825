#include "soak_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "report.hpp"

namespace jvb::load {

namespace {

double median(std::vector<double> v) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

}  // namespace

const char* const kSoakCsvHeader =
    "t_s,judged,rss_kib,fds,bridge_cpu_pct,heap_kib,live_allocs,conferences,endpoints,"
    "media_endpoints,rewriting_endpoints,slots_used,churned,churn_joined,ws_reconnects,"
    "source_updates,stable_expected,stable_lost,health_p99_ms\n";

std::string soakCsvRow(const SoakSample& s) {
  return fmt::format("{:.1f},{},{},{},{:.1f},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.1f}\n", s.t,
                     s.judged ? 1 : 0, s.rssKiB, s.fds, s.cpuPct, s.heapKiB, s.liveAllocs,
                     s.conferences, s.endpoints, s.mediaEndpoints, s.channelSockets, s.slotsUsed,
                     s.churned, s.churnJoined, s.reconnects, s.sourceUpdates, s.expected, s.lost,
                     s.healthP99Ms);
}

SoakVerdict judgeSoak(const Options& o, const SoakOutcome& r) {
  SoakVerdict v;
  std::vector<std::string>& problems = v.problems;
  if (r.failure) {
    problems.push_back(*r.failure);
  }
  std::vector<double> tx;
  std::vector<double> rss;
  std::vector<double> heap;
  std::vector<double> live;
  std::vector<double> fds;
  for (const auto& s : r.samples) {
    if (!s.judged) {
      continue;
    }
    tx.push_back(s.t);
    rss.push_back(static_cast<double>(s.rssKiB));
    heap.push_back(static_cast<double>(s.heapKiB));
    live.push_back(static_cast<double>(s.liveAllocs));
    fds.push_back(static_cast<double>(s.fds));
    v.maxEndpoints = std::max(v.maxEndpoints, s.endpoints);
    v.maxMediaEndpoints = std::max(v.maxMediaEndpoints, s.mediaEndpoints);
  }
  v.judgedS = tx.size() >= 2 ? tx.back() - tx.front() : 0;
  v.rssSlope = slope(tx, rss);
  v.heapSlope = slope(tx, heap);
  v.liveSlope = slope(tx, live);
  // A leak per churned endpoint shows as slope / churn rate; without churn the
  // limit is per second.
  const double perEvent = std::max(o.churnRate, 1.0);
  const double leakLimit = o.maxLeakPerChurnKiB * perEvent;  // KiB/s
  const size_t quarter = std::max<size_t>(1, fds.size() / 4);
  v.fdsFirst = median(std::vector<double>(
      fds.begin(), fds.begin() + static_cast<long>(std::min(quarter, fds.size()))));
  v.fdsLast = median(
      std::vector<double>(fds.end() - static_cast<long>(std::min(quarter, fds.size())), fds.end()));
  const bool judged = !r.failure && tx.size() >= 5;
  if (!r.failure && tx.size() < 5) {
    problems.push_back(fmt::format("only {} samples after the warm-up of {:g} s: nothing to judge",
                                   tx.size(), o.warmupS));
  }
  if (judged) {
    if (o.bridgePid > 0 && v.rssSlope > leakLimit) {
      problems.push_back(fmt::format(
          "RSS grows after the warm-up: {:.2f} KiB/s ({:.2f} KiB per churned endpoint; limit {:g})",
          v.rssSlope, v.rssSlope / perEvent, o.maxLeakPerChurnKiB));
    }
    if (!heap.empty() && heap.front() >= 0 && v.heapSlope > leakLimit) {
      problems.push_back(fmt::format(
          "heap in use grows after the warm-up: {:.2f} KiB/s ({:.2f} KiB per churned endpoint; "
          "limit {:g})",
          v.heapSlope, v.heapSlope / perEvent, o.maxLeakPerChurnKiB));
    }
    if (o.bridgePid > 0 && v.fdsLast - v.fdsFirst > o.maxFdGrowth) {
      problems.push_back(
          fmt::format("open fds grow after the warm-up: median {:.0f} -> {:.0f} (limit +{})",
                      v.fdsFirst, v.fdsLast, o.maxFdGrowth));
    }
    const int n = r.endpoints;
    if (v.maxEndpoints > n || v.maxMediaEndpoints > n) {
      problems.push_back(fmt::format(
          "the bridge held more endpoints than the conference has: {} (media thread {}) > {}",
          v.maxEndpoints, v.maxMediaEndpoints, n));
    }
  }
  const EngineResults& media = r.media;
  for (const auto& s : media.senders) {
    v.lost += s.lost;
    v.expected += s.deliveries + s.lost;
  }
  if (!r.failure) {
    if (v.lost > 0) {  // late is not lost: the final count decides
      problems.push_back(fmt::format(
          "{} of {} deliveries between stable endpoints lost ({} lost or later than 5 s in the "
          "series; {} datagrams dropped by our own full receive buffers, a starved host)",
          v.lost, v.expected, r.totals.lost, media.stableSocketDrops));
    }
    if (v.expected == 0) {
      problems.push_back("no audio between stable endpoints");
    }
    const uint64_t decrypt =
        media.decryptAuth + media.decryptReplay + media.decryptOther + media.rtcpDecryptFailures;
    if (decrypt > 0 || media.ownAudio > 0 || media.unknownSsrc > 0 || media.corrupt > 0) {
      problems.push_back(fmt::format(
          "bad packets: {} SRTP/SRTCP failures, {} own audio, {} unknown SSRC, {} corrupt", decrypt,
          media.ownAudio, media.unknownSsrc, media.corrupt));
    }
    const auto& rw = media.rw;
    if (o.rewriting && (rw.unannounced > 0 || rw.wrongOwner > 0 || rw.seqBackwards > 0 ||
                        rw.tsBackwards > 0 || rw.badMappings > 0 || rw.malformedMessages > 0)) {
      problems.push_back(fmt::format(
          "SSRC rewriting checks on stable receivers: {} unannounced, {} wrong owner, {} seq / {} "
          "ts back, {} bad mappings ({}), {} malformed messages",
          rw.unannounced, rw.wrongOwner, rw.seqBackwards, rw.tsBackwards, rw.badMappings,
          rw.firstBadMapping, rw.malformedMessages));
    }
    // The churn must have happened at (nearly) the asked rates.
    const double active = std::max(0.0, o.durationS - 1.0 - 1.0);
    const auto expect = [&](double rate) {
      return static_cast<uint64_t>(std::floor(rate * active * 0.8));
    };
    if (r.churned < expect(o.churnRate)) {
      problems.push_back(fmt::format("only {} churn joins (asked {:g}/s)", r.churned, o.churnRate));
    }
    if (o.rewriting && r.reconnectsDone < expect(o.reconnectRate)) {
      problems.push_back(fmt::format("only {} colibri-ws reconnects (asked {:g}/s)",
                                     r.reconnectsDone, o.reconnectRate));
    }
    if (r.sourceUpdatable && r.sourceUpdatesAcked < expect(o.sourceUpdateRate)) {
      problems.push_back(fmt::format("only {} source updates (asked {:g}/s)", r.sourceUpdatesAcked,
                                     o.sourceUpdateRate));
    }
    if (r.healthTimeouts > 0 || r.healthErrors > 0) {
      problems.push_back(
          fmt::format("health checks: {} timeouts, {} errors", r.healthTimeouts, r.healthErrors));
    }
    if (!r.expireNote.empty()) {
      problems.push_back("expiring the conference failed: " + r.expireNote);
    }
    const SoakSample& after = r.after;
    if (after.conferences != 0 || after.endpoints != 0 || after.mediaEndpoints > 0) {
      problems.push_back(fmt::format(
          "after the conference expired the bridge still reports {} conferences, {} endpoints ({} "
          "on the media thread){}",
          after.conferences, after.endpoints, after.mediaEndpoints,
          r.statsError.empty() ? "" : " (/colibri/stats: " + r.statsError + ")"));
    }
    if (after.fds >= 0 && r.idle.fds >= 0 && after.fds > r.idle.fds + kIdleFdSlack) {
      problems.push_back(fmt::format(
          "after the conference expired the bridge holds {} fds, {} before it (limit +{})",
          after.fds, r.idle.fds, kIdleFdSlack));
    }
  }
  return v;
}

int reportSoak(const Options& o, const SoakOutcome& r, const SoakVerdict& v,
               const std::atomic<bool>& interrupted) {
  const std::vector<std::string>& problems = v.problems;
  const EngineResults& media = r.media;
  const SoakSample& idle = r.idle;
  const SoakSample& after = r.after;
  std::fputs(kSoakCsvHeader, stdout);
  for (const auto& s : r.samples) {
    std::fputs(soakCsvRow(s).c_str(), stdout);
  }
  const auto first = std::find_if(r.samples.begin(), r.samples.end(),
                                  [](const SoakSample& s) { return s.judged; });
  const SoakSample none;
  const SoakSample& a = first == r.samples.end() ? none : *first;
  const SoakSample& b = r.samples.empty() ? none : r.samples.back();
  std::printf(
      "\nsoak: %d endpoints (%d stable, %d speaking, %d churn slots), %.0f s, warm-up %.0f s, "
      "joined in %.2f s\n",
      r.endpoints, r.stable, r.speakers, o.churners, o.durationS, o.warmupS, r.joinS);
  std::printf(
      "churn: %llu endpoints replaced (%llu up again, join p50 %.1f ms, max %.1f ms), %llu "
      "expired; %llu/%llu colibri-ws reconnects; %llu source updates\n",
      static_cast<unsigned long long>(r.churned), static_cast<unsigned long long>(r.churnJoined),
      ms(r.churnJoinNs.percentile(0.5)), ms(r.churnJoinNs.max()),
      static_cast<unsigned long long>(r.endpointsExpired),
      static_cast<unsigned long long>(r.reconnectsDone),
      static_cast<unsigned long long>(r.reconnectsStarted),
      static_cast<unsigned long long>(r.sourceUpdatesAcked));
  std::printf(
      "bridge after the warm-up (%.0f s judged): RSS %lld -> %lld KiB (slope %.2f KiB/s), heap in "
      "use %lld -> %lld KiB (slope %.2f KiB/s), live allocations %lld -> %lld (slope %.2f/s), "
      "fds median %.0f -> %.0f, endpoints max %lld\n",
      v.judgedS, static_cast<long long>(a.rssKiB), static_cast<long long>(b.rssKiB), v.rssSlope,
      static_cast<long long>(a.heapKiB), static_cast<long long>(b.heapKiB), v.heapSlope,
      static_cast<long long>(a.liveAllocs), static_cast<long long>(b.liveAllocs), v.liveSlope,
      v.fdsFirst, v.fdsLast, static_cast<long long>(v.maxEndpoints));
  std::printf(
      "bridge idle before / after the conference: fds %lld / %lld, conferences %lld, endpoints "
      "%lld, media endpoints %lld, RSS %lld / %lld KiB\n",
      static_cast<long long>(idle.fds), static_cast<long long>(after.fds),
      static_cast<long long>(after.conferences), static_cast<long long>(after.endpoints),
      static_cast<long long>(after.mediaEndpoints), static_cast<long long>(idle.rssKiB),
      static_cast<long long>(after.rssKiB));
  std::printf(
      "stable endpoints: %llu deliveries, %llu lost, %llu withheld as new SSRCs'; latency p50 "
      "%.2f ms p99 %.2f ms max %.2f ms; churn slots received %llu packets; health p99 %.1f ms; "
      "dropped by our receive buffers %llu\n",
      static_cast<unsigned long long>(v.expected - v.lost), static_cast<unsigned long long>(v.lost),
      static_cast<unsigned long long>(media.rw.withheld), ms(media.latencyNs.percentile(0.5)),
      ms(media.latencyNs.percentile(0.99)), ms(media.latencyNs.max()),
      static_cast<unsigned long long>(media.rtpReceived), ms(r.health.percentile(0.99)),
      static_cast<unsigned long long>(media.socketDrops));
  std::printf(
      "control plane while churning: Colibri2 RTT %s (%llu answers); health IQ %s; GET "
      "/about/health %s, %llu of %llu failed\n",
      histText(r.churnColibri).c_str(), static_cast<unsigned long long>(r.churnColibri.count()),
      histText(r.churnHealth).c_str(), histText(r.httpHealth.run).c_str(),
      static_cast<unsigned long long>(r.httpHealth.failures),
      static_cast<unsigned long long>(r.httpHealth.sent));
  for (const auto& p : problems) {
    std::printf("FAIL: %s\n", p.c_str());
  }
  std::printf("soak: %s\n", problems.empty() ? "PASS" : "FAIL");
  std::fflush(stdout);

  if (!o.jsonPath.empty()) {
    nlohmann::json j;
    j["passed"] = problems.empty();
    j["completed"] = !r.failure.has_value();
    j["problems"] = problems;
    j["endpoints"] = r.endpoints;
    j["stable"] = r.stable;
    j["speakers"] = r.speakers;
    j["churners"] = o.churners;
    j["duration_s"] = o.durationS;
    j["warmup_s"] = o.warmupS;
    j["join_s"] = r.joinS;
    j["churned"] = r.churned;
    j["churn_joined"] = r.churnJoined;
    j["endpoints_expired"] = r.endpointsExpired;
    j["ws_reconnects"] = r.reconnectsDone;
    j["ws_reconnects_started"] = r.reconnectsStarted;
    j["source_updates"] = r.sourceUpdatesAcked;
    j["stable_deliveries"] = v.expected - v.lost;
    j["stable_lost"] = v.lost;
    j["withheld"] = media.rw.withheld;
    j["socket_drops"] = media.socketDrops;
    j["stable_socket_drops"] = media.stableSocketDrops;
    j["stable_lost_finalized"] = r.totals.lost;
    j["rss_slope_kib_s"] = v.rssSlope;
    j["heap_slope_kib_s"] = v.heapSlope;
    j["live_allocs_slope_s"] = v.liveSlope;
    j["fds_median_first"] = v.fdsFirst;
    j["fds_median_last"] = v.fdsLast;
    j["max_endpoints"] = v.maxEndpoints;
    j["while_churning"] = {{"colibri2_rtt", histJson(r.churnColibri)},
                           {"health_iq_rtt", histJson(r.churnHealth)},
                           {"about_health_rtt", histJson(r.httpHealth.run)},
                           {"about_health_failures", r.httpHealth.failures}};
    j["idle"] = {{"fds", idle.fds}, {"rss_kib", idle.rssKiB}};
    j["after"] = {{"fds", after.fds},
                  {"conferences", after.conferences},
                  {"endpoints", after.endpoints},
                  {"media_endpoints", after.mediaEndpoints},
                  {"rss_kib", after.rssKiB}};
    j["samples"] = nlohmann::json::array();
    for (const auto& s : r.samples) {
      j["samples"].push_back({{"t", s.t},
                              {"judged", s.judged},
                              {"rss_kib", s.rssKiB},
                              {"fds", s.fds},
                              {"heap_kib", s.heapKiB},
                              {"live_allocs", s.liveAllocs},
                              {"endpoints", s.endpoints},
                              {"media_endpoints", s.mediaEndpoints},
                              {"expected", s.expected},
                              {"lost", s.lost}});
    }
    std::ofstream f(o.jsonPath, std::ios::trunc);
    f << j.dump(1) << "\n";
    if (!f) {
      std::fprintf(stderr, "jvb-audio-load: cannot write %s\n", o.jsonPath.c_str());
      return 1;
    }
  }
  if (interrupted.load()) {
    return 130;
  }
  if (!problems.empty()) {
    std::fprintf(stderr, "jvb-audio-load: soak failed: %s\n", problems[0].c_str());
    return 1;
  }
  return 0;
}

}  // namespace jvb::load
