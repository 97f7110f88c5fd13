#include "http/access_log.hpp"

#include "core/clock.hpp"
#include "core/json.hpp"

#include <spdlog/logger.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>

namespace agentidp::http {

namespace {

constexpr size_t kMaxPath = 2048;
constexpr size_t kMaxField = 256;

std::string_view Cut(std::string_view s, size_t max) {
  if (s.size() > max) {
    // Back up to a UTF-8 boundary so the cut does not leave half a character.
    size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    s = s.substr(0, n);
  }
  return s;
}

template <typename Int>
void AppendInt(std::string& out, Int v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

// Milliseconds rounded to the microsecond, always with three decimals ("0.412", "12.000"),
// so that the value reads back as a JSON number with a fraction.
void AppendMillis(std::string& out, double ms) {
  if (!std::isfinite(ms) || ms < 0) ms = 0;
  if (ms > 1e12) ms = 1e12;
  const auto micros = static_cast<int64_t>(std::llround(ms * 1000.0));
  AppendInt(out, micros / 1000);
  const auto frac = static_cast<int>(micros % 1000);
  const char digits[] = {'.', static_cast<char>('0' + frac / 100),
                         static_cast<char>('0' + frac / 10 % 10),
                         static_cast<char>('0' + frac % 10)};
  out.append(digits, sizeof digits);
}

}  // namespace

void AppendAccessLogLine(std::string& out, const AccessLogEntry& entry) {
  char ts[core::kIso8601MaxSize];
  const size_t ts_size = core::FormatIso8601To(entry.ts_ms, ts);
  out.append(R"({"ts":)");
  core::AppendJsonString(out, std::string_view(ts, ts_size));
  out.append(R"(,"request_id":)");
  core::AppendJsonString(out, Cut(entry.request_id, kMaxField));
  out.append(R"(,"remote_ip":)");
  core::AppendJsonString(out, Cut(entry.remote_ip, kMaxField));
  out.append(R"(,"method":)");
  core::AppendJsonString(out, Cut(entry.method, 32));
  out.append(R"(,"path":)");
  core::AppendJsonString(out, Cut(entry.path, kMaxPath));
  out.append(R"(,"status":)");
  AppendInt(out, entry.status);
  out.append(R"(,"bytes":)");
  AppendInt(out, entry.bytes);
  out.append(R"(,"duration_ms":)");
  AppendMillis(out, entry.duration_ms);
  out.append(R"(,"route":)");
  core::AppendJsonString(out, Cut(entry.route, kMaxPath));
  out.append(R"(,"user_agent":)");
  core::AppendJsonString(out, Cut(entry.user_agent, kMaxField));
  out.push_back('}');
}

std::string FormatAccessLogLine(const AccessLogEntry& entry) {
  std::string line;
  line.reserve(256);
  AppendAccessLogLine(line, entry);
  return line;
}

AccessLogSink MakeSpdlogAccessLogSink(std::shared_ptr<spdlog::logger> logger) {
  return
      [logger = std::move(logger)](std::string_view json_line) { logger->info("{}", json_line); };
}

// ---------------------------------------------------------------------------------------

BufferedLineWriter::BufferedLineWriter(int fd, std::chrono::milliseconds flush_interval,
                                       size_t flush_bytes)
    : fd_(fd), interval_(flush_interval), flush_bytes_(flush_bytes), thread_([this] { Run(); }) {}

BufferedLineWriter::~BufferedLineWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BufferedLineWriter::Write(std::string_view line) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    buffer_.append(line);
    buffer_.push_back('\n');
    ++appended_;
    const bool full = buffer_.size() >= flush_bytes_;
    if (full) urgent_ = true;
    // The flusher sleeps through its interval without being woken for every line.
    wake = flusher_idle_ || (full && !stopping_);
  }
  if (wake) cv_.notify_one();
}

void BufferedLineWriter::Flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = appended_;
  if (written_ >= target) return;
  urgent_ = true;
  cv_.notify_one();
  flushed_cv_.wait(lock, [&] { return written_ >= target; });
}

void BufferedLineWriter::WriteOut(const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to write (closed stdout): the lines are dropped
    done += static_cast<size_t>(n);
  }
}

void BufferedLineWriter::Run() {
  std::string out;
  std::unique_lock lock(mu_);
  for (;;) {
    flusher_idle_ = true;
    cv_.wait(lock, [&] { return stopping_ || !buffer_.empty(); });
    flusher_idle_ = false;
    if (buffer_.empty() && stopping_) return;
    // Gather lines for one interval (unless told to hurry), then write them in one go.
    cv_.wait_for(lock, interval_, [&] { return stopping_ || urgent_; });
    urgent_ = false;
    out.swap(buffer_);
    const uint64_t lines = appended_;
    lock.unlock();
    WriteOut(out);
    out.clear();
    if (out.capacity() > 4 * flush_bytes_) out.shrink_to_fit();
    lock.lock();
    written_ = lines;
    flushed_cv_.notify_all();
  }
}

AccessLogSink MakeBufferedAccessLogSink(std::shared_ptr<BufferedLineWriter> writer) {
  return [writer = std::move(writer)](std::string_view json_line) { writer->Write(json_line); };
}

}  // namespace agentidp::http
