#include "http/access_log.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <boost/json/parse.hpp>

#include <sstream>

namespace agentidp::http {
namespace {

AccessLogEntry SampleEntry() {
  AccessLogEntry e;
  e.ts_ms = 1'774'688'400'123;  // 2026-03-28T09:00:00.123Z
  e.request_id = "req-1";
  e.remote_ip = "10.0.0.1";
  e.method = "POST";
  e.path = "/api/v1/token";
  e.status = 201;
  e.bytes = 42;
  e.duration_ms = 1.23456;
  e.route = "/api/v1/token";
  e.user_agent = "sdk/1.0 \"quoted\"\n";
  return e;
}

TEST(AccessLogTest, FormatsOneJsonObjectWithEveryField) {
  std::string line = FormatAccessLogLine(SampleEntry());
  EXPECT_EQ(line.find('\n'), std::string::npos);  // escaped, never a raw newline
  auto json = boost::json::parse(line).as_object();
  EXPECT_EQ(json.at("ts"), "2026-03-28T09:00:00.123Z");
  EXPECT_EQ(json.at("request_id"), "req-1");
  EXPECT_EQ(json.at("remote_ip"), "10.0.0.1");
  EXPECT_EQ(json.at("method"), "POST");
  EXPECT_EQ(json.at("path"), "/api/v1/token");
  EXPECT_EQ(json.at("status"), 201);
  EXPECT_EQ(json.at("bytes"), 42u);
  EXPECT_DOUBLE_EQ(json.at("duration_ms").as_double(), 1.235);
  EXPECT_EQ(json.at("route"), "/api/v1/token");
  EXPECT_EQ(json.at("user_agent"), "sdk/1.0 \"quoted\"\n");
  EXPECT_EQ(json.size(), 10u);
}

TEST(AccessLogTest, CutsLongFieldsOnACharacterBoundary) {
  AccessLogEntry e = SampleEntry();
  std::string agent = std::string(255, 'a') + "\xC3\xA9" + std::string(100, 'b');
  e.user_agent = agent;
  auto json = boost::json::parse(FormatAccessLogLine(e)).as_object();
  EXPECT_EQ(json.at("user_agent").as_string(), std::string(255, 'a'));
}

TEST(AccessLogTest, SpdlogSinkWritesTheLine) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto logger = std::make_shared<spdlog::logger>("access-test", sink);
  logger->set_pattern("%v");
  AccessLogSink write = MakeSpdlogAccessLogSink(logger);
  write(R"({"a":1})");
  logger->flush();
  EXPECT_EQ(out.str(), "{\"a\":1}\n");
}

}  // namespace
}  // namespace agentidp::http
