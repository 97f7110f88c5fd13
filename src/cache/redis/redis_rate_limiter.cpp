#include "cache/redis/redis_rate_limiter.hpp"

#include "domain/would_block.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <optional>

namespace agentidp::cache::redis {

namespace {
// One decision for a client's window (KEYS[1]) and its organization's day (KEYS[2]); an empty
// key name leaves that counter out. Nothing is counted unless both have room, so a request
// refused by one limit does not consume the other; each counter gets its expiry on its first
// increment (no key without a TTL). Two nodes running it at once are serialized by Redis, so
// neither can see the other's count stale. The calling node's last known count of the day is
// a lower bound of the true one: a day counter Redis lost (restarted without persistence) is
// restored to it instead of starting over from zero. A counter an operator lowered (SET) is
// taken as it is.
// The window grows by the hits asked (ARGV[6]: 1 in exact mode, a lease otherwise), never
// beyond its limit: the reply's grant is what the node may admit (1 for the calling request,
// the rest as credit). KEYS[3..] are day counters the node counted ahead (unlimited quotas),
// each with ARGV count, expiry and the node's last known count; they are added first, so the
// decision below sees them.
//   ARGV: window limit, window TTL (ms), day limit (-1 = unlimited), day expiry (unix s),
//         the node's last known day count, hits asked, then 3 per KEYS[3..]
//   returns {window count, day count, 0 = allowed | 1 = window full | 2 = day full, grant,
//            the count of each KEYS[3..] after the addition}
// Version 2 (leases): its SHA differs from version 1's, so nodes of both versions never run
// each other's text.
constexpr const char* kDecideScript = R"lua(
local added = {}
for i = 3, #KEYS do
  local a = 7 + (i - 3) * 3
  local n = tonumber(ARGV[a])
  local c
  if redis.call('EXISTS', KEYS[i]) == 1 then
    c = redis.call('INCRBY', KEYS[i], n)
  else
    c = tonumber(ARGV[a + 2]) + n
    redis.call('SET', KEYS[i], c, 'EXAT', ARGV[a + 1])
  end
  added[#added + 1] = c
end
local w, d, grant = 0, 0, 0
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
local verdict = 0
local limit = tonumber(ARGV[1])
local day_limit = tonumber(ARGV[3])
if KEYS[1] ~= '' and w >= limit then
  verdict = 1
elseif KEYS[2] ~= '' and day_limit >= 0 and d >= day_limit then
  verdict = 2
else
  if KEYS[1] ~= '' then
    grant = math.min(tonumber(ARGV[6]), limit - w)
    w = redis.call('INCRBY', KEYS[1], grant)
    if w == grant then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  end
  if KEYS[2] ~= '' then
    d = redis.call('INCR', KEYS[2])
    if d == 1 then redis.call('EXPIREAT', KEYS[2], ARGV[4]) end
  end
end
local out = {w, d, verdict, grant}
for i = 1, #added do out[#out + 1] = added[i] end
return out
)lua";

// A day counter outlives its day by this much, for nodes whose clocks lag a little.
constexpr int64_t kDayGraceS = 300;
// Counted-ahead day counters added by a script call the node makes anyway (kept small: it
// delays that request), and by one call of Flush().
constexpr size_t kPiggybackCounts = 16;
constexpr size_t kFlushBatch = 256;

int64_t DayExpiry(int64_t day) {
  return (day + 1) * 86'400 + kDayGraceS;
}

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

core::Result<Reply> RedisRateLimiter::RunScript(const Prepared& p) {
  std::vector<std::string> evalsha = {"EVALSHA", DecideScriptSha(), std::to_string(p.numkeys)};
  evalsha.insert(evalsha.end(), p.keys_and_args.begin(), p.keys_and_args.end());
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
                                                     const domain::DailyQuota* quota, int64_t now_s,
                                                     bool leased, size_t max_flush) {
  Prepared p;
  p.now_s = now_s;
  p.start = p.now_s - p.now_s % window_s_;
  p.day = domain::UtcDay(p.now_s);
  p.leased = leased;
  // The window start and the day are part of the keys: a new window or day is a new counter;
  // the old one expires a little after its end (a node whose clock lags a bit still finds
  // it).
  const std::string window_key =
      key.empty() ? std::string()
                  : redis_.Key("rl:" + name_ + ":" + std::to_string(p.start) + ":" + key);
  // Leased: the day (unlimited) decides nothing and is counted ahead in memory.
  const bool day_in_script = quota != nullptr && !leased;
  const std::string day_key =
      day_in_script ? DailyKey(quota->organization_id, p.day) : std::string();
  // This node's last known count of the day (what Redis answered, plus what it counted alone
  // while Redis was unreachable).
  const int64_t known = day_in_script ? local_daily_.Peek(quota->organization_id) : 0;
  p.flushed = TakePending(max_flush);
  p.numkeys = 2 + static_cast<int>(p.flushed.size());
  p.keys_and_args.reserve(8 + p.flushed.size() * 4);
  p.keys_and_args.push_back(window_key);
  p.keys_and_args.push_back(day_key);
  for (const auto& f : p.flushed) p.keys_and_args.push_back(DailyKey(f.organization_id, f.day));
  p.keys_and_args.push_back(std::to_string(limit_));
  p.keys_and_args.push_back(std::to_string((window_s_ + 5) * 1000));
  p.keys_and_args.push_back(std::to_string(quota && !leased ? quota->limit : domain::kUnlimited));
  p.keys_and_args.push_back(std::to_string(DayExpiry(p.day)));
  p.keys_and_args.push_back(std::to_string(known));
  p.keys_and_args.push_back(std::to_string(leased ? std::max<int64_t>(1, LeaseSize()) : 1));
  for (const auto& f : p.flushed) {
    p.keys_and_args.push_back(std::to_string(f.count));
    p.keys_and_args.push_back(std::to_string(DayExpiry(f.day)));
    p.keys_and_args.push_back(
        std::to_string(f.day == p.day ? local_daily_.Peek(f.organization_id) : 0));
  }
  return p;
}

void RedisRateLimiter::ObserveFlushed(const Reply& reply, const Prepared& p) {
  for (size_t i = 0; i < p.flushed.size(); ++i)
    local_daily_.Observe(p.flushed[i].organization_id, p.flushed[i].day,
                         reply.elements[4 + i].integer);
}

std::vector<RedisRateLimiter::PendingCount> RedisRateLimiter::TakePending(size_t max) {
  std::vector<PendingCount> out;
  std::lock_guard lock(lease_mu_);
  for (auto it = pending_.begin(); it != pending_.end() && out.size() < max;) {
    out.push_back({it->first.first, it->first.second, it->second});
    it = pending_.erase(it);
  }
  return out;
}

void RedisRateLimiter::RestorePending(const std::vector<PendingCount>& counts) {
  if (counts.empty()) return;
  std::lock_guard lock(lease_mu_);
  for (const auto& c : counts) pending_[{c.organization_id, c.day}] += c.count;
}

int64_t RedisRateLimiter::PendingOf(const std::string& organization_id, int64_t day) {
  std::lock_guard lock(lease_mu_);
  auto it = pending_.find({organization_id, day});
  return it == pending_.end() ? 0 : it->second;
}

void RedisRateLimiter::FillLocalQuota(domain::RateDecision& d, const domain::DailyQuota& quota,
                                      int64_t day) {
  d.quota_limit = quota.limit;
  d.quota_used = local_daily_.Peek(quota.organization_id) + PendingOf(quota.organization_id, day);
}

bool RedisRateLimiter::HasCredit(const std::string& key, int64_t now_s) {
  const int64_t start = now_s - now_s % window_s_;
  std::lock_guard lock(lease_mu_);
  auto it = credits_.find(key);
  return it != credits_.end() && it->second.start == start && it->second.left > 0;
}

std::optional<domain::RateDecision> RedisRateLimiter::FromCredit(const std::string& key,
                                                                 const domain::DailyQuota* quota,
                                                                 int64_t now_s) {
  const int64_t start = now_s - now_s % window_s_;
  const int64_t day = domain::UtcDay(now_s);
  domain::RateDecision d;
  d.reset_epoch_s = start + window_s_;
  {
    std::lock_guard lock(lease_mu_);
    if (!key.empty()) {
      auto it = credits_.find(key);
      // A credit of an earlier window died with it (a new window is a new Redis counter).
      if (it == credits_.end() || it->second.start != start || it->second.left <= 0)
        return std::nullopt;
      Credit& c = it->second;
      --c.left;
      d.limit = limit_;
      d.remaining = std::max<int64_t>(0, limit_ - c.window_count + c.left);
    }
    if (quota) pending_[{quota->organization_id, day}] += 1;
  }
  if (quota) FillLocalQuota(d, *quota, day);
  return d;
}

std::optional<domain::RateDecision> RedisRateLimiter::Decide(const Reply& reply,
                                                             const std::string& key,
                                                             const domain::DailyQuota* quota,
                                                             const Prepared& p) {
  if (reply.kind != Reply::Kind::kArray || reply.elements.size() != 4 + p.flushed.size())
    return std::nullopt;
  for (const auto& e : reply.elements)
    if (e.kind != Reply::Kind::kInteger) return std::nullopt;
  const int64_t count = reply.elements[0].integer;
  const int64_t day_count = reply.elements[1].integer;
  const int64_t verdict = reply.elements[2].integer;
  const int64_t grant = reply.elements[3].integer;
  ObserveFlushed(reply, p);
  domain::RateDecision d;
  d.limit = key.empty() ? 0 : limit_;
  d.reset_epoch_s = p.start + window_s_;
  d.allowed = verdict == 0;
  // The calling request takes one hit of the grant; the rest is this node's credit.
  int64_t credit = 0;
  if (p.leased && d.allowed && !key.empty() && grant > 1) {
    std::lock_guard lock(lease_mu_);
    Credit& c = credits_[key];
    if (c.start != p.start) c = Credit{p.start, 0, 0};
    // Another thread of this node may have taken a grant of the same window meanwhile: the
    // credits add up, and Redis's count is the later (larger) one.
    c.left += grant - 1;
    c.window_count = std::max(c.window_count, count);
    credit = c.left;
    d.remaining = std::max<int64_t>(0, limit_ - c.window_count + credit);
  } else {
    d.remaining = key.empty() ? 0 : std::max<int64_t>(0, limit_ - count + credit);
  }
  if (quota) {
    if (p.leased) {
      if (d.allowed) {
        std::lock_guard lock(lease_mu_);
        pending_[{quota->organization_id, p.day}] += 1;
      }
      FillLocalQuota(d, *quota, p.day);
    } else {
      d.quota_limit = quota->limit;
      d.quota_used = day_count;
      local_daily_.Observe(quota->organization_id, p.day, day_count);
    }
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
  const int64_t now_s = clock_.NowSeconds();
  const bool leased = Leased(quota);
  // Credits granted before an outage stay good: Redis counted them already.
  if (leased)
    if (auto d = FromCredit(key, quota, now_s)) return *d;
  if (!redis_.Available()) {
    // Redis may come back restarted, without the script: load it with the next call.
    script_loaded_ = false;
    return local_.Hit(key, quota, may_block);
  }
  if (!may_block) return domain::WouldBlock();
  const Prepared p = Prepare(key, quota, now_s, leased, kPiggybackCounts);
  auto reply = RunScript(p);
  std::optional<domain::RateDecision> d;
  if (reply.ok()) d = Decide(*reply, key, quota, p);
  if (!d) {
    // Counted ahead, not sent: they go with a later call (a timeout after Redis ran the
    // script may count them twice; docs/decisions.md).
    RestorePending(p.flushed);
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
  const int64_t now_s = clock_.NowSeconds();
  const bool leased = Leased(quota);
  // A credit (or nothing to decide) answers at once: Hit, on this thread.
  if (leased && (key.empty() || HasCredit(key, now_s))) return false;
  Prepared p = Prepare(key, quota, now_s, leased, kPiggybackCounts);
  // EVALSHA once this limiter knows the script is loaded; EVAL (which loads it) otherwise.
  const bool loaded = script_loaded_.load();
  std::vector<std::string> command = {loaded ? "EVALSHA" : "EVAL",
                                      loaded ? DecideScriptSha() : std::string(kDecideScript),
                                      std::to_string(p.numkeys)};
  command.insert(command.end(), p.keys_and_args.begin(), p.keys_and_args.end());
  std::vector<PendingCount> flushed = p.flushed;
  std::optional<domain::DailyQuota> copy;
  if (quota) copy = *quota;
  const bool sent =
      async_->Send(std::move(command), [this, key, copy = std::move(copy), p = std::move(p),
                                        done = std::move(done)](core::Result<Reply> reply) {
        const domain::DailyQuota* q = copy ? &*copy : nullptr;
        std::optional<domain::RateDecision> d;
        if (reply.ok()) d = Decide(*reply, key, q, p);
        if (!d) {
          // The same fallback and the same link health as the blocking path (Client::Run); a
          // NOSCRIPT answer (a Redis restarted without the script) lands here too.
          RestorePending(p.flushed);
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
  if (!sent) RestorePending(flushed);
  return sent;
}

core::Result<int64_t> RedisRateLimiter::UsageToday(const std::string& organization_id) {
  if (daily_name_.empty()) return int64_t{0};
  const int64_t day = domain::UtcDay(clock_.NowSeconds());
  // Redis's count plus what this node counted ahead and has not sent yet.
  if (redis_.Available()) {
    auto reply = redis_.Command({"GET", DailyKey(organization_id, day)});
    if (reply.ok()) {
      int64_t n = 0;
      if (reply->kind == Reply::Kind::kString) n = std::strtoll(reply->text.c_str(), nullptr, 10);
      local_daily_.Observe(organization_id, day, n);
      return n + PendingOf(organization_id, day);
    }
  }
  return local_daily_.Peek(organization_id) + PendingOf(organization_id, day);
}

void RedisRateLimiter::Flush() {
  const int64_t now_s = clock_.NowSeconds();
  const int64_t start = now_s - now_s % window_s_;
  {
    std::lock_guard lock(lease_mu_);
    std::erase_if(credits_, [&](const auto& kv) { return kv.second.start != start; });
    // A day whose counter has expired in Redis takes no more counts (only reachable when
    // Redis was unreachable from before its end until well after it).
    std::erase_if(pending_, [&](const auto& kv) { return DayExpiry(kv.first.second) <= now_s; });
  }
  while (redis_.Available()) {
    const Prepared p = Prepare("", nullptr, now_s, true, kFlushBatch);
    if (p.flushed.empty()) return;
    auto reply = RunScript(p);
    if (!reply.ok() || !Decide(*reply, "", nullptr, p)) {
      RestorePending(p.flushed);
      script_loaded_ = false;
      return;
    }
  }
}

}  // namespace agentidp::cache::redis
