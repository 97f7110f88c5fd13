#include "core/metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>
#include <vector>

namespace agentidp::core {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, RendersCountersWithHelpTypeAndLabels) {
  Metrics m;
  m.GetCounter("app_requests_total", "Requests.", {{"route", "/a"}, {"method", "GET"}}).Inc();
  m.GetCounter("app_requests_total", "Requests.", {{"route", "/a"}, {"method", "GET"}}).Inc(2);
  m.GetCounter("app_requests_total", "Requests.", {{"route", "/b"}, {"method", "GET"}}).Inc();
  EXPECT_EQ(m.RenderPrometheus(),
            "# HELP app_requests_total Requests.\n"
            "# TYPE app_requests_total counter\n"
            "app_requests_total{method=\"GET\",route=\"/a\"} 3\n"
            "app_requests_total{method=\"GET\",route=\"/b\"} 1\n");
}

TEST(MetricsTest, SameSeriesRegardlessOfLabelOrderAndStableReferences) {
  Metrics m;
  Counter& a = m.GetCounter("c_total", "h", {{"x", "1"}, {"y", "2"}});
  Counter& b = m.GetCounter("c_total", "h", {{"y", "2"}, {"x", "1"}});
  EXPECT_EQ(&a, &b);
  // Many more series must not move the first one.
  for (int i = 0; i < 1000; ++i) m.GetCounter("c_total", "h", {{"x", std::to_string(i)}});
  a.Inc(5);
  EXPECT_EQ(b.Value(), 5u);
}

TEST(MetricsTest, RendersGauges) {
  Metrics m;
  Gauge& g = m.GetGauge("queue_depth", "Queued.");
  g.Set(3);
  g.Add(1.5);
  g.Dec();
  EXPECT_EQ(m.RenderPrometheus(),
            "# HELP queue_depth Queued.\n# TYPE queue_depth gauge\nqueue_depth 3.5\n");
}

TEST(MetricsTest, RendersCumulativeHistogramBuckets) {
  Metrics m;
  Histogram& h = m.GetHistogram("latency_seconds", "Latency.", {{"route", "/t"}}, {0.1, 1, 5});
  h.Observe(0.05);
  h.Observe(0.1);  // "le" is inclusive
  h.Observe(0.5);
  h.Observe(7);
  EXPECT_EQ(m.RenderPrometheus(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{route=\"/t\",le=\"0.1\"} 2\n"
            "latency_seconds_bucket{route=\"/t\",le=\"1\"} 3\n"
            "latency_seconds_bucket{route=\"/t\",le=\"5\"} 3\n"
            "latency_seconds_bucket{route=\"/t\",le=\"+Inf\"} 4\n"
            "latency_seconds_sum{route=\"/t\"} 7.65\n"
            "latency_seconds_count{route=\"/t\"} 4\n");
}

TEST(MetricsTest, DefaultLatencyBucketsSpanHalfAMillisecondToTenSeconds) {
  Metrics m;
  Histogram& h = m.GetHistogram("d_seconds", "d");
  ASSERT_EQ(h.Bounds(), DefaultLatencyBuckets());
  EXPECT_DOUBLE_EQ(h.Bounds().front(), 0.0005);
  EXPECT_DOUBLE_EQ(h.Bounds().back(), 10);
  h.Observe(0.0003);
  std::string text = m.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("d_seconds_bucket{le=\"0.0005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("d_seconds_bucket{le=\"10\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("d_seconds_count 1\n"));
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Metrics m;
  m.GetCounter("e_total", "Line one\nback\\slash \"quotes stay\"", {{"v", "a\"b\\c\nd"}}).Inc();
  EXPECT_EQ(m.RenderPrometheus(),
            "# HELP e_total Line one\\nback\\\\slash \"quotes stay\"\n"
            "# TYPE e_total counter\n"
            "e_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsTest, FamiliesAreSortedByName) {
  Metrics m;
  m.GetCounter("zz_total", "z").Inc();
  m.GetGauge("aa", "a").Set(1);
  std::string text = m.RenderPrometheus();
  EXPECT_LT(text.find("# HELP aa"), text.find("# HELP zz_total"));
}

TEST(MetricsTest, RejectsMisuse) {
  Metrics m;
  m.GetCounter("x_total", "x");
  EXPECT_THROW(m.GetGauge("x_total", "x"), std::invalid_argument);
  EXPECT_THROW(m.GetCounter("bad-name", "x"), std::invalid_argument);
  EXPECT_THROW(m.GetCounter("9lives", "x"), std::invalid_argument);
  EXPECT_THROW(m.GetCounter("y_total", "y", {{"bad-label", "v"}}), std::invalid_argument);
  EXPECT_THROW(m.GetCounter("y_total", "y", {{"__reserved", "v"}}), std::invalid_argument);
  EXPECT_THROW(m.GetCounter("y_total", "y", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
  EXPECT_THROW(m.GetHistogram("h", "h", {{"le", "1"}}), std::invalid_argument);
  EXPECT_THROW(m.GetHistogram("h2", "h", {}, {1, 1}), std::invalid_argument);
  m.GetHistogram("h3", "h", {}, {1, 2});
  EXPECT_THROW(m.GetHistogram("h3", "h", {{"a", "b"}}, {1, 3}), std::invalid_argument);
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Metrics m;
  Counter& c = m.GetCounter("n_total", "n");
  Histogram& h = m.GetHistogram("t_seconds", "t", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.Inc();
        h.Observe(0.5);
        m.GetCounter("n_total", "n", {{"thread", "any"}}).Inc();
      }
    });
  }
  std::string during = m.RenderPrometheus();  // rendering while writers run is safe
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), 40000u);
  std::string text = m.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("t_seconds_count 40000\n"));
  EXPECT_THAT(text, HasSubstr("t_seconds_sum 20000\n"));
  EXPECT_THAT(text, HasSubstr("n_total{thread=\"any\"} 40000\n"));
}

}  // namespace
}  // namespace agentidp::core
