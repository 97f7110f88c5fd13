#include "cache/redis/redis_rate_limiter.hpp"

#include "domain/would_block.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <optional>

namespace agentidp::cache::redis {

namespace {
// One decision for a client's window (KEYS[1]) and its organization's day (KEYS[2]); an empty
// key name leaves that counter out. Nothing is incremented unless both have room, so a
// request refused by one limit does not consume the other; each counter gets its expiry on
// its first increment (no key without a TTL). Two nodes running it at once are serialized by
// Redis, so neither can see the other's count stale. The calling node's last known count of
// the day is a lower bound of the true one: a day counter Redis lost (restarted without
// persistence) is restored to it instead of starting over from zero. A counter an operator
// lowered (SET) is taken as it is.
//   ARGV: window limit, window TTL (ms), day limit (-1 = unlimited), day expiry (unix s),
//         the node's last known day count
//   returns {window count, day count, 0 = allowed | 1 = window full | 2 = day full}
constexpr const char* kDecideScript = R"lua(
local w, d = 0, 0
if KEYS[1] ~= '' then w = tonumber(redis.call('GET', KEYS[1]) or '0') end
if KEYS[2] ~= '' then
  local stored = redis.call('GET', KEYS[2])
  if stored then
    d = tonumber(stored)
  else
    d = tonumber(ARGV[5])
    if d > 0 then redis.call('SET', KEYS[2], d, 'EXAT', ARGV[4]) end
  end
end
if KEYS[1] ~= '' and w >= tonumber(ARGV[1]) then return {w, d, 1} end
local day_limit = tonumber(ARGV[3])
if KEYS[2] ~= '' and day_limit >= 0 and d >= day_limit then return {w, d, 2} end
if KEYS[1] ~= '' then
  w = redis.call('INCR', KEYS[1])
  if w == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
end
if KEYS[2] ~= '' then
  d = redis.call('INCR', KEYS[2])
  if d == 1 then redis.call('EXPIREAT', KEYS[2], ARGV[4]) end
end
return {w, d, 0}
)lua";

// A day counter outlives its day by this much, for nodes whose clocks lag a little.
constexpr int64_t kDayGraceS = 300;

// Redis names scripts by the SHA-1 of their text (EVALSHA).
std::string Sha1Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xF]);
  }
  return out;
}

const std::string& DecideScriptSha() {
  static const std::string sha = Sha1Hex(kDecideScript);
  return sha;
}
}  // namespace

RedisRateLimiter::RedisRateLimiter(Client& redis, const core::Clock& clock, std::string name,
                                   int64_t limit, int64_t window_s, std::string daily_name)
    : redis_(redis),
      clock_(clock),
      name_(std::move(name)),
      limit_(limit),
      window_s_(window_s),
      daily_name_(std::move(daily_name)),
      local_daily_(clock),
      local_(clock, limit, window_s, daily_name_.empty() ? nullptr : &local_daily_) {}

std::string RedisRateLimiter::DailyKey(const std::string& organization_id, int64_t day) const {
  return redis_.Key("quota:" + daily_name_ + ":" + domain::UtcDayLabel(day) + ":" +
                    organization_id);
}

core::Result<Reply> RedisRateLimiter::RunScript(const std::vector<std::string>& keys_and_args) {
  std::vector<std::string> evalsha = {"EVALSHA", DecideScriptSha(), "2"};
  evalsha.insert(evalsha.end(), keys_and_args.begin(), keys_and_args.end());
  if (!script_loaded_.load()) {
    TRY_ASSIGN(auto replies, redis_.Pipeline({{"SCRIPT", "LOAD", kDecideScript}, evalsha}));
    script_loaded_ = true;
    return std::move(replies.at(1));
  }
  // Any failure (Hit falls back to local counts) also forgets that the script is loaded, so
  // a Redis that restarted meanwhile gets it with the first call after the back-off. One
  // that lost its script cache without the link failing (a restart between two calls on a
  // reconnected connection, SCRIPT FLUSH) answers NOSCRIPT once: the client counts that
  // error reply as a failure of the link, so this node counts locally for the back-off.
  return redis_.Command(evalsha);
}

RedisRateLimiter::Prepared RedisRateLimiter::Prepare(const std::string& key,
                                                     const domain::DailyQuota* quota) {
  Prepared p;
  p.now_s = clock_.NowSeconds();
  p.start = p.now_s - p.now_s % window_s_;
  p.day = domain::UtcDay(p.now_s);
  // The window start and the day are part of the keys: a new window or day is a new counter;
  // the old one expires a little after its end (a node whose clock lags a bit still finds
  // it).
  const std::string window_key =
      key.empty() ? std::string()
                  : redis_.Key("rl:" + name_ + ":" + std::to_string(p.start) + ":" + key);
  const std::string day_key = quota ? DailyKey(quota->organization_id, p.day) : std::string();
  // This node's last known count of the day (what Redis answered, plus what it counted alone
  // while Redis was unreachable).
  const int64_t known = quota ? local_daily_.Peek(quota->organization_id) : 0;
  p.keys_and_args = {window_key,
                     day_key,
                     std::to_string(limit_),
                     std::to_string((window_s_ + 5) * 1000),
                     std::to_string(quota ? quota->limit : domain::kUnlimited),
                     std::to_string(domain::NextUtcMidnight(p.now_s) + kDayGraceS),
                     std::to_string(known)};
  return p;
}

std::optional<domain::RateDecision> RedisRateLimiter::Decide(const Reply& reply,
                                                             const std::string& key,
                                                             const domain::DailyQuota* quota,
                                                             const Prepared& p) {
  if (reply.kind != Reply::Kind::kArray || reply.elements.size() != 3 ||
      reply.elements[0].kind != Reply::Kind::kInteger ||
      reply.elements[1].kind != Reply::Kind::kInteger ||
      reply.elements[2].kind != Reply::Kind::kInteger)
    return std::nullopt;
  const int64_t count = reply.elements[0].integer;
  const int64_t day_count = reply.elements[1].integer;
  const int64_t verdict = reply.elements[2].integer;
  domain::RateDecision d;
  d.limit = key.empty() ? 0 : limit_;
  d.reset_epoch_s = p.start + window_s_;
  d.remaining = key.empty() ? 0 : std::max<int64_t>(0, limit_ - count);
  d.allowed = verdict == 0;
  if (quota) {
    d.quota_limit = quota->limit;
    d.quota_used = day_count;
    local_daily_.Observe(quota->organization_id, p.day, day_count);
  }
  if (verdict == 1) {
    d.retry_after_s = std::max<int64_t>(1, d.reset_epoch_s - p.now_s);
  } else if (verdict == 2) {
    d.quota_exceeded = true;
    d.retry_after_s = std::max<int64_t>(1, domain::NextUtcMidnight(p.now_s) - p.now_s);
  }
  return d;
}

core::Result<domain::RateDecision> RedisRateLimiter::Hit(const std::string& key,
                                                         const domain::DailyQuota* quota,
                                                         bool may_block) {
  if (daily_name_.empty()) quota = nullptr;
  if (!redis_.Available()) {
    // Redis may come back restarted, without the script: load it with the next call.
    script_loaded_ = false;
    return local_.Hit(key, quota, may_block);
  }
  if (!may_block) return domain::WouldBlock();
  const Prepared p = Prepare(key, quota);
  auto reply = RunScript(p.keys_and_args);
  std::optional<domain::RateDecision> d;
  if (reply.ok()) d = Decide(*reply, key, quota, p);
  if (!d) {
    script_loaded_ = false;
    return local_.Hit(key, quota, true);
  }
  return *d;
}

bool RedisRateLimiter::HitAsync(const std::string& key, const domain::DailyQuota* quota,
                                std::function<void(core::Result<domain::RateDecision>)> done) {
  // Down (back-off): Hit answers from local counts at once, no round trip to wait for.
  if (async_ == nullptr || !redis_.Available()) return false;
  if (daily_name_.empty()) quota = nullptr;
  Prepared p = Prepare(key, quota);
  // EVALSHA once this limiter knows the script is loaded; EVAL (which loads it) otherwise.
  const bool loaded = script_loaded_.load();
  std::vector<std::string> command = {loaded ? "EVALSHA" : "EVAL",
                                      loaded ? DecideScriptSha() : std::string(kDecideScript), "2"};
  command.insert(command.end(), p.keys_and_args.begin(), p.keys_and_args.end());
  std::optional<domain::DailyQuota> copy;
  if (quota) copy = *quota;
  return async_->Send(std::move(command), [this, key, copy = std::move(copy), p = std::move(p),
                                           done = std::move(done)](core::Result<Reply> reply) {
    const domain::DailyQuota* q = copy ? &*copy : nullptr;
    std::optional<domain::RateDecision> d;
    if (reply.ok()) d = Decide(*reply, key, q, p);
    if (!d) {
      // The same fallback and the same link health as the blocking path (Client::Run); a
      // NOSCRIPT answer (a Redis restarted without the script) lands here too.
      script_loaded_ = false;
      redis_.ReportFailure(!reply.ok()        ? reply.error().message
                           : reply->IsError() ? "redis: " + reply->text
                                              : "redis: unexpected reply to the rate script");
      // On this I/O thread: a day's count not in memory yet answers WouldBlock (the
      // caller moves the request to a worker; nothing was counted).
      done(local_.Hit(key, q, false));
      return;
    }
    script_loaded_ = true;
    if (!redis_.Up()) redis_.ReportSuccess();
    done(*d);
  });
}

core::Result<int64_t> RedisRateLimiter::UsageToday(const std::string& organization_id) {
  if (daily_name_.empty()) return int64_t{0};
  const int64_t day = domain::UtcDay(clock_.NowSeconds());
  if (redis_.Available()) {
    auto reply = redis_.Command({"GET", DailyKey(organization_id, day)});
    if (reply.ok()) {
      int64_t n = 0;
      if (reply->kind == Reply::Kind::kString) n = std::strtoll(reply->text.c_str(), nullptr, 10);
      local_daily_.Observe(organization_id, day, n);
      return n;
    }
  }
  return local_daily_.Peek(organization_id);
}

}  // namespace agentidp::cache::redis
