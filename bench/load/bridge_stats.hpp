#pragma once
// GET of the bridge's /colibri/stats (its private REST port) for the load
// tool's report: one plain HTTP/1.1 request on the owner's thread, bounded in
// time, on an io_context of its own.
#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "histogram.hpp"

namespace jvb::load {

// `url`: "http://127.0.0.1:8080/colibri/stats". The parsed JSON object, or
// nullopt with `why` set (bad URL, connection refused, not 200, not JSON,
// `timeout` passed).
std::optional<nlohmann::json> fetchJson(const std::string& url, std::chrono::milliseconds timeout,
                                        std::string& why);

// One GET of `url`: the status and body, or nullopt with `why` set.
struct HttpReply {
  int status = 0;
  std::string body;
};
std::optional<HttpReply> httpGet(const std::string& url, std::chrono::milliseconds timeout,
                                 std::string& why);

// GETs `url` (the bridge's /about/health) every `interval` on a thread of its
// own, a fresh TCP connection each time as a monitor does, so that neither the
// focus's loop nor the media thread of the tool delays it. Round trips of 200
// answers go to the phase's histogram (setPhase: 0 none, 1 join, 2 audio).
class HttpProbe {
 public:
  struct Results {
    uint64_t sent = 0;
    uint64_t failures = 0;  // not 200, or no answer within the timeout
    std::string firstFailure;
    Histogram join;
    Histogram run;
  };
  HttpProbe(std::string url, std::chrono::milliseconds interval, std::chrono::milliseconds timeout);
  ~HttpProbe();
  HttpProbe(const HttpProbe&) = delete;
  HttpProbe& operator=(const HttpProbe&) = delete;
  void setPhase(int phase) { phase_.store(phase); }
  [[nodiscard]] Results results() const;

 private:
  void loop();

  std::string url_;
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds timeout_;
  std::atomic<int> phase_{0};
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  Results results_;
  std::thread thread_;
};

// What the run did to the numbers of `block` (e.g. stats["ssrc_rewriting"]):
// {"at_end": <the block at the end>, "during_run": {key: end - before} for every
// numeric key of both}. Null when `end` has no such object.
nlohmann::json statsDelta(const std::optional<nlohmann::json>& before,
                          const std::optional<nlohmann::json>& end, const char* block);

}  // namespace jvb::load
