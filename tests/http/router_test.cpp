// Router: every route, status, method and option, without sockets.
#include "http/router.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/version_info.hpp"

namespace jvb::http {
namespace {

using nlohmann::json;

RestOptions allEnabled() {
  RestOptions o;
  o.apiEnabled = true;
  o.healthEnabled = true;
  o.versionEnabled = true;
  o.drainEnabled = true;
  o.shutdownEnabled = true;
  return o;
}

std::optional<std::string> header(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) {
      return v;
    }
  }
  return std::nullopt;
}

class RouterTest : public ::testing::Test {
 protected:
  Handlers handlers() {
    Handlers h;
    h.health = [this] { return health; };
    h.stats = [this] { return stats; };
    h.drain = [this] { return drain; };
    h.setDrain = [this](bool on) {
      drain = on;
      ++setDrainCalls;
    };
    h.shutdown = [this](bool graceful) {
      lastGraceful = graceful;
      ++shutdownCalls;
      return acceptShutdown;
    };
    h.mucClientAdd = [this](const json& body) {
      added.push_back(body);
      return Handlers::MucClientResult{acceptAdd, acceptAdd ? "" : "missing required key HOSTNAME"};
    };
    h.mucClientRemove = [this](const std::string& id) {
      removed.push_back(id);
      return id == "known";
    };
    h.mucClientList = [] { return std::vector<std::string>{"tech", "extra"}; };
    return h;
  }

  Response call(const std::string& method, const std::string& target, const std::string& body = "",
                RestOptions options = allEnabled()) {
    Router router(options, handlers());
    return router.handle(Request{method, target, body, "application/json", ""});
  }

  HealthReport health{true, "", json{{"media_loop", {{"alive", true}}}}};
  json stats = json{{"conferences", 2}, {"participants", 5}};
  bool drain = false;
  int setDrainCalls = 0;
  bool acceptShutdown = true;
  std::optional<bool> lastGraceful;
  int shutdownCalls = 0;
  bool acceptAdd = true;
  std::vector<json> added;
  std::vector<std::string> removed;
};

TEST_F(RouterTest, HealthyAnswers200WithDetails) {
  const Response r = call("GET", "/about/health");
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(r.contentType, "application/json");
  const json body = json::parse(r.body);
  EXPECT_EQ(body["healthy"], true);
  EXPECT_EQ(body["media_loop"]["alive"], true);
  EXPECT_FALSE(body.contains("reason"));
}

TEST_F(RouterTest, UnhealthyAnswers500WithReason) {
  health = HealthReport{false, "media loop stuck", json{{"heartbeat_age_ms", 4000}}};
  const Response r = call("GET", "/about/health");
  EXPECT_EQ(r.status, 500U);
  EXPECT_EQ(r.contentType, "application/json");
  const json body = json::parse(r.body);
  EXPECT_EQ(body["healthy"], false);
  EXPECT_EQ(body["reason"], "media loop stuck");
  EXPECT_EQ(body["heartbeat_age_ms"], 4000);
}

TEST_F(RouterTest, HealthWithoutOrWithNonObjectDetails) {
  health = HealthReport{true, "", json()};
  EXPECT_EQ(json::parse(call("GET", "/about/health").body), (json{{"healthy", true}}));
  health = HealthReport{true, "", json::array({1, 2})};
  const json body = json::parse(call("GET", "/about/health").body);
  EXPECT_EQ(body["details"], json::array({1, 2}));
  EXPECT_EQ(body["healthy"], true);
}

TEST_F(RouterTest, HealthDisabledIs404) {
  RestOptions o = allEnabled();
  o.healthEnabled = false;
  EXPECT_EQ(call("GET", "/about/health", "", o).status, 404U);
}

TEST_F(RouterTest, Version) {
  const Response r = call("GET", "/about/version");
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(r.contentType, "application/json");
  const json body = json::parse(r.body);
  EXPECT_EQ(body["name"], versionInfo().name);
  EXPECT_EQ(body["version"], versionInfo().version);
  EXPECT_EQ(body["os"], versionInfo().os);

  RestOptions o = allEnabled();
  o.versionEnabled = false;
  EXPECT_EQ(call("GET", "/about/version", "", o).status, 404U);
}

TEST_F(RouterTest, StatsNeedsTheRestApi) {
  const Response r = call("GET", "/colibri/stats");
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(r.contentType, "application/json");
  EXPECT_EQ(json::parse(r.body), stats);

  EXPECT_EQ(call("GET", "/colibri/stats", "", RestOptions{}).status, 404U);  // JVB default: off
}

TEST_F(RouterTest, StatsWithInvalidUtf8StillAnswers) {
  stats = json{{"region", std::string("\xff\xfe")}};
  const Response r = call("GET", "/colibri/stats");
  EXPECT_EQ(r.status, 200U);
  EXPECT_TRUE(json::accept(r.body));
}

TEST_F(RouterTest, DrainGetEnableDisable) {
  EXPECT_EQ(json::parse(call("GET", "/colibri/drain").body), (json{{"drain", false}}));

  Response r = call("POST", "/colibri/drain/enable");
  EXPECT_EQ(r.status, 200U);
  EXPECT_TRUE(drain);
  EXPECT_EQ(json::parse(call("GET", "/colibri/drain").body), (json{{"drain", true}}));

  r = call("POST", "/colibri/drain/disable");
  EXPECT_EQ(r.status, 200U);
  EXPECT_FALSE(drain);
  EXPECT_EQ(setDrainCalls, 2);
}

TEST_F(RouterTest, DrainIsOnWithoutTheRestApi) {
  // JVB: rest.drain.enabled alone gates it.
  EXPECT_EQ(call("GET", "/colibri/drain", "", RestOptions{}).status, 200U);
  EXPECT_EQ(call("POST", "/colibri/drain/enable", "", RestOptions{}).status, 200U);
}

TEST_F(RouterTest, DrainDisabledIs404) {
  RestOptions o = allEnabled();
  o.drainEnabled = false;
  EXPECT_EQ(call("GET", "/colibri/drain", "", o).status, 404U);
  EXPECT_EQ(call("POST", "/colibri/drain/enable", "", o).status, 404U);
  EXPECT_EQ(call("POST", "/colibri/drain/disable", "", o).status, 404U);
  EXPECT_EQ(setDrainCalls, 0);
}

TEST_F(RouterTest, ShutdownGracefulAndImmediate) {
  Response r = call("POST", "/colibri/shutdown", R"({"graceful-shutdown": true})");
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(lastGraceful, true);

  r = call("POST", "/colibri/shutdown", R"({"graceful-shutdown": false})");
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(lastGraceful, false);

  // jitsi's graceful_shutdown.sh sends the boolean as a string.
  r = call("POST", "/colibri/shutdown", R"({ "graceful-shutdown": "true" })");
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(lastGraceful, true);
  EXPECT_EQ(shutdownCalls, 3);
}

TEST_F(RouterTest, ShutdownMalformedBodiesAre400) {
  for (const char* body : {"", "{", "not json", "[true]", "{}", R"({"graceful-shutdown": 1})",
                           R"({"graceful-shutdown": "yes"})", R"({"graceful": true})"}) {
    SCOPED_TRACE(body);
    const Response r = call("POST", "/colibri/shutdown", body);
    EXPECT_EQ(r.status, 400U);
    EXPECT_FALSE(r.body.empty());
  }
  EXPECT_EQ(shutdownCalls, 0);
  EXPECT_NE(call("POST", "/colibri/shutdown", "{").body.find("malformed JSON"), std::string::npos);
}

TEST_F(RouterTest, ShutdownRefusedIs503) {
  acceptShutdown = false;
  EXPECT_EQ(call("POST", "/colibri/shutdown", R"({"graceful-shutdown": true})").status, 503U);
  EXPECT_EQ(shutdownCalls, 1);
}

TEST_F(RouterTest, ShutdownNeedsBothFlags) {
  RestOptions o = allEnabled();
  o.shutdownEnabled = false;
  EXPECT_EQ(call("POST", "/colibri/shutdown", R"({"graceful-shutdown": true})", o).status, 404U);
  o = allEnabled();
  o.apiEnabled = false;
  EXPECT_EQ(call("POST", "/colibri/shutdown", R"({"graceful-shutdown": true})", o).status, 404U);
  EXPECT_EQ(shutdownCalls, 0);
}

TEST_F(RouterTest, MucClientAddRemoveList) {
  const std::string add = R"({"id":"extra","hostname":"10.0.0.1","muc_jids":"b@muc.x"})";
  EXPECT_EQ(call("POST", "/colibri/muc-client/add", add).status, 200U);
  ASSERT_EQ(added.size(), 1U);
  EXPECT_EQ(added[0].value("hostname", ""), "10.0.0.1");
  acceptAdd = false;
  const Response refused = call("POST", "/colibri/muc-client/add", add);
  EXPECT_EQ(refused.status, 400U);
  EXPECT_NE(refused.body.find("HOSTNAME"), std::string::npos);

  EXPECT_EQ(call("POST", "/colibri/muc-client/remove", R"({"id":"known"})").status, 200U);
  EXPECT_EQ(call("POST", "/colibri/muc-client/remove", R"({"id":"other"})").status, 400U);
  EXPECT_EQ(removed, (std::vector<std::string>{"known", "other"}));

  const Response list = call("GET", "/colibri/muc-client/list");
  EXPECT_EQ(list.status, 200U);
  EXPECT_EQ(json::parse(list.body), json::parse(R"(["tech","extra"])"));
}

TEST_F(RouterTest, MucClientBadBodiesAre400AndReachNoHandler) {
  for (const char* body : {"", "{", "[1]", "\"id\""}) {
    SCOPED_TRACE(body);
    EXPECT_EQ(call("POST", "/colibri/muc-client/add", body).status, 400U);
    EXPECT_EQ(call("POST", "/colibri/muc-client/remove", body).status, 400U);
  }
  for (const char* body : {"{}", R"({"id":3})", R"({"id":null})"}) {
    SCOPED_TRACE(body);
    EXPECT_EQ(call("POST", "/colibri/muc-client/remove", body).status, 400U);
  }
  EXPECT_TRUE(added.empty());
  EXPECT_TRUE(removed.empty());
}

TEST_F(RouterTest, MucClientNeedsTheRestApi) {
  RestOptions o = allEnabled();
  o.apiEnabled = false;
  EXPECT_EQ(call("POST", "/colibri/muc-client/add", R"({"id":"x"})", o).status, 404U);
  EXPECT_EQ(call("POST", "/colibri/muc-client/remove", R"({"id":"x"})", o).status, 404U);
  EXPECT_EQ(call("GET", "/colibri/muc-client/list", "", o).status, 404U);
  EXPECT_EQ(call("GET", "/colibri/muc-client/add").status, 405U);
  EXPECT_TRUE(added.empty());
}

TEST_F(RouterTest, QueryAndFragmentAreIgnored) {
  EXPECT_EQ(call("GET", "/about/health?verbose=1").status, 200U);
  EXPECT_EQ(call("GET", "/about/version#x").status, 200U);
  EXPECT_EQ(call("POST", "/colibri/drain/enable?x=1&y").status, 200U);
  EXPECT_EQ(call("GET", "/about/health/?x").status, 404U);
}

TEST_F(RouterTest, AbsoluteFormTarget) {
  EXPECT_EQ(call("GET", "http://127.0.0.1:8080/about/health").status, 200U);
  EXPECT_EQ(call("GET", "http://127.0.0.1:8080").status, 404U);
}

TEST_F(RouterTest, TargetPath) {
  EXPECT_EQ(targetPath("/a/b?c#d"), "/a/b");
  EXPECT_EQ(targetPath("/a#d?c"), "/a");
  EXPECT_EQ(targetPath("https://h:1/x?y"), "/x");
  EXPECT_EQ(targetPath("https://h:1"), "/");
  EXPECT_EQ(targetPath("*"), "*");
  EXPECT_EQ(targetPath(""), "");
}

TEST_F(RouterTest, UnknownPathIs404) {
  for (const char* path : {"/", "/about", "/colibri", "/colibri/conferences", "/metricz",
                           "/about/healthz", "//about/health", "/ABOUT/HEALTH", "*"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(call("GET", path).status, 404U);
  }
}

TEST_F(RouterTest, WrongMethodIs405WithAllow) {
  Response r = call("POST", "/about/health");
  EXPECT_EQ(r.status, 405U);
  EXPECT_EQ(header(r, "Allow"), "GET, HEAD, OPTIONS");

  r = call("GET", "/colibri/shutdown");
  EXPECT_EQ(r.status, 405U);
  EXPECT_EQ(header(r, "Allow"), "POST, OPTIONS");

  r = call("GET", "/colibri/drain/enable");
  EXPECT_EQ(r.status, 405U);
  EXPECT_EQ(header(r, "Allow"), "POST, OPTIONS");

  r = call("DELETE", "/colibri/drain");
  EXPECT_EQ(r.status, 405U);
  EXPECT_EQ(header(r, "Allow"), "GET, HEAD, OPTIONS");

  // Methods are case-sensitive.
  EXPECT_EQ(call("get", "/about/health").status, 405U);
  EXPECT_EQ(call("BREW", "/about/version").status, 405U);
  EXPECT_EQ(setDrainCalls, 0);
}

TEST_F(RouterTest, HeadAnswersAsGet) {
  const Response r = call("HEAD", "/about/version");
  EXPECT_EQ(r.status, 200U);
  EXPECT_FALSE(r.body.empty());  // the server drops it, keeping Content-Length
  EXPECT_EQ(call("HEAD", "/colibri/drain/enable").status, 405U);
  EXPECT_EQ(setDrainCalls, 0);
}

TEST_F(RouterTest, OptionsOnKnownPath) {
  const Response r = call("OPTIONS", "/colibri/drain/enable");
  EXPECT_EQ(r.status, 200U);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(header(r, "Allow"), "POST, OPTIONS");
  EXPECT_EQ(header(r, "Access-Control-Allow-Methods"), "POST, OPTIONS");
  EXPECT_TRUE(header(r, "Access-Control-Allow-Headers").has_value());
  EXPECT_EQ(call("OPTIONS", "/nowhere").status, 404U);
  EXPECT_EQ(setDrainCalls, 0);
}

TEST_F(RouterTest, AllowedMethods) {
  Router router(allEnabled(), handlers());
  EXPECT_EQ(router.allowedMethods("/colibri/stats"),
            (std::vector<std::string>{"GET", "HEAD", "OPTIONS"}));
  EXPECT_TRUE(router.allowedMethods("/nope").empty());
}

TEST_F(RouterTest, ThrowingHandlersAre500) {
  Handlers h = handlers();
  h.health = []() -> HealthReport { throw std::runtime_error("boom"); };
  h.stats = []() -> json { throw 42; };
  h.drain = []() -> bool { throw std::logic_error("no"); };
  h.setDrain = [](bool) { throw std::bad_alloc(); };
  h.shutdown = [](bool) -> bool { throw std::runtime_error("no"); };
  Router router(allEnabled(), h);
  const std::pair<const char*, const char*> calls[] = {{"GET", "/about/health"},
                                                       {"GET", "/colibri/stats"},
                                                       {"GET", "/colibri/drain"},
                                                       {"POST", "/colibri/drain/enable"},
                                                       {"POST", "/colibri/drain/disable"}};
  for (const auto& [method, path] : calls) {
    SCOPED_TRACE(path);
    const Response r = router.handle(Request{method, path, "", "", ""});
    EXPECT_EQ(r.status, 500U);
    EXPECT_EQ(r.body.find("boom"), std::string::npos);  // no internals leak
  }
  EXPECT_EQ(
      router.handle(Request{"POST", "/colibri/shutdown", R"({"graceful-shutdown":true})", "", ""})
          .status,
      500U);
}

TEST_F(RouterTest, MissingHandlersAre500) {
  Router router(allEnabled(), Handlers{});
  EXPECT_EQ(router.handle(Request{"GET", "/about/health", "", "", ""}).status, 500U);
  EXPECT_EQ(router.handle(Request{"GET", "/colibri/stats", "", "", ""}).status, 500U);
  EXPECT_EQ(router.handle(Request{"GET", "/about/version", "", "", ""}).status, 200U);
}

TEST(RestOptionsFrom, MapsTheConfigFlags) {
  config::BridgeConfig cfg;
  RestOptions o = restOptionsFrom(cfg);
  EXPECT_FALSE(o.apiEnabled);
  EXPECT_TRUE(o.healthEnabled);
  EXPECT_TRUE(o.versionEnabled);
  EXPECT_TRUE(o.drainEnabled);
  EXPECT_FALSE(o.shutdownEnabled);
  EXPECT_TRUE(o.prometheusEnabled);  // JVB's reference.conf: rest.prometheus.enabled = true
  EXPECT_TRUE(o.debugEnabled);       // rest.debug.enabled = true
  cfg.restApiEnabled = true;
  cfg.restPrometheusEnabled = false;
  cfg.restDebugEnabled = false;
  cfg.restHealthEnabled = false;
  cfg.restVersionEnabled = false;
  cfg.restDrainEnabled = false;
  cfg.restShutdownEnabled = true;
  o = restOptionsFrom(cfg);
  EXPECT_TRUE(o.apiEnabled);
  EXPECT_FALSE(o.healthEnabled);
  EXPECT_FALSE(o.versionEnabled);
  EXPECT_FALSE(o.drainEnabled);
  EXPECT_TRUE(o.shutdownEnabled);
  EXPECT_FALSE(o.prometheusEnabled);
  EXPECT_FALSE(o.debugEnabled);
}

}  // namespace
}  // namespace jvb::http
