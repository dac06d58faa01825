#pragma once
// JVB's private REST surface as pure routing: a Request in, a Response out, no
// sockets and no Boost. The bridge supplies its data through Handlers, so this
// library never depends on bridge internals.
//
// Threading: a Router is immutable after construction. handle() calls the
// Handlers on the calling thread; HttpServer calls it on the control thread.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/bridge_config.hpp"
#include "http/metrics_format.hpp"

namespace jvb::http {

struct HealthReport {
  bool healthy = true;
  std::string reason;      // why not healthy; sent as "reason" when unhealthy
  nlohmann::json details;  // an object merged into the body (null: none)
};

// All called on the control thread. A handler that is not set, or that throws,
// makes its route answer 500.
struct Handlers {
  std::function<HealthReport()> health;
  std::function<nlohmann::json()> stats;  // the colibri stats map
  std::function<bool()> drain;            // current drain state
  std::function<void(bool)> setDrain;
  std::function<bool(bool graceful)> shutdown;  // returns false when refused
  std::function<MetricSet()> metrics;           // GET /metrics
  // GET /debug[/<conference-id>[/<endpoint-id>]]: JVB's debug state (empty
  // ids: the bridge; `full` as ?full=). nullopt: no such conference or
  // endpoint (404).
  std::function<std::optional<nlohmann::json>(const std::string& conferenceId,
                                              const std::string& endpointId, bool full)>
      debug;
  // JVB's /colibri/muc-client (MucClient.java): add takes the request's JSON
  // object and answers 200 or 400 with the reason; remove takes its "id" and
  // answers whether a connection was removed; list gives the ids.
  struct MucClientResult {
    bool ok = false;
    std::string reason;  // why not, for the 400 body
  };
  std::function<MucClientResult(const nlohmann::json&)> mucClientAdd;
  std::function<bool(const std::string& id)> mucClientRemove;
  std::function<std::vector<std::string>()> mucClientList;
};

// Which routes exist (JVB's RestConfig). A disabled route answers 404, as in
// JVB where it is not registered.
struct RestOptions {
  // videobridge.apis.rest.enabled: /colibri/stats, /colibri/shutdown,
  // /colibri/muc-client/{add,remove,list}
  bool apiEnabled = false;
  bool healthEnabled = true;
  bool versionEnabled = true;
  bool drainEnabled = true;
  bool shutdownEnabled = false;   // needs apiEnabled too
  bool prometheusEnabled = true;  // videobridge.rest.prometheus.enabled: /metrics
  bool debugEnabled = true;       // videobridge.rest.debug.enabled: /debug...
};

// The REST options of a bridge configuration.
inline RestOptions restOptionsFrom(const config::BridgeConfig& cfg) {
  RestOptions o;
  o.apiEnabled = cfg.restApiEnabled;
  o.healthEnabled = cfg.restHealthEnabled;
  o.versionEnabled = cfg.restVersionEnabled;
  o.drainEnabled = cfg.restDrainEnabled;
  o.shutdownEnabled = cfg.restShutdownEnabled;
  o.prometheusEnabled = cfg.restPrometheusEnabled;
  o.debugEnabled = cfg.restDebugEnabled;
  return o;
}

struct Request {
  std::string method;  // as sent, case-sensitive ("GET")
  std::string target;  // origin-form "/path?query" (absolute-form is accepted too)
  std::string body;
  std::string contentType;
  std::string accept;  // the Accept header (empty: none)
};

struct Response {
  unsigned status = 200;
  std::string contentType;  // empty: no Content-Type header
  std::string body;
  // Extra headers (e.g. Allow). The server adds Server, Content-Length,
  // Connection and Access-Control-Allow-Origin itself.
  std::vector<std::pair<std::string, std::string>> headers;
};

// The path of a request target: query and fragment removed; for an
// absolute-form target ("http://host/p") the scheme and authority too.
std::string_view targetPath(std::string_view target);

// Plain-text response "<text>\n" with the given status.
Response textResponse(unsigned status, std::string_view text);

class Router {
 public:
  Router(RestOptions options, Handlers handlers);

  // Never throws for a handler's exception (that becomes 500). HEAD on a GET
  // route answers as GET (the server drops the body); OPTIONS on a known path
  // answers 200 with Allow and CORS headers.
  Response handle(const Request& request) const;

  // The methods a path answers, in Allow-header order (empty: unknown path).
  std::vector<std::string> allowedMethods(std::string_view path) const;

 private:
  using Fn = Response (Router::*)(const Request&) const;
  struct Route {
    std::string path;
    std::string method;
    Fn fn;
  };

  Response dispatch(const Request& request) const;
  Response health(const Request&) const;
  Response version(const Request&) const;
  Response stats(const Request&) const;
  Response getDrain(const Request&) const;
  Response enableDrain(const Request&) const;
  Response disableDrain(const Request&) const;
  Response shutdown(const Request&) const;
  Response metrics(const Request&) const;
  Response debug(const Request&) const;
  Response mucClientAdd(const Request&) const;
  Response mucClientRemove(const Request&) const;
  Response mucClientList(const Request&) const;

  RestOptions options_;
  Handlers handlers_;
  std::vector<Route> routes_;
};

}  // namespace jvb::http
