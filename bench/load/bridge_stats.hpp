#pragma once
// GET of the bridge's /colibri/stats (its private REST port) for the load
// tool's report: one plain HTTP/1.1 request on the owner's thread, bounded in
// time, on an io_context of its own.
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace jvb::load {

// `url`: "http://127.0.0.1:8080/colibri/stats". The parsed JSON object, or
// nullopt with `why` set (bad URL, connection refused, not 200, not JSON,
// `timeout` passed).
std::optional<nlohmann::json> fetchJson(const std::string& url, std::chrono::milliseconds timeout,
                                        std::string& why);

// What the run did to the numbers of `block` (e.g. stats["ssrc_rewriting"]):
// {"at_end": <the block at the end>, "during_run": {key: end - before} for every
// numeric key of both}. Null when `end` has no such object.
nlohmann::json statsDelta(const std::optional<nlohmann::json>& before,
                          const std::optional<nlohmann::json>& end, const char* block);

}  // namespace jvb::load
