#include "report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "colibri2_client.hpp"

namespace jvb::load {

namespace {

double pct(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

const char* routingName(Routing r) {
  return r == Routing::kLoudest ? "loudest" : "all";
}

std::string jsonNumber(const nlohmann::json& v) {
  if (v.is_number_integer()) {
    return v.dump();
  }
  if (v.is_number()) {
    return fmt::format("{:g}", v.get<double>());
  }
  return v.dump();
}

// "endpoints 6, slots_used 10 (+10), ..." from statsDelta()'s object.
std::string bridgeBlockText(const nlohmann::json& b) {
  std::string out;
  const auto& during = b["during_run"];
  for (const auto& [key, value] : b["at_end"].items()) {
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", key, jsonNumber(value));
    if (const auto d = during.find(key); d != during.end() && d->is_number()) {
      const bool neg = d->is_number_integer() ? d->get<int64_t>() < 0 : d->get<double>() < 0;
      out += fmt::format(" ({}{})", neg ? "" : "+", jsonNumber(*d));
    }
  }
  return out;
}

double per(uint64_t count, double whole) {
  return whole > 0 ? static_cast<double>(count) / whole : 0.0;
}

// "0.0123" per packet: enough digits to see an allocation every few hundred.
std::string perPacket(uint64_t count, uint64_t packets) {
  if (packets == 0) {
    return "n/a (no packet forwarded)";
  }
  return fmt::format("{:.4f}", per(count, static_cast<double>(packets)));
}

}  // namespace

nlohmann::json histJson(const Histogram& h) {
  return {{"count", h.count()},
          {"p50_ms", ms(h.percentile(0.50))},
          {"p99_ms", ms(h.percentile(0.99))},
          {"max_ms", ms(h.max())},
          {"mean_ms", h.mean() / 1e6}};
}

std::string histText(const Histogram& h) {
  if (h.count() == 0) {
    return "none";
  }
  return fmt::format("p50 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms", ms(h.percentile(0.5)),
                     ms(h.percentile(0.99)), ms(h.max()));
}

int capacity(const std::vector<RunResult>& runs) {
  int best = 0;
  for (const auto& r : runs) {
    if (r.completed && r.held) {
      best = std::max(best, r.endpoints);
    }
  }
  return best;
}

void printSummary(std::FILE* out, const Options& o, const RunResult& r) {
  fmt::print(out, "jvb-audio-load: {} endpoints, {} speakers{}, {:g} s, {}, routing {}{}\n",
             r.endpoints, r.speakers,
             r.senders > r.speakers ? fmt::format(" + {} silent", r.senders - r.speakers) : "",
             o.durationS, profileName(o.profile), routingName(o.routing),
             o.rewriting ? ", SSRC rewriting" : "");
  fmt::print(out, "  join      {}/{} connected in {:.2f} s at {:g}/s; per endpoint {}\n", r.joined,
             r.endpoints, r.joinTotalS, o.joinRate, histText(r.joinNs));
  fmt::print(out, "            Colibri2 RTT: endpoint create {}; transport update {}\n",
             histText(r.allocRttNs), histText(r.updateRttNs));
  if (o.rewriting) {
    fmt::print(out, "            colibri-ws ServerHello after allocation: {}\n",
               histText(r.channelNs));
  }
  if (!r.completed) {
    fmt::print(out, "  FAILED    {}\n", r.failure);
    return;
  }
  const auto& m = r.media;
  fmt::print(out,
             "  packets   in {:.0f}/s (endpoints -> bridge), out {:.0f}/s (bridge -> endpoints), "
             "over {:.2f} s\n",
             r.packetsInPerS, r.packetsOutPerS, r.measureS);
  fmt::print(out,
             "  delivery  {} of {} expected (loss {:.3f}%, {} lost); packets routed to nobody {}; "
             "seq gaps {}{}, reordered {}\n",
             r.deliveries, r.expectedDeliveries, r.lossPct, r.lost, r.notRoutedPackets, m.seqGaps,
             o.rewriting ? " (per SSRC)" : "", o.rewriting ? m.rw.seqBackwards : m.reordered);
  fmt::print(out,
             "  checks    decrypt failures {}, unknown SSRC {}, own audio {}, corrupt {}, "
             "missing audio level {}, send errors {}\n",
             r.decryptFailures, m.unknownSsrc, m.ownAudio, m.corrupt, m.missingLevel, m.sendErrors);
  fmt::print(out, "  latency   {} ({} packets, send -> kernel receive stamp)\n",
             histText(m.latencyNs), m.latencyNs.count());
  fmt::print(out, "            {} as seen by the tool's media thread\n", histText(m.toolLatencyNs));
  fmt::print(out,
             "  health    {} IQs: RTT {} while audio flowed; {} while joining; {} timeouts, {} "
             "errors\n",
             r.healthSent, histText(r.healthRunNs), histText(r.healthJoinNs), r.healthTimeouts,
             r.healthErrors);
  fmt::print(
      out,
      "            server ping (Prosody and the tool alone): {} while audio flowed; {} while "
      "joining; {} timeouts\n",
      histText(r.pingRunNs), histText(r.pingJoinNs), r.pingTimeouts);
  if (r.httpHealthMeasured) {
    fmt::print(out,
               "            GET /about/health: {} while audio flowed; {} while joining; {} of {} "
               "failed{}\n",
               histText(r.httpHealth.run), histText(r.httpHealth.join), r.httpHealth.failures,
               r.httpHealth.sent,
               r.httpHealth.firstFailure.empty()
                   ? std::string()
                   : fmt::format(" (first: {})", r.httpHealth.firstFailure));
  }
  fmt::print(out, "            the tool's focus loop turns (1 ms wait): {}\n",
             histText(r.focusTurnNs));
  if (r.bridgeSampled) {
    fmt::print(out,
               "  bridge    pid {}: CPU {:.1f}% of one core (join phase {:.1f}%), RSS {:.1f} MiB "
               "(before {:.1f}, joined {:.1f}: {:+.1f} KiB per endpoint)\n",
               o.bridgePid, r.bridgeCpuPct, r.bridgeCpuJoinPct,
               static_cast<double>(r.rssEndKiB) / 1024, static_cast<double>(r.rssBeforeKiB) / 1024,
               static_cast<double>(r.rssJoinedKiB) / 1024, r.rssPerEndpointKiB);
  } else {
    fmt::print(out, "  bridge    not sampled (no --bridge-pid)\n");
  }
  if (r.allocMeasured) {
    const auto& a = r.allocAudio;
    fmt::print(out,
               "  allocs    bridge heap allocations over the audio: {} ({:.0f}/s, {:.1f} KiB/s), "
               "{} per forwarded packet ({} per packet in); media thread {} ({:.0f}/s), {} per "
               "forwarded packet\n",
               a.allocs, per(a.allocs, r.allocWindowS), per(a.bytes, r.allocWindowS) / 1024,
               perPacket(a.allocs, r.deliveries), perPacket(a.allocs, r.sentPackets), a.mediaAllocs,
               per(a.mediaAllocs, r.allocWindowS), perPacket(a.mediaAllocs, r.deliveries));
    fmt::print(
        out,
        "            (the idle background, STUN consent, RTCP, health IQs, stats, "
        "included; join phase {} = {:.1f} per endpoint){}\n",
        r.allocJoin.allocs, per(r.allocJoin.allocs, r.endpoints),
        o.bridgePid > 0 && r.allocPid != o.bridgePid
            ? fmt::format("; counted in pid {}, not --bridge-pid {}", r.allocPid, o.bridgePid)
            : "");
  } else {
    fmt::print(out, "  allocs    bridge heap allocations not measured ({})\n",
               r.allocNotMeasured.empty() ? "not sampled" : r.allocNotMeasured);
  }
  fmt::print(out, "  tool      CPU {:.1f}% of one core\n", r.toolCpuPct);
  if (o.rewriting) {
    const auto& rw = m.rw;
    fmt::print(out,
               "  rewriting colibri-ws {} open, {} ServerHello, {} messages ({} malformed); "
               "AudioSourcesMap {} messages, {} entries: {} mappings, {} remaps, {} repeated, {} "
               "bad\n",
               rw.channelsOpen, rw.serverHellos, rw.messages, rw.malformedMessages, rw.mapsReceived,
               rw.mapEntries, rw.mappings, rw.remaps, rw.repeated, rw.badMappings);
    fmt::print(out,
               "            unannounced {} (on the sender's own SSRC {}), wrong owner {}, seq "
               "backwards {}, ts backwards {}; sdes:mid {}, other extensions {}\n",
               rw.unannounced, rw.notRewritten, rw.wrongOwner, rw.seqBackwards, rw.tsBackwards,
               rw.midExtension, rw.otherExtensions);
    fmt::print(out,
               "            new SSRC: map -> first packet {}; withheld before it {} deliveries "
               "(not loss)\n",
               histText(rw.mapToFirstPacketNs), rw.withheld);
    if (rw.announcedLateNs.count() > 0) {
      fmt::print(out, "            announced after their packet: {} packets, {}\n",
                 rw.announcedLateNs.count(), histText(rw.announcedLateNs));
    }
  }
  if (r.bridgeRewriting.is_object()) {
    fmt::print(out, "  bridge    ssrc_rewriting: {}\n", bridgeBlockText(r.bridgeRewriting));
  } else if (!o.statsUrl.empty()) {
    fmt::print(out, "  bridge    ssrc_rewriting: {}\n",
               r.statsError.empty() ? "not in /colibri/stats" : r.statsError);
  }
  const size_t shown = std::min<size_t>(m.senders.size(), 8);
  if (shown > 0) {
    fmt::print(out, "  senders   (delivered = share of sent x {} receivers)\n", r.endpoints - 1);
  }
  const uint64_t receivers = static_cast<uint64_t>(r.endpoints - 1);
  for (size_t i = 0; i < shown; ++i) {
    const auto& s = m.senders[i];
    fmt::print(out,
               "            ep {:>4} {:>7}: sent {:>5}, delivered {:6.2f}%, as loudest {:>5} "
               "sent / {:6.2f}% delivered, routed to nobody {}\n",
               s.endpoint, s.speaks ? "speaker" : "silent", s.sent,
               pct(s.deliveries, s.sent * receivers), s.sentLoudest,
               pct(s.deliveriesLoudest, s.sentLoudest * receivers), s.notRouted);
  }
  if (m.senders.size() > shown) {
    fmt::print(out, "            ... {} more senders in the JSON summary\n",
               m.senders.size() - shown);
  }
  if (r.problems.empty()) {
    fmt::print(out, "  verdict   checks passed; {}\n",
               r.held ? fmt::format("held (no loss, latency p99 < {:g} ms, health p99 < {:g} ms)",
                                    o.maxLatencyP99Ms, o.maxHealthP99Ms)
                      : "did not hold the capacity thresholds");
  } else {
    for (const auto& p : r.problems) {
      fmt::print(out, "  PROBLEM   {}\n", p);
    }
  }
}

nlohmann::json toJson(const Options& o, const RunResult& r) {
  const auto& m = r.media;
  nlohmann::json senders = nlohmann::json::array();
  const uint64_t receivers = static_cast<uint64_t>(r.endpoints - 1);
  for (const auto& s : m.senders) {
    senders.push_back(
        {{"endpoint", s.endpoint},
         {"ssrc", s.ssrc},
         {"speaks", s.speaks},
         {"sent", s.sent},
         {"sent_as_loudest", s.sentLoudest},
         {"sent_silent", s.sentSilent},
         {"deliveries", s.deliveries},
         {"deliveries_as_loudest", s.deliveriesLoudest},
         {"delivered_pct", pct(s.deliveries, s.sent * receivers)},
         {"delivered_as_loudest_pct", pct(s.deliveriesLoudest, s.sentLoudest * receivers)},
         {"routed_to_nobody", s.notRouted},
         {"withheld", s.withheld},
         {"lost", s.lost}});
  }
  nlohmann::json j = {
      {"endpoints", r.endpoints},
      {"speakers", r.speakers},
      {"senders", r.senders},
      {"duration_s", o.durationS},
      {"srtp_profile", profileName(o.profile)},
      {"routing", routingName(o.routing)},
      {"ssrc_rewriting", o.rewriting},
      {"meeting_id", r.meetingId},
      {"completed", r.completed},
      {"failure", r.failure},
      {"held", r.held},
      {"problems", r.problems},
      {"join",
       {{"joined", r.joined},
        {"total_s", r.joinTotalS},
        {"rate_per_s", o.joinRate},
        {"per_endpoint", histJson(r.joinNs)},
        {"colibri2_create_rtt", histJson(r.allocRttNs)},
        {"colibri2_update_rtt", histJson(r.updateRttNs)}}},
      {"packets",
       {{"measure_s", r.measureS},
        {"sent", r.sentPackets},
        {"received", m.rtpReceived},
        {"deliveries", r.deliveries},
        {"expected_deliveries", r.expectedDeliveries},
        {"lost", r.lost},
        {"loss_pct", r.lossPct},
        {"routed_to_nobody", r.notRoutedPackets},
        {"in_per_s", r.packetsInPerS},
        {"out_per_s", r.packetsOutPerS},
        {"rtcp_received", m.rtcpReceived},
        {"seq_gaps", m.seqGaps},
        {"reordered", m.reordered},
        {"outside_window", m.outsideWindow},
        {"send_errors", m.sendErrors}}},
      {"checks",
       {{"decrypt_failures", r.decryptFailures},
        {"srtp_auth", m.decryptAuth},
        {"srtp_replay", m.decryptReplay},
        {"srtp_other", m.decryptOther},
        {"srtcp_failures", m.rtcpDecryptFailures},
        {"early_media", m.earlyMedia},
        {"malformed", m.malformed},
        {"unknown_ssrc", m.unknownSsrc},
        {"own_audio", m.ownAudio},
        {"corrupt", m.corrupt},
        {"missing_audio_level", m.missingLevel}}},
      {"latency", histJson(m.latencyNs)},
      {"latency_tool", histJson(m.toolLatencyNs)},
      {"health",
       {{"sent", r.healthSent},
        {"timeouts", r.healthTimeouts},
        {"errors", r.healthErrors},
        {"interval_ms", o.healthIntervalMs},
        {"run", histJson(r.healthRunNs)},
        {"join", histJson(r.healthJoinNs)},
        {"server_ping",
         {{"timeouts", r.pingTimeouts},
          {"run", histJson(r.pingRunNs)},
          {"join", histJson(r.pingJoinNs)}}},
        {"http", r.httpHealthMeasured ? nlohmann::json{{"sent", r.httpHealth.sent},
                                                       {"failures", r.httpHealth.failures},
                                                       {"first_failure", r.httpHealth.firstFailure},
                                                       {"run", histJson(r.httpHealth.run)},
                                                       {"join", histJson(r.httpHealth.join)}}
                                      : nlohmann::json(nullptr)},
        {"focus_loop_turn", histJson(r.focusTurnNs)}}},
      {"tool", {{"cpu_pct", r.toolCpuPct}}},
      {"per_sender", senders},
  };
  if (o.rewriting) {
    const auto& rw = m.rw;
    j["rewriting"] = {{"channels_open", rw.channelsOpen},
                      {"server_hellos", rw.serverHellos},
                      {"channel_after_allocation", histJson(r.channelNs)},
                      {"messages", rw.messages},
                      {"malformed_messages", rw.malformedMessages},
                      {"maps_received", rw.mapsReceived},
                      {"map_entries", rw.mapEntries},
                      {"mappings", rw.mappings},
                      {"remaps", rw.remaps},
                      {"repeated", rw.repeated},
                      {"bad_mappings", rw.badMappings},
                      {"first_bad_mapping", rw.firstBadMapping},
                      {"unannounced", rw.unannounced},
                      {"not_rewritten", rw.notRewritten},
                      {"wrong_owner", rw.wrongOwner},
                      {"seq_backwards", rw.seqBackwards},
                      {"ts_backwards", rw.tsBackwards},
                      {"mid_extension", rw.midExtension},
                      {"other_extensions", rw.otherExtensions},
                      {"withheld", rw.withheld},
                      {"new_ssrc_delay_ms", o.newSsrcDelayMs},
                      {"map_to_first_packet", histJson(rw.mapToFirstPacketNs)},
                      {"announced_late", histJson(rw.announcedLateNs)}};
  } else {
    j["rewriting"] = nullptr;
  }
  j["bridge_ssrc_rewriting"] = r.bridgeRewriting;
  if (!r.statsError.empty()) {
    j["stats_error"] = r.statsError;
  }
  if (r.allocMeasured) {
    const auto& a = r.allocAudio;
    const auto perPkt = [](uint64_t count, uint64_t packets) -> nlohmann::json {
      if (packets == 0) {
        return nullptr;
      }
      return per(count, static_cast<double>(packets));
    };
    j["bridge_allocations"] = {{"measured", true},
                               {"pid", r.allocPid},
                               {"window_s", r.allocWindowS},
                               {"allocs", a.allocs},
                               {"bytes", a.bytes},
                               {"frees", a.frees},
                               {"per_s", per(a.allocs, r.allocWindowS)},
                               {"per_forwarded_packet", perPkt(a.allocs, r.deliveries)},
                               {"per_packet_in", perPkt(a.allocs, r.sentPackets)},
                               {"media_allocs", a.mediaAllocs},
                               {"media_bytes", a.mediaBytes},
                               {"media_frees", a.mediaFrees},
                               {"media_per_s", per(a.mediaAllocs, r.allocWindowS)},
                               {"media_per_forwarded_packet", perPkt(a.mediaAllocs, r.deliveries)},
                               {"join_allocs", r.allocJoin.allocs},
                               {"join_per_endpoint", per(r.allocJoin.allocs, r.endpoints)}};
  } else {
    j["bridge_allocations"] = {
        {"measured", false},
        {"reason", r.allocNotMeasured.empty() ? "not sampled" : r.allocNotMeasured}};
  }
  if (r.bridgeSampled) {
    j["bridge"] = {{"pid", o.bridgePid},
                   {"cpu_pct", r.bridgeCpuPct},
                   {"cpu_join_pct", r.bridgeCpuJoinPct},
                   {"rss_before_kib", r.rssBeforeKiB},
                   {"rss_joined_kib", r.rssJoinedKiB},
                   {"rss_end_kib", r.rssEndKiB},
                   {"rss_per_endpoint_kib", r.rssPerEndpointKiB}};
  } else {
    j["bridge"] = nullptr;
  }
  return j;
}

void printSweepTable(std::FILE* out, const Options& o, const std::vector<RunResult>& runs) {
  fmt::print(out, "\n{:>6} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9}  {}\n", "N",
             "cpu%", "rss MiB", "KiB/ep", "lat p50", "lat p99", "lat max", "loss%", "hlth p99",
             "out/s", "held");
  for (const auto& r : runs) {
    if (!r.completed) {
      fmt::print(out, "{:>6} failed: {}\n", r.endpoints, r.failure);
      continue;
    }
    fmt::print(out,
               "{:>6} {:>8.1f} {:>9.1f} {:>9.1f} {:>9.2f} {:>9.2f} {:>9.2f} {:>8.3f} {:>9.2f} "
               "{:>9.0f}  {}\n",
               r.endpoints, r.bridgeCpuPct, static_cast<double>(r.rssEndKiB) / 1024,
               r.rssPerEndpointKiB, ms(r.media.latencyNs.percentile(0.5)),
               ms(r.media.latencyNs.percentile(0.99)), ms(r.media.latencyNs.max()), r.lossPct,
               ms(r.healthRunNs.percentile(0.99)), r.packetsOutPerS, r.held ? "yes" : "no");
  }
  const int cap = capacity(runs);
  if (cap > 0) {
    fmt::print(out,
               "\ncapacity of this host: {} participants ({} speakers; no loss, latency p99 < {:g} "
               "ms, health-check p99 < {:g} ms)\n",
               cap, std::min(o.speakers, cap), o.maxLatencyP99Ms, o.maxHealthP99Ms);
    for (const auto& r : runs) {
      if (r.endpoints < cap && !(r.completed && r.held)) {
        fmt::print(out, "note: N={} did not hold although a larger N did (noise?)\n", r.endpoints);
      }
    }
  } else {
    fmt::print(out,
               "\ncapacity of this host: no step held (no loss, latency p99 < {:g} ms, "
               "health-check p99 < {:g} ms)\n",
               o.maxLatencyP99Ms, o.maxHealthP99Ms);
  }
}

std::string sweepCsv(const std::vector<RunResult>& runs) {
  std::string out =
      "n,speakers,completed,joined,bridge_cpu_pct,bridge_rss_kib,rss_per_endpoint_kib,"
      "latency_p50_ms,latency_p99_ms,latency_max_ms,loss_pct,health_p99_ms,packets_in_per_s,"
      "packets_out_per_s,tool_cpu_pct,held,failure\n";
  for (const auto& r : runs) {
    std::string failure = r.failure;
    std::replace(failure.begin(), failure.end(), '"', '\'');
    out += fmt::format(
        "{},{},{},{},{:.2f},{},{:.2f},{:.3f},{:.3f},{:.3f},{:.4f},{:.3f},{:.1f},{:.1f},{:.2f},{},"
        "\"{}\"\n",
        r.endpoints, r.speakers, r.completed ? 1 : 0, r.joined, r.bridgeCpuPct, r.rssEndKiB,
        r.rssPerEndpointKiB, ms(r.media.latencyNs.percentile(0.5)),
        ms(r.media.latencyNs.percentile(0.99)), ms(r.media.latencyNs.max()), r.lossPct,
        ms(r.healthRunNs.percentile(0.99)), r.packetsInPerS, r.packetsOutPerS, r.toolCpuPct,
        r.held ? 1 : 0, failure);
  }
  return out;
}

namespace {

// A "nice" axis: 0 .. a multiple of a 1/2/5 x 10^k step at or above `max`.
struct Axis {
  double max = 1;
  double step = 1;
};

Axis niceAxis(double max) {
  if (!(max > 0)) {
    max = 1;
  }
  const double raw = max / 5;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double f : {1.0, 2.0, 5.0, 10.0}) {
    step = f * mag;
    if (step >= raw) {
      break;
    }
  }
  return Axis{std::ceil(max / step - 1e-9) * step, step};
}

std::string num(double v) {
  return fmt::format("{:g}", std::round(v * 1000) / 1000);
}

}  // namespace

std::string sweepSvg(const Options& o, const std::vector<RunResult>& runs,
                     const std::string& title) {
  constexpr double kW = 820;
  constexpr double kPanelH = 300;
  constexpr double kLeft = 80;
  constexpr double kRight = 30;
  constexpr double kTop = 60;
  constexpr double kGap = 70;
  constexpr double kBottom = 60;
  const double plotW = kW - kLeft - kRight;
  const double totalH = kTop + 2 * kPanelH + kGap + kBottom;

  int maxN = 1;
  double maxCpu = 0;
  double maxLat = o.maxLatencyP99Ms;
  for (const auto& r : runs) {
    maxN = std::max(maxN, r.endpoints);
    if (r.completed) {
      maxCpu = std::max(maxCpu, r.bridgeCpuPct);
      maxLat = std::max(maxLat, ms(r.media.latencyNs.percentile(0.99)));
    }
  }
  const Axis xa = niceAxis(maxN);
  const Axis cpuA = niceAxis(std::max(10.0, maxCpu * 1.1));
  const Axis latA = niceAxis(maxLat * 1.1);

  std::string svg = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{0}' height='{1}' viewBox='0 0 {0} {1}' "
      "font-family='sans-serif' font-size='12'>\n"
      "<rect width='100%' height='100%' fill='white'/>\n"
      "<text x='{2}' y='24' font-size='16' font-weight='bold'>{3}</text>\n",
      kW, totalH, kLeft, xmlEscape(title));

  const auto xPos = [&](double n) { return kLeft + plotW * n / xa.max; };
  const auto panel =
      [&](double top, const Axis& ya, const std::string& yLabel,
          const std::vector<std::pair<std::string, std::function<double(const RunResult&)>>>&
              series,
          const std::vector<std::string>& colors, std::optional<double> threshold) {
        const auto yPos = [&](double v) {
          return top + kPanelH - kPanelH * std::min(v, ya.max) / ya.max;
        };
        svg +=
            fmt::format("<rect x='{}' y='{}' width='{}' height='{}' fill='none' stroke='#888'/>\n",
                        kLeft, top, plotW, kPanelH);
        for (double v = 0; v <= ya.max + 1e-9; v += ya.step) {
          svg += fmt::format(
              "<line x1='{0}' y1='{1}' x2='{2}' y2='{1}' stroke='#e4e4e4'/>"
              "<text x='{3}' y='{4}' text-anchor='end'>{5}</text>\n",
              kLeft, yPos(v), kLeft + plotW, kLeft - 6, yPos(v) + 4, num(v));
        }
        for (double v = 0; v <= xa.max + 1e-9; v += xa.step) {
          svg += fmt::format(
              "<line x1='{0}' y1='{1}' x2='{0}' y2='{2}' stroke='#e4e4e4'/>"
              "<text x='{0}' y='{3}' text-anchor='middle'>{4}</text>\n",
              xPos(v), top, top + kPanelH, top + kPanelH + 16, num(v));
        }
        svg += fmt::format(
            "<text transform='translate({},{}) rotate(-90)' text-anchor='middle'>{}</text>\n",
            kLeft - 52, top + kPanelH / 2, yLabel);
        svg += fmt::format("<text x='{}' y='{}' text-anchor='middle'>participants (N)</text>\n",
                           kLeft + plotW / 2, top + kPanelH + 34);
        if (threshold) {
          svg += fmt::format(
              "<line x1='{0}' y1='{1}' x2='{2}' y2='{1}' stroke='#c00' stroke-dasharray='6,4'/>"
              "<text x='{3}' y='{4}' fill='#c00' text-anchor='end'>{5} ms</text>\n",
              kLeft, yPos(*threshold), kLeft + plotW, kLeft + plotW - 4, yPos(*threshold) - 4,
              num(*threshold));
        }
        for (size_t si = 0; si < series.size(); ++si) {
          std::string points;
          for (const auto& r : runs) {
            if (r.completed) {
              points +=
                  fmt::format("{:.1f},{:.1f} ", xPos(r.endpoints), yPos(series[si].second(r)));
            }
          }
          svg += fmt::format("<polyline points='{}' fill='none' stroke='{}' stroke-width='2'/>\n",
                             points, colors[si]);
          for (const auto& r : runs) {
            if (r.completed) {
              svg += fmt::format(
                  "<circle cx='{:.1f}' cy='{:.1f}' r='4' fill='{}' stroke='{}'><title>N={}: {} "
                  "{:.2f}{}</title></circle>\n",
                  xPos(r.endpoints), yPos(series[si].second(r)), r.held ? colors[si] : "white",
                  colors[si], r.endpoints, series[si].first, series[si].second(r),
                  r.held ? "" : " (did not hold)");
            } else {
              svg += fmt::format(
                  "<text x='{:.1f}' y='{:.1f}' fill='#c00' text-anchor='middle'>x<title>N={}: "
                  "failed</title></text>\n",
                  xPos(r.endpoints), top + kPanelH - 4, r.endpoints);
            }
          }
          svg += fmt::format(
              "<rect x='{}' y='{}' width='14' height='4' fill='{}'/>"
              "<text x='{}' y='{}'>{}</text>\n",
              kLeft + 10 + 150 * static_cast<double>(si), top - 12, colors[si],
              kLeft + 28 + 150 * static_cast<double>(si), top - 7, series[si].first);
        }
      };
  panel(kTop, cpuA, "bridge CPU (% of one core)",
        {{"bridge CPU %", [](const RunResult& r) { return r.bridgeCpuPct; }}}, {"#1f77b4"},
        std::nullopt);
  panel(kTop + kPanelH + kGap, latA, "forwarding latency (ms)",
        {{"latency p99", [](const RunResult& r) { return ms(r.media.latencyNs.percentile(0.99)); }},
         {"latency p50", [](const RunResult& r) { return ms(r.media.latencyNs.percentile(0.5)); }}},
        {"#d62728", "#ff9896"}, o.maxLatencyP99Ms);
  svg += fmt::format(
      "<text x='{}' y='{}' fill='#555'>filled markers: the step held (no loss, latency p99 &lt; "
      "{:g} ms, health-check p99 &lt; {:g} ms); hollow: it did not; x: it failed</text>\n",
      kLeft, totalH - 14, o.maxLatencyP99Ms, o.maxHealthP99Ms);
  svg += "</svg>\n";
  return svg;
}

}  // namespace jvb::load
