#pragma once

// One JSON line per request. Never headers, bodies or query strings: queries and bodies
// may carry secrets (SPEC §5, DESIGN §5), so the path is logged without its query.

#include "http/server.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
}

namespace agentidp::http {

struct AccessLogEntry {
  int64_t ts_ms = 0;  // request start, Unix epoch ms
  std::string_view request_id;
  std::string_view remote_ip;
  std::string_view method;
  std::string_view path;  // Request::path: never the query
  int status = 0;
  size_t bytes = 0;  // response body bytes
  double duration_ms = 0;
  std::string_view route;  // Response::route, or "unmatched"
  std::string_view user_agent;
};

// {"ts":"2026-03-28T09:00:00.000Z","request_id":"...","remote_ip":"...","method":"GET",
//  "path":"/health","status":200,"bytes":15,"duration_ms":0.412,"route":"/health",
//  "user_agent":"curl/7.88.1"}  (one line, no trailing newline). Long fields are cut.
std::string FormatAccessLogLine(const AccessLogEntry& entry);

// A sink that writes each line at info level through `logger`. Give the logger the
// pattern "%v" (and an async or mutex-protected sink) for pure JSON lines.
AccessLogSink MakeSpdlogAccessLogSink(std::shared_ptr<spdlog::logger> logger);

}  // namespace agentidp::http
