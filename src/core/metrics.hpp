#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace agentidp::core {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Monotonic counter. Inc() is one relaxed atomic add.
class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void Inc() { Add(1); }
  void Dec() { Add(-1); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Cumulative histogram with fixed upper bounds. Observe() is a short search over the
// bounds plus three relaxed atomic adds; no lock.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);

  const std::vector<double>& Bounds() const { return bounds_; }
  // Non-cumulative count per bucket; the last entry is the +Inf overflow bucket.
  std::vector<uint64_t> BucketCounts() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// 0.5 ms ... 10 s, for request latencies in seconds.
const std::vector<double>& DefaultLatencyBuckets();

// A small Prometheus registry. Get*() resolve a (name, label set) once under a mutex
// and return a reference that stays valid for the registry's lifetime; the hot path
// then only touches atomics. Label order does not matter ({a,b} and {b,a} are the same
// series). Misuse (invalid metric or label name, one name registered with two types,
// a histogram re-registered with other buckets) is a programming error and throws
// std::invalid_argument, normally at start-up.
class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  Counter& GetCounter(const std::string& name, const std::string& help,
                      const MetricLabels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help,
                  const MetricLabels& labels = {});
  // Empty `buckets` means DefaultLatencyBuckets(). Bounds must be strictly increasing
  // and finite.
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          const MetricLabels& labels = {}, std::vector<double> buckets = {});

  // Prometheus text exposition format 0.0.4
  // (Content-Type: text/plain; version=0.0.4; charset=utf-8).
  std::string RenderPrometheus() const;

  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family;
  Family& GetFamily(const std::string& name, const std::string& help, Type type);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
};

}  // namespace agentidp::core
