#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace agentidp::core {

// Injected everywhere so expiry, rotation and retention are testable without sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch (UTC).
  virtual int64_t NowMs() const = 0;
  int64_t NowSeconds() const { return NowMs() / 1000; }
};

class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_ms = 1'774'688'400'000) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  void Set(int64_t ms) { now_ms_ = ms; }
  void Advance(int64_t ms) { now_ms_ += ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

// ISO-8601 UTC with milliseconds: 2026-03-28T09:00:00.000Z (SPEC §1).
std::string FormatIso8601(int64_t epoch_ms);
// The same text written to `out` (no allocation; hot paths: audit hash, access log).
// Returns the length: 24 for years 0000-9999, more (or a sign) outside them.
constexpr size_t kIso8601MaxSize = 64;
size_t FormatIso8601To(int64_t epoch_ms, char (&out)[kIso8601MaxSize]);
// Accepts ISO-8601 / RFC 3339 date-times with `Z` or a numeric offset, and plain
// dates (YYYY-MM-DD, taken as 00:00Z). Returns false on anything else.
bool ParseIso8601(std::string_view text, int64_t& epoch_ms);

}  // namespace agentidp::core
