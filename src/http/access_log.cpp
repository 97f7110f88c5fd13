#include "http/access_log.hpp"

#include "core/clock.hpp"

#include <spdlog/logger.h>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <cmath>

namespace agentidp::http {

namespace {

constexpr size_t kMaxPath = 2048;
constexpr size_t kMaxField = 256;

boost::json::string_view Cut(std::string_view s, size_t max) {
  if (s.size() > max) {
    // Back up to a UTF-8 boundary so the cut does not leave half a character.
    size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    s = s.substr(0, n);
  }
  return {s.data(), s.size()};
}

}  // namespace

std::string FormatAccessLogLine(const AccessLogEntry& entry) {
  boost::json::object line;
  line.reserve(10);
  line["ts"] = core::FormatIso8601(entry.ts_ms);
  line["request_id"] = Cut(entry.request_id, kMaxField);
  line["remote_ip"] = Cut(entry.remote_ip, kMaxField);
  line["method"] = Cut(entry.method, 32);
  line["path"] = Cut(entry.path, kMaxPath);
  line["status"] = entry.status;
  line["bytes"] = entry.bytes;
  // Microsecond resolution is plenty and keeps the line short.
  line["duration_ms"] = std::round(entry.duration_ms * 1000.0) / 1000.0;
  line["route"] = Cut(entry.route, kMaxPath);
  line["user_agent"] = Cut(entry.user_agent, kMaxField);
  return boost::json::serialize(line);
}

AccessLogSink MakeSpdlogAccessLogSink(std::shared_ptr<spdlog::logger> logger) {
  return
      [logger = std::move(logger)](std::string_view json_line) { logger->info("{}", json_line); };
}

}  // namespace agentidp::http
