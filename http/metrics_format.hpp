#pragma once
// GET /metrics: JVB's content negotiation and the three bodies it can give
// (jicoco's MetricsContainer.getMetrics, rest/prometheus/Prometheus.java):
//
//   - the Accept header is split at commas, its media types sorted by q
//     (highest first, 1 when absent; equal q keep their order), and the
//     first of application/openmetrics-text, text/plain, application/json
//     and */* decides: OpenMetrics 1.0.0, Prometheus text 0.0.4, JSON,
//     OpenMetrics. An empty list (no Accept) is OpenMetrics too;
//   - none of them: 406 (JVB throws NoSupportedMediaTypeException, a 500).
//
// Prometheus text 0.0.4 is prometheus-cpp's TextSerializer. prometheus-cpp
// 1.0 has no OpenMetrics serializer, so writeOpenMetrics() is ours, over the
// same MetricFamily values. Pure functions, no I/O.
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>

namespace jvb::http {

// The metrics of one scrape. A family's name is as the 0.0.4 text shows it
// (a counter's ends in _total). `booleans` name gauges that are JVB
// BooleanMetrics (JSON true/false), `infos` gauges that are Info metrics
// (NAME_info, value 1, the information in a label; OpenMetrics type info).
struct MetricSet {
  std::vector<prometheus::MetricFamily> families;
  std::set<std::string> booleans;
  std::set<std::string> infos;
};

enum class MetricsFormat { kOpenMetrics, kText004, kJson };

inline constexpr std::string_view kContentTypeOpenMetrics =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
inline constexpr std::string_view kContentTypeText004 = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::string_view kContentTypeJson = "application/json";

struct Negotiation {
  std::optional<MetricsFormat> format;  // nullopt: nothing acceptable
  bool malformed = false;               // an item with no type/subtype or a bad q
  std::string error;                    // why, when !format
};

// `accept`: the Accept header's value, empty when there was none.
Negotiation negotiateMetricsFormat(std::string_view accept);

std::string_view contentTypeOf(MetricsFormat format);

// Prometheus text format 0.0.4 (prometheus-cpp's TextSerializer).
std::string writeText004(const MetricSet& metrics);
// OpenMetrics 1.0.0 text: "# TYPE", "# HELP", samples, "# EOF". A counter's
// family is declared without its _total suffix, its sample carries it.
std::string writeOpenMetrics(const MetricSet& metrics);
// JVB's JSON: {"<name without the jitsi_jvb_ namespace>": value, ...};
// a histogram as {"bucket_le_<bound>": n, ..., "count": n, "sum": x}.
std::string writeMetricsJson(const MetricSet& metrics);

// A double as the Java client writes it (Collector.doubleToGoString):
// "+Inf", "-Inf", "NaN", "3.0", "0.25".
std::string formatMetricValue(double v);

}  // namespace jvb::http
