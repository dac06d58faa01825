#include "http/metrics_format.hpp"

#include <fmt/format.h>

#include <prometheus/text_serializer.h>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace jvb::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct MediaRange {
  std::string type;  // "type/subtype", lower case
  double q = 1.0;
};

// One Accept item: "type/subtype *( ; param )". False when malformed.
bool parseRange(std::string_view item, MediaRange& out, std::string& error) {
  const auto semi = item.find(';');
  const std::string_view type = trim(item.substr(0, semi));
  const auto slash = type.find('/');
  if (type == "*") {
    out.type = "*/*";  // what Java's MediaType makes of a lone "*"
  } else if (slash == std::string_view::npos || slash == 0 || slash + 1 == type.size() ||
             type.find_first_of(" \t/", slash + 1) != std::string_view::npos) {
    error = fmt::format("malformed media type '{}' in Accept", type);
    return false;
  } else {
    out.type = lower(type);
  }
  std::string_view params = semi == std::string_view::npos ? "" : item.substr(semi + 1);
  while (!params.empty()) {
    const auto next = params.find(';');
    const std::string_view param = trim(params.substr(0, next));
    params = next == std::string_view::npos ? "" : params.substr(next + 1);
    const auto eq = param.find('=');
    if (eq == std::string_view::npos || lower(trim(param.substr(0, eq))) != "q") {
      continue;  // version=..., charset=...: not part of the choice
    }
    const std::string_view v = trim(param.substr(eq + 1));
    double q = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), q);
    if (ec != std::errc() || end != v.data() + v.size() || !(q >= 0.0 && q <= 1.0)) {
      error = fmt::format("bad q value '{}' in Accept", v);
      return false;
    }
    out.q = q;
  }
  return true;
}

bool isCounter(const prometheus::MetricFamily& f) {
  return f.type == prometheus::MetricType::Counter;
}

// OpenMetrics label values and HELP: backslash, double quote and newline
// escaped (OpenMetrics 1.0 "escaped-string").
void appendEscaped(std::string& out, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void appendLabels(std::string& out, const std::vector<prometheus::ClientMetric::Label>& labels,
                  const char* extraName = nullptr, std::string_view extraValue = {}) {
  if (labels.empty() && extraName == nullptr) {
    return;
  }
  out += '{';
  bool first = true;
  for (const auto& l : labels) {
    if (!first) {
      out += ',';
    }
    first = false;
    out += l.name;
    out += "=\"";
    appendEscaped(out, l.value);
    out += '"';
  }
  if (extraName != nullptr) {
    if (!first) {
      out += ',';
    }
    out += extraName;
    out += "=\"";
    appendEscaped(out, extraValue);
    out += '"';
  }
  out += '}';
}

void appendSample(std::string& out, std::string_view name, std::string_view suffix,
                  const std::vector<prometheus::ClientMetric::Label>& labels, double value,
                  const char* extraName = nullptr, std::string_view extraValue = {}) {
  out += name;
  out += suffix;
  appendLabels(out, labels, extraName, extraValue);
  out += ' ';
  out += formatMetricValue(value);
  out += '\n';
}

std::string_view stripSuffix(std::string_view name, std::string_view suffix) {
  if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix) {
    name.remove_suffix(suffix.size());
  }
  return name;
}

}  // namespace

std::string formatMetricValue(double v) {
  if (std::isnan(v)) {
    return "NaN";
  }
  if (std::isinf(v)) {
    return v > 0 ? "+Inf" : "-Inf";
  }
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return fmt::format("{:.1f}", v);
  }
  return fmt::format("{}", v);
}

Negotiation negotiateMetricsFormat(std::string_view accept) {
  Negotiation n;
  std::vector<MediaRange> ranges;
  while (!trim(accept).empty()) {
    const auto comma = accept.find(',');
    const std::string_view item = trim(accept.substr(0, comma));
    accept = comma == std::string_view::npos ? "" : accept.substr(comma + 1);
    if (item.empty()) {
      continue;
    }
    MediaRange r;
    if (!parseRange(item, r, n.error)) {
      n.malformed = true;
      return n;
    }
    ranges.push_back(std::move(r));
  }
  if (ranges.empty()) {
    n.format = MetricsFormat::kOpenMetrics;
    return n;
  }
  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const MediaRange& a, const MediaRange& b) { return a.q > b.q; });
  for (const auto& r : ranges) {
    if (r.type == "application/openmetrics-text" || r.type == "*/*") {
      n.format = MetricsFormat::kOpenMetrics;
    } else if (r.type == "text/plain") {
      n.format = MetricsFormat::kText004;
    } else if (r.type == "application/json") {
      n.format = MetricsFormat::kJson;
    }
    if (n.format) {
      return n;
    }
  }
  n.error =
      "Supported media types are application/openmetrics-text, text/plain and application/json";
  return n;
}

std::string_view contentTypeOf(MetricsFormat format) {
  switch (format) {
    case MetricsFormat::kOpenMetrics:
      return kContentTypeOpenMetrics;
    case MetricsFormat::kText004:
      return kContentTypeText004;
    case MetricsFormat::kJson:
      return kContentTypeJson;
  }
  return kContentTypeOpenMetrics;
}

std::string writeText004(const MetricSet& metrics) {
  return prometheus::TextSerializer().Serialize(metrics.families);
}

std::string writeOpenMetrics(const MetricSet& metrics) {
  std::string out;
  out.reserve(4096);
  for (const auto& f : metrics.families) {
    const bool info = metrics.infos.count(f.name) != 0;
    // The family's name: a counter's without _total, an info's without _info.
    const std::string_view name = isCounter(f) ? stripSuffix(f.name, "_total")
                                  : info       ? stripSuffix(f.name, "_info")
                                               : std::string_view(f.name);
    std::string_view type = "unknown";
    switch (f.type) {
      case prometheus::MetricType::Counter:
        type = "counter";
        break;
      case prometheus::MetricType::Gauge:
        type = info ? "info" : "gauge";
        break;
      case prometheus::MetricType::Histogram:
        type = "histogram";
        break;
      case prometheus::MetricType::Summary:
        type = "summary";
        break;
      default:
        break;
    }
    out += "# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
    if (!f.help.empty()) {
      out += "# HELP ";
      out += name;
      out += ' ';
      appendEscaped(out, f.help);
      out += '\n';
    }
    for (const auto& m : f.metric) {
      switch (f.type) {
        case prometheus::MetricType::Counter:
          appendSample(out, name, "_total", m.label, m.counter.value);
          break;
        case prometheus::MetricType::Gauge:
          appendSample(out, name, info ? "_info" : "", m.label, info ? 1.0 : m.gauge.value);
          break;
        case prometheus::MetricType::Histogram: {
          bool haveInf = false;
          for (const auto& b : m.histogram.bucket) {
            haveInf = haveInf || std::isinf(b.upper_bound);
            appendSample(out, name, "_bucket", m.label, static_cast<double>(b.cumulative_count),
                         "le", formatMetricValue(b.upper_bound));
          }
          if (!haveInf) {  // OpenMetrics requires the +Inf bucket
            appendSample(out, name, "_bucket", m.label,
                         static_cast<double>(m.histogram.sample_count), "le", "+Inf");
          }
          appendSample(out, name, "_count", m.label, static_cast<double>(m.histogram.sample_count));
          appendSample(out, name, "_sum", m.label, m.histogram.sample_sum);
          break;
        }
        case prometheus::MetricType::Summary:
          for (const auto& q : m.summary.quantile) {
            appendSample(out, name, "", m.label, q.value, "quantile",
                         formatMetricValue(q.quantile));
          }
          appendSample(out, name, "_count", m.label, static_cast<double>(m.summary.sample_count));
          appendSample(out, name, "_sum", m.label, m.summary.sample_sum);
          break;
        default:
          appendSample(out, name, "", m.label, m.untyped.value);
          break;
      }
    }
  }
  out += "# EOF\n";
  return out;
}

std::string writeMetricsJson(const MetricSet& metrics) {
  constexpr std::string_view kNamespace = "jitsi_jvb_";
  auto j = nlohmann::json::object();
  for (const auto& f : metrics.families) {
    // As jicoco: only metrics without labels (an info's value is its label).
    const bool info = metrics.infos.count(f.name) != 0;
    if (f.metric.size() != 1 || (!f.metric[0].label.empty() && !info)) {
      continue;
    }
    std::string_view key = f.name;
    if (key.substr(0, kNamespace.size()) == kNamespace) {
      key.remove_prefix(kNamespace.size());
    }
    if (info) {
      key = stripSuffix(key, "_info");
    }
    const auto& m = f.metric[0];
    auto& v = j[std::string(key)];
    switch (f.type) {
      case prometheus::MetricType::Counter:
        v = static_cast<uint64_t>(std::max(0.0, m.counter.value));
        break;
      case prometheus::MetricType::Gauge:
        if (info) {
          v = m.label.empty() ? std::string() : m.label.front().value;
        } else if (metrics.booleans.count(f.name) != 0) {
          v = m.gauge.value != 0.0;
        } else if (m.gauge.value == std::floor(m.gauge.value) && std::fabs(m.gauge.value) < 9e15) {
          v = static_cast<int64_t>(m.gauge.value);  // a LongGauge
        } else {
          v = m.gauge.value;
        }
        break;
      case prometheus::MetricType::Histogram: {
        v = nlohmann::json::object();
        for (const auto& b : m.histogram.bucket) {
          v[fmt::format("bucket_le_{}", formatMetricValue(b.upper_bound))] = b.cumulative_count;
        }
        v["count"] = m.histogram.sample_count;
        v["sum"] = m.histogram.sample_sum;
        break;
      }
      default:
        v = m.untyped.value;
        break;
    }
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace jvb::http
