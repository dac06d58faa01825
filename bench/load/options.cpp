#include "options.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string_view>

namespace jvb::load {

namespace {

constexpr const char* kUsage = R"(Usage: jvb-audio-load [options]

Acts as a Jicofo-like focus and as N WebRTC-like audio endpoints (ICE, DTLS,
SRTP) against a running jvb-audio, through a tech Prosody. Everything stays
on loopback.

Load:
  -n, --endpoints N        endpoints in the conference (default 10)
  -k, --speakers K         endpoints that talk (default 3, at most N)
      --duration S         seconds of audio after every endpoint joined (default 10)
      --join-rate R        endpoint allocations per second (default 100)
      --max-in-flight M    Colibri2 requests awaiting a reply at once (default 50)
      --silence            non-speakers send silence-level packets (default: nothing)
      --payload-bytes B    RTP payload size, 32..1000 (default 80)
      --rotate S           the loudest speaker changes every S seconds (default 3)
      --srtp-profile P     aes128-cm-sha1-80 (default) | aead-aes128-gcm
      --routing R          all (default): every packet must reach every other endpoint;
                           loudest: the bridge may leave packets out (route-loudest-only)
      --connect-timeout S  ICE + DTLS must complete this long after the last
                           allocation (default 20)
      --health-interval MS health-check IQ period (default 200); a XEP-0199 ping to the
                           server (Prosody's share of a round trip) and a GET of --health-url
                           go at the same period
SSRC rewriting:
      --rewriting          every endpoint is created with <capability name='ssrc-rewriting'/>
                           and opens the colibri-ws of its Colibri2 transport (the bridge needs
                           videobridge.websockets, ws://; scripts/load.sh --rewriting sets it
                           up); receivers learn SSRCs only from AudioSourcesMap and check every
                           packet: its SSRC announced to them before it came ("unannounced"),
                           its payload's sender the announced owner ("wrong owner"), sequence
                           numbers per SSRC never going back
      --new-ssrc-delay MS  the bridge's jvb-audio.ssrc-rewriting.new-ssrc-delay (default 200):
                           up to MS + 100 ms of a sender missing just before a receiver's first
                           packet of it counts as withheld, not lost
XMPP:
      --xmpp-host H        tech Prosody address (default 127.0.0.1)
      --xmpp-port P        its port (default 15222)
      --domain D           tech domain (default tech.example.test)
      --user U             focus account (default focus)
      --password PW        its password (default: $JVB_LOAD_PASSWORD)
      --brewery JID        default jvbbrewery@muc.<domain>
      --bridge-nick NICK   the bridge's occupant nick (default: the first bridge seen)
Observation and output:
      --bridge-pid PID     sample the bridge's CPU and RSS from /proc
      --stats-url URL      the bridge's http://<private host:port>/colibri/stats: read before
                           and after the audio for its ssrc_rewriting counters
      --health-url URL     the bridge's http://<private host:port>/about/health: GET every
                           health interval from a thread of its own (round trips while
                           joining and while the audio flows; counted in "held")
      --alloc-count-file F the counter file of the bridge run with LD_PRELOAD=
                           libjvb_alloc_preload.so and JVB_ALLOC_COUNT_FILE=F (scripts/load.sh
                           sets both up): its heap allocations over the audio (in total, per
                           second, per forwarded packet, on the media thread); the idle
                           background (STUN consent, RTCP, health IQs, stats) is included:
                           -k 0 measures it alone
      --json FILE          write the summary as JSON
      --quiet              no progress output
      --log-level L        library logs: trace|debug|info|warn|error|off (default warn)
Soak (scripts/soak.sh; README "Load testing", Soak):
      --soak               one conference for --duration with churn; samples the bridge's RSS,
                           open fds, heap, /colibri/stats counts and the stable endpoints'
                           delivery every --sample-interval, prints the time series (CSV) and
                           fails on growth after --warmup or on loss for stable endpoints
      --churners C         the last C endpoints are churn slots, muted (default N/10)
      --churn-rate R       churn slots replaced per second: expire + a new endpoint (default 2)
      --reconnect-rate R   stable endpoints reconnecting their colibri-ws per second (default 1;
                           with --rewriting)
      --source-update-rate R  Colibri2 source updates per second, to muted stable endpoints
                           (an extra SSRC added, then removed; default 2)
      --sample-interval S  seconds between samples (default 1)
      --warmup S           samples before S are not judged (default duration/4, 10..300)
      --soak-csv FILE      the time series (default soak.csv; also printed on stdout)
      --max-leak-per-churn KIB  RSS and heap growth allowed per churned endpoint (default 4)
      --max-fd-growth N    open fds allowed to grow after the warm-up (default 8)
Sweep:
      --sweep LIST         run at each N: "50,100,200" or "50:1000:50"
      --csv FILE           sweep table (default load-sweep.csv)
      --svg FILE           sweep plot (default load-sweep.svg)
      --max-latency-p99 MS capacity threshold (default 20)
      --max-health-p99 MS  capacity threshold (default 100)
  -h, --help

Exit status: 0 done (sweep: every step ran), 1 failure (message on stderr),
2 bad command line, 130 interrupted.
)";

[[noreturn]] void usageError(const std::string& msg) {
  std::fprintf(stderr, "jvb-audio-load: %s (see --help)\n", msg.c_str());
  std::exit(2);
}

template <typename T>
T number(std::string_view name, std::string_view v) {
  T out{};
  const auto* end = v.data() + v.size();
  const auto r = std::from_chars(v.data(), end, out);
  if (r.ec != std::errc() || r.ptr != end) {
    usageError(fmt::format("{}: '{}' is not a number", name, v));
  }
  return out;
}

}  // namespace

const char* profileName(srtp::Profile p) {
  return p == srtp::Profile::kAeadAes128Gcm ? "aead-aes128-gcm" : "aes128-cm-sha1-80";
}

std::optional<std::vector<int>> parseSweep(const std::string& spec) {
  const auto toInt = [](std::string_view s) -> std::optional<int> {
    int v = 0;
    const auto* end = s.data() + s.size();
    const auto r = std::from_chars(s.data(), end, v);
    if (s.empty() || r.ec != std::errc() || r.ptr != end || v < 1) {
      return std::nullopt;
    }
    return v;
  };
  std::vector<int> out;
  if (spec.find(':') != std::string::npos) {
    const auto a = spec.find(':');
    const auto b = spec.find(':', a + 1);
    if (b == std::string::npos || spec.find(':', b + 1) != std::string::npos) {
      return std::nullopt;
    }
    const auto start = toInt(std::string_view(spec).substr(0, a));
    const auto stop = toInt(std::string_view(spec).substr(a + 1, b - a - 1));
    const auto step = toInt(std::string_view(spec).substr(b + 1));
    if (!start || !stop || !step || *start < 2 || *stop < *start ||
        (*stop - *start) / *step > 1000) {
      return std::nullopt;
    }
    for (int n = *start; n <= *stop; n += *step) {
      out.push_back(n);
    }
    return out;
  }
  size_t pos = 0;
  while (pos <= spec.size()) {
    const auto comma = spec.find(',', pos);
    const auto part = std::string_view(spec).substr(
        pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const auto v = toInt(part);
    if (!v || *v < 2 || out.size() >= 1000) {
      return std::nullopt;
    }
    out.push_back(*v);
    if (comma == std::string::npos) {
      break;
    }
    pos = comma + 1;
  }
  return out;
}

Options parseOptions(int argc, char** argv) {
  Options o;
  using Setter = std::function<void(std::string_view)>;
  const std::map<std::string, Setter, std::less<>> withValue = {
      {"--endpoints", [&](auto v) { o.endpoints = number<int>("--endpoints", v); }},
      {"--speakers", [&](auto v) { o.speakers = number<int>("--speakers", v); }},
      {"--duration", [&](auto v) { o.durationS = number<double>("--duration", v); }},
      {"--join-rate", [&](auto v) { o.joinRate = number<double>("--join-rate", v); }},
      {"--max-in-flight", [&](auto v) { o.maxInFlight = number<int>("--max-in-flight", v); }},
      {"--payload-bytes", [&](auto v) { o.payloadBytes = number<int>("--payload-bytes", v); }},
      {"--rotate", [&](auto v) { o.rotateS = number<double>("--rotate", v); }},
      {"--srtp-profile",
       [&](auto v) {
         if (v == "aes128-cm-sha1-80") {
           o.profile = srtp::Profile::kAes128CmHmacSha1_80;
         } else if (v == "aead-aes128-gcm") {
           o.profile = srtp::Profile::kAeadAes128Gcm;
         } else {
           usageError(fmt::format("--srtp-profile: '{}' (aes128-cm-sha1-80|aead-aes128-gcm)", v));
         }
       }},
      {"--routing",
       [&](auto v) {
         if (v == "all") {
           o.routing = Routing::kAll;
         } else if (v == "loudest") {
           o.routing = Routing::kLoudest;
         } else {
           usageError(fmt::format("--routing: '{}' (all|loudest)", v));
         }
       }},
      {"--connect-timeout",
       [&](auto v) { o.connectTimeoutS = number<double>("--connect-timeout", v); }},
      {"--health-interval",
       [&](auto v) { o.healthIntervalMs = number<double>("--health-interval", v); }},
      {"--xmpp-host", [&](auto v) { o.xmppHost = std::string(v); }},
      {"--xmpp-port", [&](auto v) { o.xmppPort = number<int>("--xmpp-port", v); }},
      {"--domain", [&](auto v) { o.domain = std::string(v); }},
      {"--user", [&](auto v) { o.user = std::string(v); }},
      {"--password", [&](auto v) { o.password = std::string(v); }},
      {"--brewery", [&](auto v) { o.brewery = std::string(v); }},
      {"--bridge-nick", [&](auto v) { o.bridgeNick = std::string(v); }},
      {"--bridge-pid", [&](auto v) { o.bridgePid = number<int>("--bridge-pid", v); }},
      {"--stats-url", [&](auto v) { o.statsUrl = std::string(v); }},
      {"--health-url", [&](auto v) { o.healthUrl = std::string(v); }},
      {"--alloc-count-file", [&](auto v) { o.allocCountFile = std::string(v); }},
      {"--new-ssrc-delay",
       [&](auto v) { o.newSsrcDelayMs = number<double>("--new-ssrc-delay", v); }},
      {"--json", [&](auto v) { o.jsonPath = std::string(v); }},
      {"--log-level", [&](auto v) { o.logLevel = std::string(v); }},
      {"--sweep",
       [&](auto v) {
         auto s = parseSweep(std::string(v));
         if (!s) {
           usageError(fmt::format("--sweep: '{}' (N1,N2,... or start:stop:step, N >= 2)", v));
         }
         o.sweep = std::move(*s);
       }},
      {"--csv", [&](auto v) { o.csvPath = std::string(v); }},
      {"--churners", [&](auto v) { o.churners = number<int>("--churners", v); }},
      {"--churn-rate", [&](auto v) { o.churnRate = number<double>("--churn-rate", v); }},
      {"--reconnect-rate",
       [&](auto v) { o.reconnectRate = number<double>("--reconnect-rate", v); }},
      {"--source-update-rate",
       [&](auto v) { o.sourceUpdateRate = number<double>("--source-update-rate", v); }},
      {"--sample-interval",
       [&](auto v) { o.sampleIntervalS = number<double>("--sample-interval", v); }},
      {"--warmup", [&](auto v) { o.warmupS = number<double>("--warmup", v); }},
      {"--soak-csv", [&](auto v) { o.soakCsvPath = std::string(v); }},
      {"--max-leak-per-churn",
       [&](auto v) { o.maxLeakPerChurnKiB = number<double>("--max-leak-per-churn", v); }},
      {"--max-fd-growth", [&](auto v) { o.maxFdGrowth = number<int>("--max-fd-growth", v); }},
      {"--svg", [&](auto v) { o.svgPath = std::string(v); }},
      {"--max-latency-p99",
       [&](auto v) { o.maxLatencyP99Ms = number<double>("--max-latency-p99", v); }},
      {"--max-health-p99",
       [&](auto v) { o.maxHealthP99Ms = number<double>("--max-health-p99", v); }},
  };
  const std::map<std::string, std::string, std::less<>> shortNames = {{"-n", "--endpoints"},
                                                                      {"-k", "--speakers"}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg == "--quiet") {
      o.quiet = true;
      continue;
    }
    if (arg == "--silence") {
      o.silence = true;
      continue;
    }
    if (arg == "--rewriting") {
      o.rewriting = true;
      continue;
    }
    if (arg == "--soak") {
      o.soak = true;
      continue;
    }
    std::optional<std::string> value;
    if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    if (const auto s = shortNames.find(arg); s != shortNames.end()) {
      arg = s->second;
    }
    const auto it = withValue.find(arg);
    if (it == withValue.end()) {
      usageError(fmt::format("unknown option '{}'", arg));
    }
    if (!value) {
      if (i + 1 >= argc) {
        usageError(fmt::format("{} needs a value", arg));
      }
      value = argv[++i];
    }
    it->second(*value);
  }
  if (o.password.empty()) {
    if (const char* env = std::getenv("JVB_LOAD_PASSWORD"); env != nullptr) {
      o.password = env;
    }
  }
  if (o.password.empty()) {
    usageError("no XMPP password: --password or $JVB_LOAD_PASSWORD");
  }
  if (o.brewery.empty()) {
    o.brewery = "jvbbrewery@muc." + o.domain;
  }
  const int maxN = o.sweep.empty() ? o.endpoints : o.sweep.back();
  if (o.endpoints < 2 || o.endpoints > 20000) {
    usageError("--endpoints must be 2..20000");
  }
  for (int n : o.sweep) {
    if (n > 20000) {
      usageError("--sweep: N must be 2..20000");
    }
  }
  if (o.speakers < 0 || (o.sweep.empty() && o.speakers > o.endpoints)) {
    usageError(fmt::format("--speakers must be 0..{}", maxN));
  }
  if (o.durationS <= 0 || o.durationS > 3600) {
    usageError("--duration must be in (0, 3600] s");
  }
  if (o.joinRate <= 0 || o.joinRate > 100000) {
    usageError("--join-rate must be in (0, 100000]");
  }
  if (o.maxInFlight < 1 || o.maxInFlight > 10000) {
    usageError("--max-in-flight must be 1..10000");
  }
  if (o.payloadBytes < 32 || o.payloadBytes > 1000) {
    usageError("--payload-bytes must be 32..1000");
  }
  if (o.rotateS < 0.2 || o.rotateS > 3600) {
    usageError("--rotate must be 0.2..3600 s");
  }
  if (o.connectTimeoutS <= 0 || o.connectTimeoutS > 600) {
    usageError("--connect-timeout must be in (0, 600] s");
  }
  if (o.healthIntervalMs < 10 || o.healthIntervalMs > 60000) {
    usageError("--health-interval must be 10..60000 ms");
  }
  if (o.xmppPort < 1 || o.xmppPort > 65535) {
    usageError("--xmpp-port must be 1..65535");
  }
  if (o.newSsrcDelayMs < 0 || o.newSsrcDelayMs > 10000) {
    usageError("--new-ssrc-delay must be 0..10000 ms");
  }
  if (!o.healthUrl.empty() && o.healthUrl.rfind("http://", 0) != 0) {
    usageError("--health-url must be an http:// URL");
  }
  if (!o.statsUrl.empty() && o.statsUrl.rfind("http://", 0) != 0) {
    usageError("--stats-url must be an http:// URL");
  }
  if (o.bridgePid < 0) {
    usageError("--bridge-pid must be a process id");
  }
  if (o.soak) {
    if (!o.sweep.empty() || o.silence) {
      usageError("--soak takes neither --sweep nor --silence");
    }
    if (o.churners < 0) {
      o.churners = o.endpoints / 10;
    }
    if (o.churners > o.endpoints - 2 - o.speakers) {
      usageError("--churners: at most N - 2 - K (the stable endpoints hold the speakers)");
    }
    if (o.churnRate < 0 || o.churnRate > 100 || o.reconnectRate < 0 || o.reconnectRate > 100 ||
        o.sourceUpdateRate < 0 || o.sourceUpdateRate > 100) {
      usageError("--churn-rate, --reconnect-rate, --source-update-rate must be 0..100 per second");
    }
    if (o.churnRate > 0 && o.churners == 0) {
      usageError("--churn-rate needs --churners > 0");
    }
    if (o.sampleIntervalS < 0.2 || o.sampleIntervalS > 60) {
      usageError("--sample-interval must be 0.2..60 s");
    }
    if (o.warmupS < 0) {
      o.warmupS = std::clamp(o.durationS / 4, 10.0, 300.0);
    }
    if (o.warmupS >= o.durationS) {
      usageError("--warmup must be shorter than --duration");
    }
    if (o.maxLeakPerChurnKiB < 0 || o.maxFdGrowth < 0) {
      usageError("--max-leak-per-churn and --max-fd-growth must be >= 0");
    }
  }
  return o;
}

}  // namespace jvb::load
