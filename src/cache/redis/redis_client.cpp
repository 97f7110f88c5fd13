#include "cache/redis/redis_client.hpp"

namespace agentidp::cache::redis {

namespace {
core::Error Down() {
  return core::Error::Unavailable("redis: unavailable (reconnect back-off)", 1);
}
}  // namespace

Client::Client(RedisOptions options) : options_(std::move(options)) {}

Client::~Client() = default;

int64_t Client::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool Client::Available() const {
  const int64_t until = down_until_ms_.load();
  return until == 0 || NowMs() >= until;
}

void Client::ReportFailure(const std::string& detail) {
  up_ = false;
  down_until_ms_ = NowMs() + options_.reconnect_backoff.count();
  {
    // The server most likely took every idle connection with it.
    std::lock_guard lock(mu_);
    open_ -= idle_.size();
    idle_.clear();
  }
  cv_.notify_all();
  if (!logged_down_.exchange(true) && options_.log)
    options_.log(true, "redis " + options_.endpoint.Describe() + " unreachable (" + detail +
                           "); shared state degrades to this node's local state until it is back");
}

void Client::ReportSuccess() {
  down_until_ms_ = 0;
  up_ = true;
  if (logged_down_.exchange(false) && options_.log)
    options_.log(false, "redis " + options_.endpoint.Describe() + " reachable again");
}

core::Result<std::unique_ptr<Connection>> Client::Acquire(bool& reused) {
  {
    std::unique_lock lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    while (idle_.empty() && open_ >= options_.pool_size) {
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
          open_ >= options_.pool_size)
        return core::Error{core::Errc::kUnavailable,
                           "REDIS_BUSY",
                           "redis: every pooled connection is busy",
                           {},
                           0,
                           1};
    }
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      reused = true;
      return c;
    }
    ++open_;
  }
  reused = false;
  auto opened = Connection::Open(options_.endpoint, options_.timeout);
  if (!opened.ok()) {
    {
      std::lock_guard lock(mu_);
      --open_;
    }
    cv_.notify_one();
  }
  return opened;
}

void Client::Release(std::unique_ptr<Connection> connection) {
  {
    std::lock_guard lock(mu_);
    if (connection && !connection->broken() && up_.load())
      idle_.push_back(std::move(connection));
    else
      --open_;
  }
  cv_.notify_one();
}

template <typename Fn>
auto Client::Run(Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
  int64_t until = down_until_ms_.load();
  if (until != 0) {
    // Down: fail fast until the back-off expires; then exactly one caller probes (it moves the
    // deadline on), the others keep failing fast meanwhile.
    const int64_t now = NowMs();
    if (now < until ||
        !down_until_ms_.compare_exchange_strong(until, now + options_.reconnect_backoff.count()))
      return Down();
  }
  for (int attempt = 0;; ++attempt) {
    bool reused = false;
    auto lease = Acquire(reused);
    if (!lease.ok()) {
      // Busy is load, not a failure of the link.
      if (lease.error().code != "REDIS_BUSY") ReportFailure(lease.error().message);
      return std::move(lease).error();
    }
    std::unique_ptr<Connection> connection = std::move(lease).value();
    auto result = fn(*connection);
    if (result.ok()) {
      ReportSuccess();
      Release(std::move(connection));
      return result;
    }
    const bool retry = reused && connection->closed_by_peer() && attempt == 0;
    Release(std::move(connection));
    if (retry) continue;
    ReportFailure(result.error().message);
    return result;
  }
}

core::Result<Reply> Client::Command(const std::vector<std::string>& argv) {
  return Run([&](Connection& c) -> core::Result<Reply> {
    TRY_ASSIGN(Reply reply, c.Command(argv));
    if (reply.IsError()) return core::Error::Unavailable("redis: " + reply.text, 1);
    return reply;
  });
}

core::Result<std::vector<Reply>> Client::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  return Run([&](Connection& c) -> core::Result<std::vector<Reply>> {
    TRY_ASSIGN(auto replies, c.Pipeline(commands));
    for (const auto& r : replies)
      if (r.IsError()) return core::Error::Unavailable("redis: " + r.text, 1);
    return replies;
  });
}

core::Result<double> Client::Ping() {
  const auto start = std::chrono::steady_clock::now();
  TRY_ASSIGN(Reply reply, Command({"PING"}));
  (void)reply;
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace agentidp::cache::redis
