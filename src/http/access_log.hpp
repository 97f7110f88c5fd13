#pragma once

// One JSON line per request. Never headers, bodies or query strings: queries and bodies
// may carry secrets (SPEC §5, DESIGN §5), so the path is logged without its query.

#include "http/server.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

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
// The same line appended to `out` (the server formats into a reused per-thread buffer).
void AppendAccessLogLine(std::string& out, const AccessLogEntry& entry);

// A sink that writes each line at info level through `logger`. Give the logger the
// pattern "%v" (and an async or mutex-protected sink) for pure JSON lines.
AccessLogSink MakeSpdlogAccessLogSink(std::shared_ptr<spdlog::logger> logger);

// Writes lines to a file descriptor (the server's stdout) from a background thread, many
// lines per write(2): a request appends its line to a buffer under a mutex and never makes
// a system call. The buffer is written out at most `flush_interval` after its first line
// (sooner once it holds `flush_bytes`) and on destruction, so a line reaches the file within
// the interval; a crash (SIGKILL) loses at most that much of the access log. Thread-safe.
class BufferedLineWriter {
 public:
  explicit BufferedLineWriter(
      int fd, std::chrono::milliseconds flush_interval = std::chrono::milliseconds(20),
      size_t flush_bytes = 64 * 1024);
  // Writes everything still buffered.
  ~BufferedLineWriter();
  BufferedLineWriter(const BufferedLineWriter&) = delete;
  BufferedLineWriter& operator=(const BufferedLineWriter&) = delete;

  // Appends `line` and a newline.
  void Write(std::string_view line);
  // Writes out what is buffered now and returns when it is written.
  void Flush();

 private:
  void Run();
  void WriteOut(const std::string& data);

  const int fd_;
  const std::chrono::milliseconds interval_;
  const size_t flush_bytes_;
  std::mutex mu_;
  std::condition_variable cv_;          // the flusher waits for lines
  std::condition_variable flushed_cv_;  // Flush() waits for the flusher
  std::string buffer_;
  uint64_t appended_ = 0;  // lines appended so far
  uint64_t written_ = 0;   // lines written out so far
  bool flusher_idle_ = false;
  bool urgent_ = false;  // a full buffer or Flush(): no waiting for the interval
  bool stopping_ = false;
  std::thread thread_;
};

// A sink over a BufferedLineWriter (shared, so the writer lives as long as any sink copy).
AccessLogSink MakeBufferedAccessLogSink(std::shared_ptr<BufferedLineWriter> writer);

}  // namespace agentidp::http
