#include "http/router.hpp"

#include <exception>
#include <utility>

#include "common/log.hpp"
#include "common/version_info.hpp"

namespace jvb::http {
namespace {

constexpr std::string_view kJson = "application/json";

std::string dumpJson(const nlohmann::json& j) {
  // Invalid UTF-8 in a string must not turn a stats answer into a 500.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Response jsonResponse(unsigned status, const nlohmann::json& j) {
  Response r;
  r.status = status;
  r.contentType = std::string(kJson);
  r.body = dumpJson(j);
  return r;
}

Response emptyOk() {
  Response r;
  r.status = 200;
  return r;
}

std::string joinMethods(const std::vector<std::string>& methods) {
  std::string out;
  for (const auto& m : methods) {
    if (!out.empty()) {
      out += ", ";
    }
    out += m;
  }
  return out;
}

// Accepts true/false, and the strings "true"/"false" that jitsi's
// graceful_shutdown.sh sends (Jackson coerces them).
bool parseGraceful(const nlohmann::json& v, bool& out) {
  if (v.is_boolean()) {
    out = v.get<bool>();
    return true;
  }
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s == "true" || s == "false") {
      out = s == "true";
      return true;
    }
  }
  return false;
}

}  // namespace

std::string_view targetPath(std::string_view target) {
  if (!target.empty() && target.front() != '/') {
    // absolute-form: scheme "://" authority path
    const auto scheme = target.find("://");
    if (scheme != std::string_view::npos) {
      const auto slash = target.find('/', scheme + 3);
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  const auto end = target.find_first_of("?#");
  return end == std::string_view::npos ? target : target.substr(0, end);
}

Response textResponse(unsigned status, std::string_view text) {
  Response r;
  r.status = status;
  r.contentType = "text/plain; charset=utf-8";
  r.body = std::string(text) + "\n";
  return r;
}

Router::Router(RestOptions options, Handlers handlers)
    : options_(options), handlers_(std::move(handlers)) {
  if (options_.healthEnabled) {
    routes_.push_back({"/about/health", "GET", &Router::health});
  }
  if (options_.versionEnabled) {
    routes_.push_back({"/about/version", "GET", &Router::version});
  }
  if (options_.apiEnabled) {
    routes_.push_back({"/colibri/stats", "GET", &Router::stats});
  }
  if (options_.drainEnabled) {
    routes_.push_back({"/colibri/drain", "GET", &Router::getDrain});
    routes_.push_back({"/colibri/drain/enable", "POST", &Router::enableDrain});
    routes_.push_back({"/colibri/drain/disable", "POST", &Router::disableDrain});
  }
  if (options_.apiEnabled) {
    routes_.push_back({"/colibri/muc-client/add", "POST", &Router::mucClientAdd});
    routes_.push_back({"/colibri/muc-client/remove", "POST", &Router::mucClientRemove});
    routes_.push_back({"/colibri/muc-client/list", "GET", &Router::mucClientList});
  }
  if (options_.apiEnabled && options_.shutdownEnabled) {
    routes_.push_back({"/colibri/shutdown", "POST", &Router::shutdown});
  }
  if (options_.prometheusEnabled) {
    routes_.push_back({"/metrics", "GET", &Router::metrics});
  }
  if (options_.debugEnabled) {
    routes_.push_back({"/debug", "GET", &Router::debug});
  }
}

namespace {

// "/debug/<conference-id>[/<endpoint-id>]" (one or two non-empty segments).
bool isDebugSubPath(std::string_view path) {
  constexpr std::string_view kPrefix = "/debug/";
  if (path.substr(0, kPrefix.size()) != kPrefix) {
    return false;
  }
  path.remove_prefix(kPrefix.size());
  const auto slash = path.find('/');
  if (slash == std::string_view::npos) {
    return !path.empty();
  }
  const auto rest = path.substr(slash + 1);
  return slash > 0 && !rest.empty() && rest.find('/') == std::string_view::npos;
}

// The route a path belongs to: itself, or "/debug" for its sub-paths.
std::string_view routePath(std::string_view path, bool debugEnabled) {
  return debugEnabled && isDebugSubPath(path) ? std::string_view("/debug") : path;
}

// ?full=true|false (JVB's @QueryParam("full")); `dflt` otherwise.
bool fullParam(std::string_view target, bool dflt) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) {
    return dflt;
  }
  std::string_view query = target.substr(q + 1);
  query = query.substr(0, query.find('#'));
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    if (kv == "full=true") {
      return true;
    }
    if (kv == "full=false") {
      return false;
    }
  }
  return dflt;
}

}  // namespace

std::vector<std::string> Router::allowedMethods(std::string_view path) const {
  path = routePath(path, options_.debugEnabled);
  std::vector<std::string> methods;
  for (const auto& r : routes_) {
    if (r.path == path) {
      methods.push_back(r.method);
      if (r.method == "GET") {
        methods.emplace_back("HEAD");
      }
    }
  }
  if (!methods.empty()) {
    methods.emplace_back("OPTIONS");
  }
  return methods;
}

Response Router::handle(const Request& request) const {
  try {
    return dispatch(request);
  } catch (const std::exception& e) {
    LOG_WARN("http", "{} {}: handler failed: {}", request.method, targetPath(request.target),
             e.what());
  } catch (...) {
    LOG_WARN("http", "{} {}: handler failed with a non-standard exception", request.method,
             targetPath(request.target));
  }
  return textResponse(500, "Internal Server Error");
}

Response Router::dispatch(const Request& request) const {
  const std::string_view path = routePath(targetPath(request.target), options_.debugEnabled);
  const std::string_view method =
      request.method == "HEAD" ? std::string_view("GET") : std::string_view(request.method);
  bool known = false;
  for (const auto& r : routes_) {
    if (r.path != path) {
      continue;
    }
    known = true;
    if (r.method == method) {
      return (this->*r.fn)(request);
    }
  }
  if (!known) {
    return textResponse(404, "Not Found");
  }
  const std::string allow = joinMethods(allowedMethods(path));
  if (request.method == "OPTIONS") {
    Response r = emptyOk();
    r.headers.emplace_back("Allow", allow);
    r.headers.emplace_back("Access-Control-Allow-Methods", allow);
    r.headers.emplace_back("Access-Control-Allow-Headers",
                           "X-Requested-With, Content-Type, Accept, Origin");
    r.headers.emplace_back("Access-Control-Max-Age", "1800");
    return r;
  }
  Response r = textResponse(405, "Method Not Allowed");
  r.headers.emplace_back("Allow", allow);
  return r;
}

Response Router::health(const Request&) const {
  const HealthReport report = handlers_.health();
  nlohmann::json body = nlohmann::json::object();
  if (report.details.is_object()) {
    body = report.details;
  } else if (!report.details.is_null()) {
    body["details"] = report.details;
  }
  body["healthy"] = report.healthy;
  if (report.healthy) {
    return jsonResponse(200, body);
  }
  body["reason"] = report.reason;
  return jsonResponse(500, body);
}

Response Router::version(const Request&) const {
  const auto& v = versionInfo();
  return jsonResponse(200, {{"name", v.name}, {"version", v.version}, {"os", v.os}});
}

Response Router::stats(const Request&) const {
  return jsonResponse(200, handlers_.stats());
}

Response Router::getDrain(const Request&) const {
  return jsonResponse(200, {{"drain", handlers_.drain()}});
}

Response Router::enableDrain(const Request&) const {
  handlers_.setDrain(true);
  return emptyOk();
}

Response Router::disableDrain(const Request&) const {
  handlers_.setDrain(false);
  return emptyOk();
}

namespace {

// The JSON object of a POST body, or the 400 that says why not.
std::optional<Response> parseObject(const Request& request, nlohmann::json& body) {
  try {
    body = nlohmann::json::parse(request.body);
  } catch (const nlohmann::json::parse_error& e) {
    std::string text = "malformed JSON body: ";
    text += e.what();
    return textResponse(400, text);
  }
  if (!body.is_object()) {
    return textResponse(400, "the body must be a JSON object");
  }
  return std::nullopt;
}

}  // namespace

Response Router::mucClientAdd(const Request& request) const {
  nlohmann::json body;
  if (auto bad = parseObject(request, body)) {
    return *bad;
  }
  const auto result = handlers_.mucClientAdd(body);
  return result.ok ? emptyOk() : textResponse(400, result.reason);
}

Response Router::mucClientRemove(const Request& request) const {
  nlohmann::json body;
  if (auto bad = parseObject(request, body)) {
    return *bad;
  }
  const auto id = body.find("id");
  if (id == body.end() || !id->is_string()) {
    return textResponse(400, "\"id\" must be a string");
  }
  if (!handlers_.mucClientRemove(id->get<std::string>())) {
    return textResponse(400, "no muc-client with that id");
  }
  return emptyOk();
}

Response Router::mucClientList(const Request&) const {
  return jsonResponse(200, handlers_.mucClientList());
}

Response Router::shutdown(const Request& request) const {
  nlohmann::json body;
  if (auto bad = parseObject(request, body)) {
    return *bad;
  }
  const auto it = body.find("graceful-shutdown");
  bool graceful = false;
  // JVB defaults a missing field to false (an immediate shutdown); a
  // request that forgot it is refused here instead.
  if (it == body.end() || !parseGraceful(*it, graceful)) {
    return textResponse(400, "\"graceful-shutdown\" must be true or false");
  }
  if (!handlers_.shutdown(graceful)) {
    return textResponse(503, "shutdown refused");
  }
  LOG_INFO("http", "{} shutdown requested over REST", graceful ? "graceful" : "immediate");
  return emptyOk();
}

}  // namespace jvb::http

namespace jvb::http {

Response Router::metrics(const Request& request) const {
  const Negotiation n = negotiateMetricsFormat(request.accept);
  if (n.malformed) {
    return textResponse(400, n.error);
  }
  if (!n.format) {
    return textResponse(406, n.error);
  }
  const MetricSet set = handlers_.metrics();
  Response r;
  r.status = 200;
  r.contentType = std::string(contentTypeOf(*n.format));
  switch (*n.format) {
    case MetricsFormat::kOpenMetrics:
      r.body = writeOpenMetrics(set);
      break;
    case MetricsFormat::kText004:
      r.body = writeText004(set);
      break;
    case MetricsFormat::kJson:
      r.body = writeMetricsJson(set);
      break;
  }
  return r;
}

Response Router::debug(const Request& request) const {
  std::string_view path = targetPath(request.target);
  std::string conference;
  std::string endpoint;
  if (path.size() > 7) {  // "/debug/..."
    path.remove_prefix(7);
    const auto slash = path.find('/');
    conference = std::string(path.substr(0, slash));
    if (slash != std::string_view::npos) {
      endpoint = std::string(path.substr(slash + 1));
    }
  }
  // JVB: the bridge's view is short unless ?full=true, a conference's or an
  // endpoint's full unless ?full=false (rest/root/debug/Debug.java).
  const bool full = fullParam(request.target, !conference.empty());
  const auto state = handlers_.debug(conference, endpoint, full);
  if (!state) {
    return textResponse(404, endpoint.empty() ? "No conference was found with the specified id."
                                              : "No endpoint was found with the specified id.");
  }
  return jsonResponse(200, *state);
}

}  // namespace jvb::http
