#include "cache/redis/redis_rate_limiter.hpp"

#include "domain/would_block.hpp"

#include <algorithm>

namespace agentidp::cache::redis {

namespace {
// INCR and PEXPIRE as one atomic step: a counter never outlives its window by much, and two
// nodes counting at once cannot both see the same value.
constexpr const char* kIncrementScript = R"lua(
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
)lua";
}  // namespace

RedisRateLimiter::RedisRateLimiter(Client& redis, const core::Clock& clock, std::string name,
                                   int64_t limit, int64_t window_s)
    : redis_(redis),
      clock_(clock),
      name_(std::move(name)),
      limit_(limit),
      window_s_(window_s),
      local_(clock, limit, window_s) {}

std::vector<std::string> RedisRateLimiter::IncrementCommand(const std::string& key,
                                                            int64_t start) const {
  // The window start is part of the key: a new window is a new counter, the old one expires
  // a little after its end (a node whose clock lags a bit still finds it).
  const std::string counter = redis_.Key("rl:" + name_ + ":" + std::to_string(start) + ":" + key);
  return {"EVAL", kIncrementScript, "1", counter, std::to_string((window_s_ + 5) * 1000)};
}

domain::RateDecision RedisRateLimiter::Decide(int64_t count, int64_t start, int64_t now_s) const {
  domain::RateDecision d;
  d.limit = limit_;
  d.reset_epoch_s = start + window_s_;
  d.allowed = count <= limit_;
  d.remaining = std::max<int64_t>(0, limit_ - count);
  if (!d.allowed) d.retry_after_s = std::max<int64_t>(1, d.reset_epoch_s - now_s);
  return d;
}

core::Result<domain::RateDecision> RedisRateLimiter::Hit(const std::string& key, bool may_block) {
  if (!redis_.Available()) return local_.Count(key);
  if (!may_block) return domain::WouldBlock();
  const int64_t now_s = clock_.NowSeconds();
  const int64_t start = now_s - now_s % window_s_;
  auto reply = redis_.Command(IncrementCommand(key, start));
  if (!reply.ok() || reply->kind != Reply::Kind::kInteger) return local_.Count(key);
  return Decide(reply->integer, start, now_s);
}

bool RedisRateLimiter::HitAsync(const std::string& key,
                                std::function<void(domain::RateDecision)> done) {
  // Down (back-off): Hit answers from local counts at once, no round trip to wait for.
  if (async_ == nullptr || !redis_.Available()) return false;
  const int64_t now_s = clock_.NowSeconds();
  const int64_t start = now_s - now_s % window_s_;
  return async_->Send(IncrementCommand(key, start),
                      [this, key, start, now_s, done = std::move(done)](core::Result<Reply> reply) {
                        if (!reply.ok() || reply->kind != Reply::Kind::kInteger) {
                          // The same fallback and the same link health as the blocking path
                          // (Client::Run).
                          redis_.ReportFailure(!reply.ok() ? reply.error().message
                                               : reply->IsError()
                                                   ? "redis: " + reply->text
                                                   : "redis: unexpected reply to the rate script");
                          done(local_.Count(key));
                          return;
                        }
                        if (!redis_.Up()) redis_.ReportSuccess();
                        done(Decide(reply->integer, start, now_s));
                      });
}

}  // namespace agentidp::cache::redis
