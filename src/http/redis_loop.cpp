#include "http/redis_loop.hpp"

#include "http/io_thread.hpp"

#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>

namespace agentidp::http {

namespace asio = boost::asio;
using cache::redis::Reply;
using cache::redis::ReplyCallback;
using SteadyClock = std::chrono::steady_clock;

namespace {

std::atomic<uint64_t> g_next_id{1};

core::Error Unavailable(const std::string& detail) {
  return core::Error::Unavailable("redis: " + detail, 1);
}

// Once, at construction: a reconnect on an I/O thread must not wait on DNS.
cache::redis::RedisEndpoint Resolved(cache::redis::RedisEndpoint endpoint) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(endpoint.host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr)
    return endpoint;  // hiredis resolves it then (and fails the same way the pool does)
  char text[INET6_ADDRSTRLEN] = {};
  const void* address =
      found->ai_family == AF_INET6
          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr)
          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr);
  if (inet_ntop(found->ai_family, address, text, sizeof text) != nullptr) endpoint.host = text;
  freeaddrinfo(found);
  return endpoint;
}

// One thread's connection. Lives on that thread only; the handlers it gives the io_context
// keep it alive, and `generation_` tells a handler of an earlier connection to do nothing.
class Link : public std::enable_shared_from_this<Link> {
 public:
  Link(asio::io_context& context, RedisLoopClient::Settings settings)
      : descriptor_(context), timer_(context), settings_(std::move(settings)) {}
  ~Link() { Shutdown(); }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  bool Send(const std::vector<std::string>& argv, ReplyCallback done) {
    if (shut_down_ || closing_) return false;
    if (ac_ == nullptr && !Connect()) return false;
    if ((ac_->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)) != 0) return false;
    return Enqueue(argv, std::move(done));
  }

  // The thread is going away: fail what is in flight, let go of the socket.
  void Shutdown() {
    shut_down_ = true;
    Close();
    timer_.cancel();
  }

 private:
  struct Pending {
    ReplyCallback done;
  };

  bool Connect() {
    // Not from inside hiredis (its old context may still be on its way out), and not again
    // right after a failure.
    if (busy_ || SteadyClock::now() < retry_after_) return false;
    const auto& e = settings_.endpoint;
    redisAsyncContext* ac = redisAsyncConnect(e.host.c_str(), e.port);
    if (ac == nullptr) return Failed();
    if (ac->err != 0) {
      redisAsyncFree(ac);
      return Failed();
    }
    boost::system::error_code ec;
    descriptor_.assign(ac->c.fd, ec);
    if (ec) {
      redisAsyncFree(ac);
      return Failed();
    }
    ++generation_;
    ac_ = ac;
    ac->data = this;
    ac->ev.data = this;
    ac->ev.addRead = [](void* p) {
      auto* l = static_cast<Link*>(p);
      l->want_read_ = true;
      l->WaitRead();
    };
    ac->ev.delRead = [](void* p) { static_cast<Link*>(p)->want_read_ = false; };
    ac->ev.addWrite = [](void* p) {
      auto* l = static_cast<Link*>(p);
      l->want_write_ = true;
      l->WaitWrite();
    };
    ac->ev.delWrite = [](void* p) { static_cast<Link*>(p)->want_write_ = false; };
    ac->ev.cleanup = [](void* p) { static_cast<Link*>(p)->Detach(); };
    // AUTH and SELECT go first on the new connection; commands sent meanwhile queue behind
    // them in order. A refusal closes the connection (and fails those commands).
    auto check = [this](core::Result<Reply> reply) {
      if (!reply.ok() || reply->IsError()) Close();
    };
    if (!e.password.empty()) {
      std::vector<std::string> auth = {"AUTH"};
      if (!e.username.empty()) auth.push_back(e.username);
      auth.push_back(e.password);
      if (!Enqueue(auth, check)) return false;
    }
    if (e.db != 0 && !Enqueue({"SELECT", std::to_string(e.db)}, check)) return false;
    return true;
  }

  bool Failed() {
    retry_after_ = SteadyClock::now() + settings_.reconnect_backoff;
    return false;
  }

  bool Enqueue(const std::vector<std::string>& argv, ReplyCallback done) {
    // Commands of this client are short (the rate-limit script: 10 arguments).
    constexpr size_t kMaxArgs = 16;
    const char* args[kMaxArgs];
    size_t lens[kMaxArgs];
    if (argv.empty() || argv.size() > kMaxArgs) return false;
    for (size_t i = 0; i < argv.size(); ++i) {
      args[i] = argv[i].data();
      lens[i] = argv[i].size();
    }
    auto* pending = new Pending{std::move(done)};
    if (redisAsyncCommandArgv(ac_, &Link::OnReply, pending, static_cast<int>(argv.size()), args,
                              lens) != REDIS_OK) {
      delete pending;
      return false;
    }
    deadlines_.push_back(SteadyClock::now() + settings_.timeout);
    if (!timer_armed_) ArmTimer();
    return true;
  }

  static void OnReply(redisAsyncContext* ac, void* reply, void* privdata) {
    std::unique_ptr<Pending> pending(static_cast<Pending*>(privdata));
    auto* link = static_cast<Link*>(ac->data);
    if (link != nullptr && !link->deadlines_.empty()) link->deadlines_.pop_front();
    if (reply == nullptr) {
      pending->done(Unavailable(ac->errstr != nullptr && ac->err != 0
                                    ? std::string(ac->errstr)
                                    : std::string("connection closed")));
      return;
    }
    pending->done(cache::redis::CopyReply(static_cast<redisReply*>(reply)));
  }

  void WaitRead() {
    if (reading_ || ac_ == nullptr) return;
    reading_ = true;
    descriptor_.async_wait(
        asio::posix::descriptor_base::wait_read,
        [self = shared_from_this(), gen = generation_](const boost::system::error_code& ec) {
          if (gen != self->generation_) return;
          self->reading_ = false;
          if (ec || self->ac_ == nullptr || !self->want_read_) return;
          self->busy_ = true;
          redisAsyncHandleRead(self->ac_);
          self->busy_ = false;
          if (self->ac_ != nullptr && self->want_read_) self->WaitRead();
        });
  }

  void WaitWrite() {
    if (writing_ || ac_ == nullptr) return;
    writing_ = true;
    descriptor_.async_wait(
        asio::posix::descriptor_base::wait_write,
        [self = shared_from_this(), gen = generation_](const boost::system::error_code& ec) {
          if (gen != self->generation_) return;
          self->writing_ = false;
          if (ec || self->ac_ == nullptr || !self->want_write_) return;
          self->busy_ = true;
          redisAsyncHandleWrite(self->ac_);
          self->busy_ = false;
          if (self->ac_ != nullptr && self->want_write_) self->WaitWrite();
        });
  }

  // Wakes up at the oldest command's deadline; a command still unanswered then closes the
  // connection (Redis stalled, or the network dropped without a reset).
  void ArmTimer() {
    if (deadlines_.empty()) return;
    timer_armed_ = true;
    timer_.expires_at(deadlines_.front());
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      self->timer_armed_ = false;
      if (ec || self->ac_ == nullptr || self->deadlines_.empty()) return;
      if (SteadyClock::now() >= self->deadlines_.front()) {
        self->Close();
        return;
      }
      self->ArmTimer();
    });
  }

  // Frees the hiredis context: waiting commands get their callbacks (nullptr reply), then
  // the cleanup hook (Detach). Inside a hiredis callback hiredis defers the free until the
  // callback returns.
  void Close() {
    if (ac_ == nullptr || closing_) return;
    closing_ = true;
    const bool outer = !busy_;
    busy_ = true;
    redisAsyncFree(ac_);
    if (outer) busy_ = false;
  }

  // hiredis's cleanup hook: the context is going away (our Close, or an I/O error or EOF
  // that hiredis noticed). Give the socket back without closing it (hiredis closes it).
  void Detach() {
    if (ac_ == nullptr) return;
    ac_ = nullptr;
    closing_ = false;
    ++generation_;
    reading_ = writing_ = want_read_ = want_write_ = false;
    if (descriptor_.is_open()) (void)descriptor_.release();
    deadlines_.clear();
    timer_.cancel();
    timer_armed_ = false;
    Failed();
  }

  asio::posix::stream_descriptor descriptor_;
  asio::steady_timer timer_;
  const RedisLoopClient::Settings settings_;
  redisAsyncContext* ac_ = nullptr;
  uint64_t generation_ = 0;
  bool want_read_ = false, want_write_ = false, reading_ = false, writing_ = false;
  bool timer_armed_ = false, busy_ = false, closing_ = false, shut_down_ = false;
  std::deque<SteadyClock::time_point> deadlines_;
  SteadyClock::time_point retry_after_{};
};

// This thread's connections, one per (client, io_context); shut down when the thread exits
// (the server's I/O threads exit before their io_contexts are destroyed).
struct ThreadLinks {
  struct Entry {
    uint64_t client;
    asio::io_context* context;
    std::shared_ptr<Link> link;
  };
  std::vector<Entry> entries;
  ~ThreadLinks() {
    for (auto& e : entries) e.link->Shutdown();
  }
};

thread_local ThreadLinks t_links;

}  // namespace

RedisLoopClient::RedisLoopClient(cache::redis::RedisEndpoint endpoint,
                                 std::chrono::milliseconds timeout,
                                 std::chrono::milliseconds reconnect_backoff)
    : id_(g_next_id.fetch_add(1)),
      settings_{Resolved(std::move(endpoint)), timeout, reconnect_backoff} {}

RedisLoopClient::~RedisLoopClient() = default;

bool RedisLoopClient::Send(const std::vector<std::string>& argv, cache::redis::ReplyCallback done) {
  asio::io_context* context = CurrentIoContext();
  if (context == nullptr) return false;
  Link* link = nullptr;
  for (auto& e : t_links.entries)
    if (e.client == id_ && e.context == context) link = e.link.get();
  if (link == nullptr) {
    t_links.entries.push_back({id_, context, std::make_shared<Link>(*context, settings_)});
    link = t_links.entries.back().link.get();
  }
  return link->Send(argv, std::move(done));
}

}  // namespace agentidp::http
