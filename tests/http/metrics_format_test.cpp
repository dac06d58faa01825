// /metrics: content negotiation as jicoco's MetricsContainer.getMetrics, the
// OpenMetrics writer, the 0.0.4 text (prometheus-cpp), JVB's JSON, and the
// routes /metrics and /debug with their gates.
#include "http/metrics_format.hpp"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "http/router.hpp"

namespace jvb::http {
namespace {

MetricsFormat formatOf(std::string_view accept) {
  const auto n = negotiateMetricsFormat(accept);
  EXPECT_TRUE(n.format.has_value()) << accept << ": " << n.error;
  return n.format.value_or(MetricsFormat::kJson);
}

TEST(MetricsNegotiation, JicocosChoices) {
  EXPECT_EQ(formatOf(""), MetricsFormat::kOpenMetrics);  // no Accept
  EXPECT_EQ(formatOf("*/*"), MetricsFormat::kOpenMetrics);
  EXPECT_EQ(formatOf("text/plain"), MetricsFormat::kText004);
  EXPECT_EQ(formatOf("text/plain; version=0.0.4"), MetricsFormat::kText004);
  EXPECT_EQ(formatOf("application/json"), MetricsFormat::kJson);
  EXPECT_EQ(formatOf("application/openmetrics-text; version=1.0.0"), MetricsFormat::kOpenMetrics);
  // Prometheus 2.x's scrape header: OpenMetrics first.
  EXPECT_EQ(
      formatOf("application/openmetrics-text;version=1.0.0,application/"
               "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
      MetricsFormat::kOpenMetrics);
  // Sorted by q, highest first; equal q keep their order.
  EXPECT_EQ(formatOf("application/openmetrics-text;q=0.2, text/plain;q=0.9"),
            MetricsFormat::kText004);
  EXPECT_EQ(formatOf("application/json, text/plain"), MetricsFormat::kJson);
  // Unknown types are skipped, not fatal, while a known one follows.
  EXPECT_EQ(formatOf("text/html, application/xhtml+xml, */*;q=0.8"), MetricsFormat::kOpenMetrics);
  EXPECT_EQ(formatOf("TEXT/Plain"), MetricsFormat::kText004);
}

TEST(MetricsNegotiation, NothingAcceptableOrMalformed) {
  const auto none = negotiateMetricsFormat("text/html, image/png");
  EXPECT_FALSE(none.format);
  EXPECT_FALSE(none.malformed);
  EXPECT_NE(none.error.find("application/openmetrics-text"), std::string::npos);
  for (const char* bad : {"garbage", "text/plain;q=abc", "text/plain;q=2", "/plain"}) {
    const auto n = negotiateMetricsFormat(bad);
    EXPECT_FALSE(n.format) << bad;
    EXPECT_TRUE(n.malformed) << bad;
  }
}

TEST(MetricsNegotiation, ContentTypes) {
  EXPECT_EQ(contentTypeOf(MetricsFormat::kOpenMetrics),
            "application/openmetrics-text; version=1.0.0; charset=utf-8");
  EXPECT_EQ(contentTypeOf(MetricsFormat::kText004), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(contentTypeOf(MetricsFormat::kJson), "application/json");
}

TEST(MetricValue, AsTheJavaClientWritesIt) {
  EXPECT_EQ(formatMetricValue(3), "3.0");
  EXPECT_EQ(formatMetricValue(0), "0.0");
  EXPECT_EQ(formatMetricValue(0.25), "0.25");
  EXPECT_EQ(formatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(formatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(formatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

MetricSet sample() {
  prometheus::Registry r;
  prometheus::BuildCounter()
      .Name("jitsi_jvb_packets_received_total")
      .Help("Packets \\ received\nsecond line")
      .Register(r)
      .Add({})
      .Increment(42);
  auto& stanzas = prometheus::BuildCounter().Name("jvb_audio_xmpp_stanzas_total").Register(r);
  stanzas.Add({{"direction", "received"}}).Increment(5);
  stanzas.Add({{"direction", "a\"b\\c\nd"}}).Increment(1);
  prometheus::BuildGauge().Name("jitsi_jvb_healthy").Help("h").Register(r).Add({}).Set(1);
  prometheus::BuildGauge().Name("jitsi_jvb_stress").Help("s").Register(r).Add({}).Set(0.5);
  prometheus::BuildGauge()
      .Name("jitsi_jvb_region_info")
      .Help("r")
      .Register(r)
      .Add({{"region", "eu-1"}})
      .Set(1);
  auto& h = prometheus::BuildHistogram()
                .Name("jitsi_jvb_conferences_by_size")
                .Help("sizes")
                .Register(r)
                .Add({}, prometheus::Histogram::BucketBoundaries{0, 1, 2});
  h.Observe(1);
  h.Observe(2);
  h.Observe(7);
  MetricSet m;
  m.families = r.Collect();
  m.booleans = {"jitsi_jvb_healthy"};
  m.infos = {"jitsi_jvb_region_info"};
  return m;
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(OpenMetricsWriter, CountersDeclaredWithoutTotalSamplesWithIt) {
  const std::string om = writeOpenMetrics(sample());
  EXPECT_TRUE(has(om, "# TYPE jitsi_jvb_packets_received counter\n")) << om;
  EXPECT_TRUE(has(om, "\njitsi_jvb_packets_received_total 42.0\n")) << om;
  EXPECT_FALSE(has(om, "# TYPE jitsi_jvb_packets_received_total")) << om;
  EXPECT_TRUE(has(om, "jvb_audio_xmpp_stanzas_total{direction=\"received\"} 5.0\n")) << om;
}

TEST(OpenMetricsWriter, EscapesLabelValuesAndHelp) {
  const std::string om = writeOpenMetrics(sample());
  EXPECT_TRUE(has(om, "{direction=\"a\\\"b\\\\c\\nd\"} 1.0\n")) << om;
  EXPECT_TRUE(has(om, "# HELP jitsi_jvb_packets_received Packets \\\\ received\\nsecond line\n"))
      << om;
}

TEST(OpenMetricsWriter, HistogramBucketsCumulativeWithInfCountAndSum) {
  const std::string om = writeOpenMetrics(sample());
  EXPECT_TRUE(has(om, "# TYPE jitsi_jvb_conferences_by_size histogram\n")) << om;
  EXPECT_TRUE(has(om,
                  "jitsi_jvb_conferences_by_size_bucket{le=\"0.0\"} 0.0\n"
                  "jitsi_jvb_conferences_by_size_bucket{le=\"1.0\"} 1.0\n"
                  "jitsi_jvb_conferences_by_size_bucket{le=\"2.0\"} 2.0\n"
                  "jitsi_jvb_conferences_by_size_bucket{le=\"+Inf\"} 3.0\n"
                  "jitsi_jvb_conferences_by_size_count 3.0\n"
                  "jitsi_jvb_conferences_by_size_sum 10.0\n"))
      << om;
}

TEST(OpenMetricsWriter, GaugesInfoAndEof) {
  const std::string om = writeOpenMetrics(sample());
  EXPECT_TRUE(
      has(om, "# TYPE jitsi_jvb_stress gauge\n# HELP jitsi_jvb_stress s\njitsi_jvb_stress 0.5\n"))
      << om;
  EXPECT_TRUE(has(om, "# TYPE jitsi_jvb_region info\n")) << om;
  EXPECT_TRUE(has(om, "jitsi_jvb_region_info{region=\"eu-1\"} 1.0\n")) << om;
  ASSERT_GE(om.size(), 6U);
  EXPECT_EQ(om.substr(om.size() - 6), "# EOF\n");
  EXPECT_EQ(om.find("# EOF"), om.size() - 6);  // once, at the end
  EXPECT_EQ(writeOpenMetrics({}), "# EOF\n");
}

TEST(Text004Writer, PrometheusCppSerializer) {
  const std::string t = writeText004(sample());
  EXPECT_TRUE(has(t, "# TYPE jitsi_jvb_packets_received_total counter\n")) << t;
  EXPECT_TRUE(has(t, "\njitsi_jvb_packets_received_total 42\n")) << t;
  EXPECT_TRUE(has(t, "jitsi_jvb_conferences_by_size_bucket{le=\"+Inf\"} 3\n")) << t;
  EXPECT_TRUE(has(t, "# TYPE jitsi_jvb_region_info gauge\n")) << t;
  EXPECT_FALSE(has(t, "# EOF")) << t;
}

TEST(MetricsJson, JvbsShape) {
  const auto j = nlohmann::json::parse(writeMetricsJson(sample()));
  EXPECT_EQ(j.at("packets_received_total"), 42);
  EXPECT_EQ(j.at("healthy"), true);
  EXPECT_EQ(j.at("stress"), 0.5);
  EXPECT_EQ(j.at("region"), "eu-1");
  EXPECT_EQ(j.at("conferences_by_size").at("bucket_le_+Inf"), 3);
  EXPECT_EQ(j.at("conferences_by_size").at("count"), 3);
  EXPECT_FALSE(j.contains("jvb_audio_xmpp_stanzas_total"));  // labelled: not in JSON
}

// The routes, through the Router.
Handlers metricsHandlers() {
  Handlers h;
  h.metrics = [] { return sample(); };
  h.debug = [](const std::string& conference, const std::string& endpoint,
               bool full) -> std::optional<nlohmann::json> {
    if (!conference.empty() && conference != "abc") {
      return std::nullopt;
    }
    if (!endpoint.empty() && endpoint != "ep1") {
      return std::nullopt;
    }
    return nlohmann::json{{"conference", conference}, {"endpoint", endpoint}, {"full", full}};
  };
  return h;
}

Response get(const Router& r, const std::string& target, const std::string& accept = "") {
  Request q;
  q.method = "GET";
  q.target = target;
  q.accept = accept;
  return r.handle(q);
}

TEST(MetricsRoute, NegotiatesAndAnswers) {
  const Router r(RestOptions{}, metricsHandlers());
  auto res = get(r, "/metrics");
  EXPECT_EQ(res.status, 200U);
  EXPECT_EQ(res.contentType, kContentTypeOpenMetrics);
  EXPECT_TRUE(has(res.body, "# EOF\n"));
  res = get(r, "/metrics", "text/plain;version=0.0.4");
  EXPECT_EQ(res.contentType, kContentTypeText004);
  EXPECT_FALSE(has(res.body, "# EOF"));
  res = get(r, "/metrics", "application/json");
  EXPECT_EQ(res.contentType, kContentTypeJson);
  EXPECT_EQ(get(r, "/metrics", "image/png").status, 406U);
  EXPECT_EQ(get(r, "/metrics", "nonsense").status, 400U);
}

TEST(DebugRoute, PathsDefaultsAndUnknownIds) {
  const Router r(RestOptions{}, metricsHandlers());
  auto body = [&](const std::string& t) { return nlohmann::json::parse(get(r, t).body); };
  EXPECT_EQ(body("/debug").at("full"), false);  // JVB: the bridge's view is short by default
  EXPECT_EQ(body("/debug?full=true").at("full"), true);
  EXPECT_EQ(body("/debug/abc").at("full"), true);  // a conference's is full by default
  EXPECT_EQ(body("/debug/abc?full=false").at("full"), false);
  EXPECT_EQ(body("/debug/abc").at("conference"), "abc");
  EXPECT_EQ(body("/debug/abc/ep1").at("endpoint"), "ep1");
  EXPECT_EQ(get(r, "/debug/nope").status, 404U);
  EXPECT_EQ(get(r, "/debug/abc/nope").status, 404U);
  EXPECT_EQ(get(r, "/debug/abc/ep1/more").status, 404U);
  EXPECT_EQ(get(r, "/debug/").status, 404U);
}

TEST(MetricsRoute, GatesOffAre404) {
  RestOptions off;
  off.prometheusEnabled = false;
  off.debugEnabled = false;
  const Router r(off, metricsHandlers());
  EXPECT_EQ(get(r, "/metrics").status, 404U);
  EXPECT_EQ(get(r, "/debug").status, 404U);
  EXPECT_EQ(get(r, "/debug/abc").status, 404U);
}

}  // namespace
}  // namespace jvb::http
