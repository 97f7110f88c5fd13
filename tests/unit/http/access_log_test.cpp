#include "http/access_log.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <boost/json/parse.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

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

TEST(AccessLogTest, DurationHasThreeDecimalsAndEscapesAreJson) {
  AccessLogEntry e = SampleEntry();
  e.duration_ms = 12;
  const std::string agent("tab\there \x01 \xC3\xA9", 13);
  e.user_agent = agent;  // a view: `agent` outlives the entry's use
  std::string line = FormatAccessLogLine(e);
  EXPECT_NE(line.find(R"("duration_ms":12.000,)"), std::string::npos) << line;
  auto json = boost::json::parse(line).as_object();
  EXPECT_TRUE(json.at("duration_ms").is_double());
  EXPECT_EQ(json.at("user_agent").as_string(), agent);
}

// Reads what has arrived at the read end of a pipe without blocking.
std::string Drain(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

TEST(BufferedLineWriterTest, FlushWritesEveryLineInOrder) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  {
    // An interval long enough that only Flush() can have written the lines.
    BufferedLineWriter writer(fds[1], std::chrono::hours(1));
    AccessLogSink sink = MakeBufferedAccessLogSink(
        std::shared_ptr<BufferedLineWriter>(&writer, [](BufferedLineWriter*) {}));
    sink(R"({"n":1})");
    sink(R"({"n":2})");
    writer.Flush();
    EXPECT_EQ(Drain(fds[0]), "{\"n\":1}\n{\"n\":2}\n");
    writer.Write(R"({"n":3})");
  }
  // Destruction writes what is left.
  EXPECT_EQ(Drain(fds[0]), "{\"n\":3}\n");
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(BufferedLineWriterTest, LinesFromManyThreadsStayWhole) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  ASSERT_GE(::fcntl(fds[1], F_SETPIPE_SZ, 1 << 20), 0);
  constexpr int kThreads = 4, kEach = 500;
  {
    BufferedLineWriter writer(fds[1], std::chrono::milliseconds(1), 4096);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i)
          writer.Write(R"({"t":)" + std::to_string(t) + R"(,"i":)" + std::to_string(i) + "}");
      });
    for (auto& th : threads) th.join();
  }
  std::string all = Drain(fds[0]);
  size_t lines = 0, pos = 0;
  std::vector<int> next(kThreads, 0);
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    ASSERT_NE(nl, std::string::npos);
    auto json = boost::json::parse(all.substr(pos, nl - pos)).as_object();
    const auto t = json.at("t").as_int64();
    EXPECT_EQ(json.at("i").as_int64(), next[t]++);  // each thread's lines in order
    ++lines;
    pos = nl + 1;
  }
  EXPECT_EQ(lines, static_cast<size_t>(kThreads * kEach));
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace agentidp::http
