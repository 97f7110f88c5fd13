#include "core/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace agentidp::core {

namespace {

bool IsMetricName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsLabelName(std::string_view s) {
  if (s.empty() || s.starts_with("__")) return false;  // "__" is reserved by Prometheus
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// Exposition format 0.0.4: Go-style float text, with +Inf/-Inf/NaN spelled out.
std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

// HELP text escapes backslash and newline; label values also escape the double quote.
void AppendEscaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        if (quote) {
          out += "\\\"";
          break;
        }
        [[fallthrough]];
      default:
        out.push_back(c);
    }
  }
}

void AppendLabels(std::string& out, const MetricLabels& labels, std::string_view le = {}) {
  if (labels.empty() && le.empty()) return;
  out.push_back('{');
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out.push_back(',');
    first = false;
    out += k;
    out += "=\"";
    AppendEscaped(out, v, true);
    out.push_back('"');
  }
  if (!le.empty()) {
    if (!first) out.push_back(',');
    out += "le=\"";
    out += le;
    out.push_back('"');
  }
  out.push_back('}');
}

MetricLabels Canonical(const MetricLabels& labels, bool histogram) {
  MetricLabels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (!IsLabelName(sorted[i].first))
      throw std::invalid_argument("invalid metric label name: " + sorted[i].first);
    if (histogram && sorted[i].first == "le")
      throw std::invalid_argument("histogram label 'le' is reserved");
    if (i > 0 && sorted[i].first == sorted[i - 1].first)
      throw std::invalid_argument("duplicate metric label: " + sorted[i].first);
  }
  return sorted;
}

}  // namespace

// ---------------------------------------------------------------------------------------

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  // Buckets are "less than or equal": lower_bound finds the first bound >= value.
  size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                 bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

const std::vector<double>& DefaultLatencyBuckets() {
  static const std::vector<double> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return kBuckets;
}

// ---------------------------------------------------------------------------------------

struct Metrics::Family {
  std::string name;
  std::string help;
  Type type;
  std::vector<double> buckets;  // histograms only
  std::map<MetricLabels, std::unique_ptr<Counter>> counters;
  std::map<MetricLabels, std::unique_ptr<Gauge>> gauges;
  std::map<MetricLabels, std::unique_ptr<Histogram>> histograms;
};

Metrics::Metrics() = default;
Metrics::~Metrics() = default;

Metrics::Family& Metrics::GetFamily(const std::string& name, const std::string& help, Type type) {
  if (!IsMetricName(name)) throw std::invalid_argument("invalid metric name: " + name);
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto family = std::make_unique<Family>();
    family->name = name;
    family->help = help;
    family->type = type;
    it = families_.emplace(name, std::move(family)).first;
  } else if (it->second->type != type) {
    throw std::invalid_argument("metric registered twice with different types: " + name);
  }
  return *it->second;
}

Counter& Metrics::GetCounter(const std::string& name, const std::string& help,
                             const MetricLabels& labels) {
  MetricLabels key = Canonical(labels, false);
  std::lock_guard lock(mutex_);
  Family& family = GetFamily(name, help, Type::kCounter);
  auto& slot = family.counters[std::move(key)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Metrics::GetGauge(const std::string& name, const std::string& help,
                         const MetricLabels& labels) {
  MetricLabels key = Canonical(labels, false);
  std::lock_guard lock(mutex_);
  Family& family = GetFamily(name, help, Type::kGauge);
  auto& slot = family.gauges[std::move(key)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Metrics::GetHistogram(const std::string& name, const std::string& help,
                                 const MetricLabels& labels, std::vector<double> buckets) {
  if (buckets.empty()) buckets = DefaultLatencyBuckets();
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (!std::isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
      throw std::invalid_argument("histogram buckets must be finite and increasing: " + name);
  }
  MetricLabels key = Canonical(labels, true);
  std::lock_guard lock(mutex_);
  Family& family = GetFamily(name, help, Type::kHistogram);
  if (family.buckets.empty()) {
    family.buckets = buckets;
  } else if (family.buckets != buckets) {
    throw std::invalid_argument("histogram re-registered with other buckets: " + name);
  }
  auto& slot = family.histograms[std::move(key)];
  if (!slot) slot = std::make_unique<Histogram>(std::move(buckets));
  return *slot;
}

std::string Metrics::RenderPrometheus() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, family] : families_) {
    out += "# HELP ";
    out += name;
    out.push_back(' ');
    AppendEscaped(out, family->help, false);
    out += "\n# TYPE ";
    out += name;
    switch (family->type) {
      case Type::kCounter:
        out += " counter\n";
        for (const auto& [labels, counter] : family->counters) {
          out += name;
          AppendLabels(out, labels);
          out.push_back(' ');
          out += std::to_string(counter->Value());
          out.push_back('\n');
        }
        break;
      case Type::kGauge:
        out += " gauge\n";
        for (const auto& [labels, gauge] : family->gauges) {
          out += name;
          AppendLabels(out, labels);
          out.push_back(' ');
          out += FormatDouble(gauge->Value());
          out.push_back('\n');
        }
        break;
      case Type::kHistogram:
        out += " histogram\n";
        for (const auto& [labels, histogram] : family->histograms) {
          // Derive the total from the buckets so that le="+Inf" always equals _count,
          // even while other threads observe.
          std::vector<uint64_t> counts = histogram->BucketCounts();
          const auto& bounds = histogram->Bounds();
          uint64_t cumulative = 0;
          for (size_t i = 0; i < counts.size(); ++i) {
            cumulative += counts[i];
            out += name;
            out += "_bucket";
            AppendLabels(out, labels, i < bounds.size() ? FormatDouble(bounds[i]) : "+Inf");
            out.push_back(' ');
            out += std::to_string(cumulative);
            out.push_back('\n');
          }
          out += name;
          out += "_sum";
          AppendLabels(out, labels);
          out.push_back(' ');
          out += FormatDouble(histogram->Sum());
          out.push_back('\n');
          out += name;
          out += "_count";
          AppendLabels(out, labels);
          out.push_back(' ');
          out += std::to_string(cumulative);
          out.push_back('\n');
        }
        break;
    }
  }
  return out;
}

}  // namespace agentidp::core
