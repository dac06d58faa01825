// jvb-audio-load: drives a running jvb-audio through its whole path (XMPP
// brewery, Colibri2, ICE, DTLS, SRTP, audio forwarding) as a Jicofo-like focus
// and N endpoints, and reports join times, loss, forwarding latency,
// health-check round trips and the bridge's CPU and memory. See --help and
// README "Load testing".
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <optional>

#include "common/log.hpp"
#include "dtls/certificate.hpp"
#include "dtls/context.hpp"
#include "focus.hpp"
#include "load_run.hpp"
#include "options.hpp"
#include "progress.hpp"
#include "report.hpp"
#include "soak_run.hpp"
#include "srtp/library.hpp"
#include "xmpp/strophe.hpp"

namespace {

using namespace jvb::load;

std::atomic<bool> gInterrupted{false};

extern "C" void onSignal(int) {
  if (gInterrupted.exchange(true)) {
    std::_Exit(130);  // second signal: leave at once
  }
}

// One UDP socket per endpoint (and a TCP one for colibri-ws with --rewriting):
// the soft descriptor limit must cover the largest run.
bool raiseFdLimit(int endpoints, bool rewriting, std::string& why) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return true;
  }
  // (+ 256: Prosody, stats, and a soak's replaced endpoints, kept 2 s.)
  const rlim_t need = static_cast<rlim_t>(endpoints) * (rewriting ? 2 : 1) + 256;
  if (rl.rlim_cur >= need) {
    return true;
  }
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
    why = fmt::format("{} endpoints need {} file descriptors; the hard limit is {} (ulimit -Hn)",
                      endpoints, need, rl.rlim_max);
    return false;
  }
  rl.rlim_cur = need;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    why = fmt::format("could not raise the file descriptor limit to {}", need);
    return false;
  }
  return true;
}

bool writeFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  f.close();
  if (!f) {
    std::fprintf(stderr, "jvb-audio-load: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

// Keeps the XMPP session served between sweep steps.
void idle(Focus& focus, std::chrono::milliseconds d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end && !gInterrupted.load()) {
    focus.runOnce(10);
  }
}

int run(const Options& o) {
  const int maxN =
      o.sweep.empty() ? o.endpoints : *std::max_element(o.sweep.begin(), o.sweep.end());
  std::string why;
  if (!raiseFdLimit(maxN, o.rewriting, why)) {
    std::fprintf(stderr, "jvb-audio-load: %s\n", why.c_str());
    return 1;
  }
  const jvb::srtp::Library srtpLibrary;
  const jvb::xmpp::Library xmppLibrary;
  const auto certificate = jvb::dtls::Certificate::generate("jvb-audio-load");
  jvb::dtls::ContextOptions dtlsOptions;
  dtlsOptions.srtpProfiles = {o.profile};  // the bridge must pick this one
  const jvb::dtls::Context dtls(certificate, dtlsOptions);

  Progress progress(o.quiet);
  Focus focus(
      Focus::Config{o.xmppHost, o.xmppPort, o.domain, o.user, o.password, o.brewery, o.bridgeNick});
  try {
    focus.connect(std::chrono::seconds(10));
    focus.joinBrewery(std::chrono::seconds(20));
  } catch (const LoadError& e) {
    std::fprintf(stderr, "jvb-audio-load: %s\n", e.what());
    return 1;
  }
  progress.note(
      fmt::format("connected to {}:{} as {}@{}; bridge '{}' in {}{}", o.xmppHost, o.xmppPort,
                  o.user, o.domain, focus.bridgeNick(), o.brewery,
                  focus.bridgesSeen() > 1
                      ? fmt::format(" ({} bridges present, using this one)", focus.bridgesSeen())
                      : ""));

  int rc = 0;
  if (o.soak) {
    rc = runSoak(o, focus, dtls, progress, gInterrupted);
  } else if (o.sweep.empty()) {
    const RunResult r = runLoad(o, o.endpoints, focus, dtls, progress, gInterrupted);
    printSummary(stdout, o, r);
    std::fflush(stdout);
    if (!o.jsonPath.empty() && !writeFile(o.jsonPath, toJson(o, r).dump(2) + "\n")) {
      rc = 1;
    }
    if (gInterrupted.load()) {
      rc = 130;
    } else if (!r.completed) {
      std::fprintf(stderr, "jvb-audio-load: %s\n", r.failure.c_str());
      rc = 1;
    } else if (!r.problems.empty()) {
      std::fprintf(stderr, "jvb-audio-load: verification failed: %s\n", r.problems[0].c_str());
      rc = 1;
    }
  } else {
    std::vector<RunResult> runs;
    for (size_t i = 0; i < o.sweep.size() && !gInterrupted.load(); ++i) {
      Options step = o;
      step.endpoints = o.sweep[i];
      step.speakers = std::min(o.speakers, step.endpoints);
      progress.note(fmt::format("sweep step {}/{}: N={}", i + 1, o.sweep.size(), step.endpoints));
      runs.push_back(runLoad(step, step.endpoints, focus, dtls, progress, gInterrupted));
      const RunResult& r = runs.back();
      if (!o.quiet) {
        printSummary(stderr, step, r);
      }
      if (!r.completed) {
        if (!gInterrupted.load()) {
          std::fprintf(stderr, "jvb-audio-load: step N=%d failed: %s; sweep stopped\n",
                       step.endpoints, r.failure.c_str());
          rc = 1;
        }
        break;
      }
      if (!r.problems.empty()) {
        std::fprintf(stderr, "jvb-audio-load: step N=%d: verification failed: %s\n", step.endpoints,
                     r.problems[0].c_str());
        rc = 1;
      }
      if (!focus.connected()) {
        break;
      }
      idle(focus, std::chrono::milliseconds(1500));  // the bridge settles between steps
    }
    printSweepTable(stdout, o, runs);
    std::fflush(stdout);
    const std::string title = fmt::format(
        "jvb-audio load sweep: {} speakers, {:g} s per step, {}, routing {}{}", o.speakers,
        o.durationS, profileName(o.profile), o.routing == Routing::kLoudest ? "loudest" : "all",
        o.rewriting ? ", SSRC rewriting" : "");
    if (!writeFile(o.csvPath, sweepCsv(runs)) || !writeFile(o.svgPath, sweepSvg(o, runs, title))) {
      rc = 1;
    } else {
      progress.note(fmt::format("wrote {} and {}", o.csvPath, o.svgPath));
    }
    if (!o.jsonPath.empty()) {
      nlohmann::json j = {{"capacity", capacity(runs)}, {"steps", nlohmann::json::array()}};
      for (size_t i = 0; i < runs.size(); ++i) {
        Options step = o;
        step.endpoints = o.sweep[i];
        j["steps"].push_back(toJson(step, runs[i]));
      }
      if (!writeFile(o.jsonPath, j.dump(2) + "\n")) {
        rc = 1;
      }
    }
    if (gInterrupted.load()) {
      rc = 130;
    }
  }
  focus.disconnect(std::chrono::seconds(2));
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parseOptions(argc, argv);
  if (const auto level = jvb::log::parseLevel(o.logLevel)) {
    jvb::log::setLevel(*level);
  } else {
    std::fprintf(stderr, "jvb-audio-load: --log-level: '%s' (see --help)\n", o.logLevel.c_str());
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = &onSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jvb-audio-load: %s\n", e.what());
    return 1;
  }
}
