#include "http/server.hpp"

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/random.hpp"
#include "http/access_log.hpp"
#include "http/io_thread.hpp"

#include <openssl/ssl.h>
#include <pthread.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace agentidp::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
// After an error answer the client may still be sending (a too-large body): read and
// discard for a while before closing, or the kernel answers the unread bytes with a RST
// that can destroy the response before the client reads it.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 256 * 1024;
constexpr auto kErrorWriteTimeout = std::chrono::seconds(5);
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(1);
constexpr auto kStopForceWait = std::chrono::seconds(2);
constexpr size_t kFirstReadChunk = 4096;
constexpr size_t kKeepBufferBytes = 16 * 1024;
// Connections being turned away with 503 are cheap but not free: past this many at once,
// further ones are closed without an answer.
constexpr size_t kMaxShedding = 256;
// TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3 keeps OpenSSL's default suites
// (all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// ---------------------------------------------------------------------------------------
// Small helpers

std::string JsonError(std::string_view code, std::string_view message) {
  boost::json::object body;
  body["code"] = boost::json::string_view(code.data(), code.size());
  body["message"] = boost::json::string_view(message.data(), message.size());
  return boost::json::serialize(body);
}

Response ErrorResponse(int status, std::string_view code, std::string_view message) {
  Response r;
  r.status = status;
  r.body = JsonError(code, message);
  return r;
}

Response InternalError() {
  return ErrorResponse(500, "INTERNAL_ERROR", "Internal server error");
}

// X-Request-Id is echoed only when it is short and made of safe characters: it lands in
// logs and response headers.
bool IsSaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

void AppendDecimal(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

// Metric label for the method: arbitrary client-chosen methods must not create series.
std::string_view MethodLabel(std::string_view method) {
  static constexpr std::string_view kKnown[] = {"GET",   "HEAD",    "POST",  "PUT",    "DELETE",
                                                "PATCH", "OPTIONS", "TRACE", "CONNECT"};
  for (auto m : kKnown)
    if (m == method) return m;
  return "OTHER";
}

std::string_view StatusClass(int status) {
  static constexpr std::string_view kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  int idx = status / 100 - 1;
  return idx >= 0 && idx < 5 ? kClasses[idx] : "5xx";
}

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsValidHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!IsTokenChar(c)) return false;
  return true;
}

// No CR/LF/NUL: an application header must not be able to split the response.
bool IsValidHeaderValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Framing and connection management belong to the server, not to the application.
bool IsServerOwnedHeader(std::string_view name) {
  static constexpr std::string_view kOwned[] = {"content-length", "transfer-encoding", "connection",
                                                "keep-alive",     "upgrade",           "te",
                                                "trailer",        "x-request-id",      "date"};
  for (auto owned : kOwned)
    if (IEquals(owned, name)) return true;
  return false;
}

// IMF-fixdate (RFC 9110 §5.6.7), formatted once per second per thread.
std::string_view HttpDate() {
  thread_local std::time_t cached = -1;
  thread_local char buf[40];
  thread_local size_t len = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm{};
    gmtime_r(&now, &tm);
    int n = std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                          kDays[tm.tm_wday % 7], tm.tm_mday, kMonths[tm.tm_mon % 12],
                          tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    len = n > 0 ? static_cast<size_t>(n) : 0;
    cached = now;
  }
  return {buf, len};
}

std::string RemoteIp(const tcp::socket& socket) {
  beast::error_code ec;
  auto endpoint = socket.remote_endpoint(ec);
  if (ec) return {};
  auto address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  return address.to_string();
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Splits the request-target into path and query. Origin-form ("/a?b") is the norm;
// absolute-form ("http://h/a?b") must be accepted too (RFC 9112 §3.2.2); "*" is kept as
// the path for OPTIONS. False for anything else.
bool SplitTarget(std::string_view target, std::string& path, std::string& query) {
  if (target.starts_with('/')) {
    size_t q = target.find('?');
    path = target.substr(0, q);
    query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    return true;
  }
  if (target == "*") {
    path = "*";
    query.clear();
    return true;
  }
  auto url = boost::urls::parse_absolute_uri(target);
  if (!url) return false;
  auto encoded_path = url->encoded_path();
  path.assign(encoded_path.data(), encoded_path.size());
  if (path.empty()) path = "/";
  auto encoded_query = url->encoded_query();
  query.assign(encoded_query.data(), encoded_query.size());
  return true;
}

// ---------------------------------------------------------------------------------------
// Handing a response from any thread back to the connection

class ConnectionBase;

// Shared by a connection and the Responder it hands to the application. The responder
// may run on any thread, at any time, even after the connection or the server is gone:
// it touches Asio only through `conn`, which the connection (or the server, before it
// destroys the io_context) clears under `mutex`.
struct ResponseSlot {
  std::mutex mutex;
  bool responded = false;
  bool waiting = false;  // the connection is suspended until it is woken
  Response response;
  ConnectionBase* conn = nullptr;
};

void Deliver(const std::shared_ptr<ResponseSlot>& slot, Response response);

// Owned by the Responder's copies; if the last copy dies unanswered the request gets a 500
// instead of hanging.
struct ResponderGuard {
  explicit ResponderGuard(std::shared_ptr<ResponseSlot> s) : slot(std::move(s)) {}
  ~ResponderGuard() {
    bool answered;
    {
      std::lock_guard lock(slot->mutex);
      answered = slot->responded;
    }
    if (!answered) Deliver(slot, InternalError());
  }
  ResponderGuard(const ResponderGuard&) = delete;
  ResponderGuard& operator=(const ResponderGuard&) = delete;
  std::shared_ptr<ResponseSlot> slot;
};

Responder MakeResponder(std::shared_ptr<ResponseSlot> slot) {
  auto guard = std::make_shared<ResponderGuard>(std::move(slot));
  return [guard](Response response) { Deliver(guard->slot, std::move(response)); };
}

// What the access log and the metrics need from one request.
struct RequestRecord {
  int64_t ts_ms = 0;
  SteadyClock::time_point start;
  std::string method;
  std::string path;
  std::string request_id;
  std::string user_agent;
  std::string remote_ip;
  std::string route;
  int status = 0;
  size_t bytes = 0;
};

// ---------------------------------------------------------------------------------------
// The server proper

class ServerCore {
 public:
  ServerCore(ServerOptions options, Application& app, core::Metrics& metrics,
             AccessLogSink access_log);
  ~ServerCore();

  core::Result<uint16_t> Start();
  void Stop(std::chrono::milliseconds grace);
  void Wait();
  uint16_t Port() const { return port_.load(); }
  size_t ActiveConnections() const { return active_.load(); }

  // For connections.
  const ServerOptions& Options() const { return options_; }
  Application& App() { return app_; }
  bool IsStopping() const { return stopping_.load(std::memory_order_acquire); }
  std::string NewRequestId() { return random_.UuidV4(); }
  void Register(ConnectionBase* conn);
  void Unregister(ConnectionBase* conn);
  void Record(const RequestRecord& record);

 private:
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> Shed(tcp::socket socket);
  void Spawn(tcp::socket socket);
  template <typename F>
  void ForEachConnection(F f);
  // The request counters (one per status class, created on first use) and the duration
  // histogram of one (route, method): resolved once, then found with one lookup per request.
  struct RouteMetrics {
    core::Histogram* duration = nullptr;
    std::atomic<core::Counter*> requests[5] = {};
  };
  RouteMetrics& MetricsFor(std::string_view route, std::string_view method);
  core::Counter& RequestCounter(RouteMetrics& m, std::string_view route, std::string_view method,
                                int status);

  const ServerOptions options_;
  Application& app_;
  core::Metrics& metrics_;
  AccessLogSink access_log_;
  core::SecureRandom random_;

  core::Gauge& connections_gauge_;
  core::Counter& shed_counter_;
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };
  std::shared_mutex metric_cache_mutex_;
  std::unordered_map<std::string, std::unique_ptr<RouteMetrics>, KeyHash, std::equal_to<>>
      route_metrics_;

  std::atomic<bool> stopping_{false};
  std::atomic<uint16_t> port_{0};
  std::atomic<size_t> active_{0};
  std::atomic<size_t> shedding_{0};

  std::mutex conns_mutex_;
  std::condition_variable conns_cv_;
  std::unordered_set<ConnectionBase*> conns_;

  std::mutex stop_mutex_;  // serialises Start/Stop
  std::mutex state_mutex_;
  std::condition_variable state_cv_;
  bool started_ = false;
  bool stopped_ = false;

  // Destroyed explicitly in ~ServerCore, in this order: threads, acceptor, io_contexts
  // (which destroy suspended connections), then the TLS context they used.
  //
  // One io_context per I/O thread: a connection lives on one thread for its whole life
  // (assigned round-robin at accept), so its handlers need no strand and one thread's work
  // never wakes the other threads. Other threads (the audit writer, the worker pool) hand a
  // response back by posting to the connection's io_context.
  std::unique_ptr<asio::ssl::context> ssl_ctx_;
  std::vector<std::unique_ptr<asio::io_context>> iocs_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  size_t next_ioc_ = 0;  // AcceptLoop only
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::vector<std::thread> threads_;
};

// ---------------------------------------------------------------------------------------
// Connections

class ConnectionBase : public std::enable_shared_from_this<ConnectionBase> {
 public:
  ConnectionBase(ServerCore& server, asio::any_io_executor executor, std::string remote_ip,
                 bool tls)
      : server_(server),
        executor_(std::move(executor)),
        wake_timer_(executor_),
        remote_ip_(std::move(remote_ip)),
        tls_(tls) {}

  virtual ~ConnectionBase() {
    if (current_slot_) {
      std::lock_guard lock(current_slot_->mutex);
      current_slot_->conn = nullptr;
    }
    server_.Unregister(this);
  }

  ConnectionBase(const ConnectionBase&) = delete;
  ConnectionBase& operator=(const ConnectionBase&) = delete;

  const asio::any_io_executor& Executor() const { return executor_; }

  // On the connection's thread. Stop(): an idle keep-alive connection closes now; one in
  // the middle of a request finishes it and closes after the response.
  void NotifyStopping() {
    if (idle_) CloseSocket();
  }

  // On the connection's thread, when the grace period is over.
  void ForceClose() {
    force_closed_ = true;
    CloseSocket();
    wake_timer_.cancel();
  }

  // Server destruction, with no I/O thread running: from now on responders must not
  // touch this connection's executor.
  void Detach() {
    if (current_slot_) {
      std::lock_guard lock(current_slot_->mutex);
      current_slot_->conn = nullptr;
    }
  }

  // Any thread, with slot->mutex held (so `this` is alive).
  void Wake(std::shared_ptr<ResponseSlot> slot) {
    asio::post(executor_, [weak = weak_from_this(), slot = std::move(slot)] {
      if (auto self = weak.lock()) {
        if (self->current_slot_ == slot) self->wake_timer_.cancel();
      }
    });
  }

 protected:
  virtual void CloseSocket() = 0;

  // Calls the application and suspends until the responder runs (on any thread).
  // nullopt when the connection was force-closed meanwhile.
  asio::awaitable<std::optional<Response>> Dispatch(Request req) {
    auto slot = std::make_shared<ResponseSlot>();
    slot->conn = this;
    current_slot_ = slot;
    try {
      server_.App().Handle(std::move(req), MakeResponder(slot));
    } catch (...) {
      // Last-resort catch (DESIGN §6.2): nothing about the failure reaches the client.
      Deliver(slot, InternalError());
    }
    bool wait;
    {
      std::lock_guard lock(slot->mutex);
      wait = !slot->responded;
      slot->waiting = wait;
    }
    if (wait && !force_closed_) {
      // Woken by Wake() (posted to this connection's io_context, which only this thread
      // runs, so it cannot run before the wait starts) or by ForceClose().
      wake_timer_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_timer_.async_wait(kNoThrow);
    }
    std::optional<Response> out;
    {
      std::lock_guard lock(slot->mutex);
      slot->conn = nullptr;
      slot->waiting = false;
      if (slot->responded) out = std::move(slot->response);
    }
    current_slot_.reset();
    co_return out;
  }

  ServerCore& server_;
  asio::any_io_executor executor_;
  asio::steady_timer wake_timer_;
  std::shared_ptr<ResponseSlot> current_slot_;
  std::string remote_ip_;
  bool tls_;
  bool idle_ = true;  // waiting for the first byte of a request
  bool force_closed_ = false;
};

void Deliver(const std::shared_ptr<ResponseSlot>& slot, Response response) {
  std::lock_guard lock(slot->mutex);
  if (slot->responded) return;  // exactly once; later calls are ignored
  slot->responded = true;
  slot->response = std::move(response);
  if (slot->waiting && slot->conn) slot->conn->Wake(slot);
}

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using Parser = bhttp::request_parser<bhttp::string_body>;

template <typename Stream>
class Connection final : public ConnectionBase {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Connection(ServerCore& server, tcp::socket socket, std::string remote_ip,
             asio::ssl::context* ssl_ctx)
      : ConnectionBase(server, socket.get_executor(), std::move(remote_ip), kTls),
        stream_(MakeStream(std::move(socket), ssl_ctx)) {}

  static asio::awaitable<void> Run(std::shared_ptr<Connection> self) {
    try {
      co_await self->Serve();
    } catch (...) {
      // Only allocation failures and the like get here; drop the connection.
    }
    self->CloseSocket();
  }

 protected:
  void CloseSocket() override {
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().close(ec);
  }

 private:
  static Stream MakeStream(tcp::socket socket, asio::ssl::context* ssl_ctx) {
    if constexpr (kTls) {
      return Stream(beast::tcp_stream(std::move(socket)), *ssl_ctx);
    } else {
      (void)ssl_ctx;
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }
  const ServerOptions& Options() const { return server_.Options(); }
  static std::chrono::milliseconds Ms(int ms) { return std::chrono::milliseconds(ms); }

  asio::awaitable<void> Serve();
  asio::awaitable<void> FailRequest(beast::error_code ec, Parser& parser, RequestRecord& record);
  asio::awaitable<bool> Write(Response response, unsigned version, bool keep_alive, bool head,
                              RequestRecord& record);
  asio::awaitable<void> Close(bool linger);

  Stream stream_;
  beast::flat_buffer buffer_;
  std::string head_;  // response header block, reused across keep-alive requests
};

template <typename Stream>
asio::awaitable<void> Connection<Stream>::Serve() {
  if constexpr (kTls) {
    Lowest().expires_after(Ms(Options().header_timeout_ms));
    auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::server, kNoThrow);
    if (ec) co_return;
  }
  bool first = true;
  for (;;) {
    // Wait for the first byte of the next request: idle timeout between keep-alive
    // requests, header timeout for a fresh connection.
    if (buffer_.size() == 0) {
      idle_ = true;
      if (server_.IsStopping() || force_closed_) co_return;
      Lowest().expires_after(Ms(first ? Options().header_timeout_ms : Options().idle_timeout_ms));
      auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kFirstReadChunk), kNoThrow);
      if (ec) co_return;  // EOF, timeout, or closed by Stop(): nothing to answer
      buffer_.commit(n);
    }
    idle_ = false;
    first = false;

    RequestRecord record;
    record.ts_ms = NowMs();
    record.start = SteadyClock::now();
    record.remote_ip = remote_ip_;

    Parser parser;
    parser.header_limit(static_cast<uint32_t>(Options().max_header_bytes));
    parser.body_limit(Options().max_body_bytes);
    Lowest().expires_after(Ms(Options().header_timeout_ms));
    {
      auto [ec, n] = co_await bhttp::async_read_header(stream_, buffer_, parser, kNoThrow);
      if (ec) {
        co_await FailRequest(ec, parser, record);
        co_return;
      }
    }
    auto& msg = parser.get();
    // RFC 9112 §6.3: a request Transfer-Encoding other than a final "chunked" leaves the
    // body length unknown; guessing would desynchronise the connection (smuggling).
    if (msg.count(bhttp::field::transfer_encoding) != 0 && !parser.chunked()) {
      co_await FailRequest(bhttp::error::bad_transfer_encoding, parser, record);
      co_return;
    }
    if (!parser.is_done()) {
      // RFC 9110 §10.1.1: a client waiting for "100 Continue" would otherwise stall.
      if (msg.version() >= 11 && IEquals(msg[bhttp::field::expect], "100-continue")) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, msg.version()};
        Lowest().expires_after(Ms(Options().body_timeout_ms));
        auto [ec, n] = co_await bhttp::async_write(stream_, cont, kNoThrow);
        if (ec) co_return;
      }
      Lowest().expires_after(Ms(Options().body_timeout_ms));
      auto [ec, n] = co_await bhttp::async_read(stream_, buffer_, parser, kNoThrow);
      if (ec) {
        co_await FailRequest(ec, parser, record);
        co_return;
      }
    }
    Lowest().expires_never();

    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    record.method = req.method;
    bool target_ok = SplitTarget(req.target, req.path, req.query);
    record.path = req.path;
    req.headers.reserve(16);
    size_t host_count = 0;
    for (const auto& field : msg) {
      std::string name = ToLower(field.name_string());
      if (name == "host") ++host_count;
      req.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    // RFC 9112 §3.2: an HTTP/1.1 request without exactly one Host is answered 400.
    if (!target_ok || (msg.version() >= 11 && host_count != 1)) {
      co_await FailRequest(bhttp::error::bad_target, parser, record);
      co_return;
    }
    std::string_view client_id = req.Header("x-request-id");
    req.request_id = IsSaneRequestId(client_id) ? std::string(client_id) : server_.NewRequestId();
    record.request_id = req.request_id;
    record.user_agent = std::string(req.Header("user-agent"));
    req.body = std::move(msg.body());
    req.remote_ip = remote_ip_;
    if (!Options().trusted_proxies.empty()) {
      std::vector<std::string_view> forwarded;
      for (const auto& [name, value] : req.headers)
        if (name == "x-forwarded-for") forwarded.push_back(value);
      if (!forwarded.empty()) {
        req.remote_ip = Options().trusted_proxies.ClientAddress(remote_ip_, forwarded);
        record.remote_ip = req.remote_ip;
      }
    }
    req.tls = tls_;

    const unsigned version = msg.version();
    const bool head = msg.method() == bhttp::verb::head;
    bool keep_alive = msg.keep_alive();

    auto response = co_await Dispatch(std::move(req));
    if (!response || force_closed_) co_return;
    keep_alive = keep_alive && !server_.IsStopping();
    bool written = co_await Write(std::move(*response), version, keep_alive, head, record);
    if (!written) co_return;
    if (!keep_alive) {
      co_await Close(/*linger=*/buffer_.size() > 0);
      co_return;
    }
    // One large body must not pin its buffer for the rest of a long keep-alive life.
    if (buffer_.size() == 0 && buffer_.capacity() > kKeepBufferBytes) buffer_.shrink_to_fit();
  }
}

template <typename Stream>
asio::awaitable<void> Connection<Stream>::FailRequest(beast::error_code ec, Parser& parser,
                                                      RequestRecord& record) {
  Response response;
  if (ec == bhttp::error::body_limit) {
    response = ErrorResponse(
        413, "PAYLOAD_TOO_LARGE",
        "Request body exceeds the limit of " + std::to_string(Options().max_body_bytes) + " bytes");
  } else if (ec == bhttp::error::header_limit) {
    response = ErrorResponse(431, "VALIDATION_ERROR", "Request header fields too large");
  } else if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) {
    co_return;  // the client went away
  } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
    response = ErrorResponse(400, "VALIDATION_ERROR", "Malformed HTTP request");
  } else {
    // Timeouts (beast::tcp_stream has already closed the socket), resets, Stop().
    co_return;
  }
  // The start line and some headers may have been parsed: use them for the log.
  const auto& msg = parser.get();
  if (record.method.empty()) record.method = std::string(msg.method_string());
  if (record.path.empty()) {
    std::string_view target = msg.target();
    record.path = std::string(target.substr(0, target.find('?')));
  }
  if (record.request_id.empty()) {
    auto it = msg.find("x-request-id");
    std::string_view client_id =
        it != msg.end() ? std::string_view(it->value()) : std::string_view{};
    record.request_id =
        IsSaneRequestId(client_id) ? std::string(client_id) : server_.NewRequestId();
  }
  if (record.user_agent.empty()) record.user_agent = std::string(msg[bhttp::field::user_agent]);
  unsigned version = msg.version() == 10 ? 10 : 11;
  bool written = co_await Write(std::move(response), version, /*keep_alive=*/false,
                                /*head=*/false, record);
  if (written) co_await Close(/*linger=*/true);
}

template <typename Stream>
asio::awaitable<bool> Connection<Stream>::Write(Response response, unsigned version,
                                                bool keep_alive, bool head, RequestRecord& record) {
  if (response.status < 200 || response.status > 599) response = InternalError();
  // RFC 9110 §15.3.5, §15.4.5: 204 and 304 carry no content.
  const bool no_content = response.status == 204 || response.status == 304;
  if (no_content) response.body.clear();

  // The header block is written by hand into a buffer the connection keeps: no per-field
  // allocation, and the body goes out from where it is (one gathered write).
  std::string& out = head_;
  out.clear();
  out.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  AppendDecimal(out, static_cast<uint64_t>(response.status));
  out.push_back(' ');
  out.append(bhttp::obsolete_reason(static_cast<bhttp::status>(response.status)));
  out.append("\r\nServer: agentidp\r\nDate: ");
  out.append(HttpDate());
  out.append("\r\n");
  std::string_view content_type;
  if (!no_content && !response.content_type.empty() && IsValidHeaderValue(response.content_type))
    content_type = response.content_type;
  // An application Content-Type header replaces the response's content type.
  for (const auto& [name, value] : response.headers) {
    if (!no_content && IEquals(name, "content-type") && IsValidHeaderName(name) &&
        IsValidHeaderValue(value))
      content_type = value;
  }
  if (!content_type.empty()) out.append("Content-Type: ").append(content_type).append("\r\n");
  for (const auto& [name, value] : response.headers) {
    if (!IsValidHeaderName(name) || !IsValidHeaderValue(value) || IsServerOwnedHeader(name) ||
        IEquals(name, "content-type"))
      continue;
    out.append(name).append(": ").append(value).append("\r\n");
  }
  out.append("X-Request-Id: ").append(record.request_id).append("\r\n");
  if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else if (version == 10) {
    out.append("Connection: keep-alive\r\n");
  }
  record.status = response.status;
  record.route = std::move(response.route);
  std::string_view body;
  if (no_content) {
    // RFC 9110 §8.6: no Content-Length on a 204 (and nothing to say on a 304).
    record.bytes = 0;
  } else {
    // HEAD: the headers GET would send, Content-Length included, and no body.
    out.append("Content-Length: ");
    AppendDecimal(out, response.body.size());
    out.append("\r\n");
    record.bytes = head ? 0 : response.body.size();
    if (!head) body = response.body;
  }
  out.append("\r\n");
  if constexpr (kTls) {
    // One TLS record rather than two.
    out.append(body);
    body = {};
  }
  // Recorded when the response is ready, so metrics and the access log already show a
  // request once its client has the answer.
  server_.Record(record);
  Lowest().expires_after(Ms(Options().body_timeout_ms));
  const std::array<asio::const_buffer, 2> buffers = {asio::buffer(out), asio::buffer(body)};
  auto [ec, n] = co_await asio::async_write(stream_, buffers, kNoThrow);
  Lowest().expires_never();
  if (out.capacity() > kKeepBufferBytes) std::string().swap(out);
  co_return !ec;
}

template <typename Stream>
asio::awaitable<void> Connection<Stream>::Close(bool linger) {
  beast::error_code ec;
  if constexpr (kTls) {
    // close_notify; the peer's answer is not worth more than a second.
    (void)linger;
    Lowest().expires_after(kTlsShutdownTimeout);
    auto [shutdown_ec] = co_await stream_.async_shutdown(kNoThrow);
    (void)shutdown_ec;
  } else {
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (linger) {
      Lowest().expires_after(kLingerTime);
      size_t discarded = 0;
      char scratch[8192];
      while (discarded < kLingerBytes) {
        auto [read_ec, n] = co_await Lowest().async_read_some(asio::buffer(scratch), kNoThrow);
        if (read_ec) break;
        discarded += n;
      }
    }
  }
  CloseSocket();
}

// ---------------------------------------------------------------------------------------

ServerCore::ServerCore(ServerOptions options, Application& app, core::Metrics& metrics,
                       AccessLogSink access_log)
    : options_(std::move(options)),
      app_(app),
      metrics_(metrics),
      access_log_(std::move(access_log)),
      connections_gauge_(
          metrics.GetGauge("agentidp_http_connections_active", "Open HTTP connections")),
      shed_counter_(metrics.GetCounter(
          "agentidp_http_connections_rejected_total",
          "Connections answered 503 (or closed) because max_connections was reached")) {}

ServerCore::~ServerCore() {
  Stop(std::chrono::milliseconds(0));
  {
    // No I/O thread runs any more; responders still held by the application must not
    // reach into the io_context that is about to go.
    std::lock_guard lock(conns_mutex_);
    for (ConnectionBase* conn : conns_) conn->Detach();
  }
  acceptor_.reset();
  work_.clear();
  iocs_.clear();  // destroys suspended connection coroutines; they unregister themselves
  ssl_ctx_.reset();
}

core::Result<uint16_t> ServerCore::Start() {
  std::lock_guard stop_lock(stop_mutex_);
  if (!iocs_.empty()) return core::Error::Internal("HTTP server already started");
  const bool tls = !options_.tls_cert_file.empty() || !options_.tls_key_file.empty();
  if (tls) {
    if (options_.tls_cert_file.empty() || options_.tls_key_file.empty())
      return core::Error::Internal("TLS needs both a certificate and a key file");
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(
        native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1)
      return core::Error::Internal("TLS: cipher list rejected by OpenSSL");
    beast::error_code ec;
    ctx->use_certificate_chain_file(options_.tls_cert_file, ec);
    if (ec)
      return core::Error::Internal("TLS: cannot load certificate chain " + options_.tls_cert_file +
                                   ": " + ec.message());
    ctx->use_private_key_file(options_.tls_key_file, asio::ssl::context::pem, ec);
    if (ec)
      return core::Error::Internal("TLS: cannot load private key " + options_.tls_key_file + ": " +
                                   ec.message());
    if (SSL_CTX_check_private_key(native) != 1)
      return core::Error::Internal("TLS: private key does not match the certificate");
    ssl_ctx_ = std::move(ctx);
  }

  size_t threads = options_.io_threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  for (size_t i = 0; i < threads; ++i) iocs.push_back(std::make_unique<asio::io_context>(1));
  asio::io_context& ioc = *iocs.front();

  beast::error_code ec;
  tcp::endpoint endpoint;
  auto address = asio::ip::make_address(options_.bind_address, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, options_.port);
  } else {
    // A host name ("localhost"): resolved once, at start-up.
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(options_.bind_address, std::to_string(options_.port),
                                      tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || endpoints.empty())
      return core::Error::Internal("cannot resolve bind address " + options_.bind_address +
                                   (ec ? ": " + ec.message() : std::string()));
    endpoint = endpoints.begin()->endpoint();
  }
  auto acceptor = std::make_unique<tcp::acceptor>(ioc);
  auto fail = [&](const char* what) {
    return core::Error::Internal(std::string("cannot ") + what + " " + options_.bind_address + ":" +
                                 std::to_string(options_.port) + ": " + ec.message());
  };
  acceptor->open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("configure");
  acceptor->bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
  port_ = acceptor->local_endpoint(ec).port();

  iocs_ = std::move(iocs);
  acceptor_ = std::move(acceptor);
  for (auto& context : iocs_) work_.emplace_back(context->get_executor());
  asio::co_spawn(acceptor_->get_executor(), AcceptLoop(), [](std::exception_ptr) {});
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([context = iocs_[i].get()] {
      IoThreadScope scope(*context);
      for (;;) {
        try {
          context->run();
          return;
        } catch (...) {
          // Handlers do not throw (coroutines catch); keep the thread serving regardless.
        }
      }
    });
    std::string name = "agentidp-io-" + std::to_string(i);
    pthread_setname_np(threads_.back().native_handle(), name.substr(0, 15).c_str());
  }
  {
    std::lock_guard lock(state_mutex_);
    started_ = true;
  }
  return port_.load();
}

template <typename F>
void ServerCore::ForEachConnection(F f) {
  std::vector<std::shared_ptr<ConnectionBase>> conns;
  {
    std::lock_guard lock(conns_mutex_);
    conns.reserve(conns_.size());
    for (ConnectionBase* conn : conns_)
      if (auto sp = conn->weak_from_this().lock()) conns.push_back(std::move(sp));
  }
  // Posted outside the lock: the last reference may be dropped here, and a connection's
  // destructor takes conns_mutex_.
  for (auto& conn : conns) asio::post(conn->Executor(), [conn, f] { f(*conn); });
}

void ServerCore::Stop(std::chrono::milliseconds grace) {
  std::lock_guard stop_lock(stop_mutex_);
  // An I/O thread cannot join itself: Stop() from Application::Handle would deadlock.
  assert(std::none_of(threads_.begin(), threads_.end(), [](const std::thread& t) {
    return t.get_id() == std::this_thread::get_id();
  }));
  {
    std::lock_guard lock(state_mutex_);
    if (!started_ || stopped_) return;
  }
  stopping_.store(true, std::memory_order_release);
  asio::post(acceptor_->get_executor(), [this] {
    beast::error_code ec;
    acceptor_->close(ec);
  });
  ForEachConnection([](ConnectionBase& c) { c.NotifyStopping(); });
  {
    std::unique_lock lock(conns_mutex_);
    conns_cv_.wait_for(lock, grace, [this] { return conns_.empty(); });
  }
  ForEachConnection([](ConnectionBase& c) { c.ForceClose(); });
  {
    std::unique_lock lock(conns_mutex_);
    conns_cv_.wait_for(lock, kStopForceWait, [this] { return conns_.empty(); });
  }
  work_.clear();
  for (auto& context : iocs_) context->stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  {
    std::lock_guard lock(state_mutex_);
    stopped_ = true;
  }
  state_cv_.notify_all();
}

void ServerCore::Wait() {
  std::unique_lock lock(state_mutex_);
  state_cv_.wait(lock, [this] { return !started_ || stopped_; });
}

void ServerCore::Register(ConnectionBase* conn) {
  std::lock_guard lock(conns_mutex_);
  conns_.insert(conn);
}

void ServerCore::Unregister(ConnectionBase* conn) {
  bool empty;
  {
    std::lock_guard lock(conns_mutex_);
    if (conns_.erase(conn) == 0) return;
    empty = conns_.empty();
  }
  active_.fetch_sub(1);
  connections_gauge_.Dec();
  if (empty) conns_cv_.notify_all();
}

asio::awaitable<void> ServerCore::AcceptLoop() {
  for (;;) {
    tcp::socket socket(*iocs_[next_ioc_++ % iocs_.size()]);
    auto [ec] = co_await acceptor_->async_accept(socket, kNoThrow);
    if (IsStopping() || !acceptor_->is_open()) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors (EMFILE) and the like: back off instead of spinning.
      asio::steady_timer backoff(co_await asio::this_coro::executor);
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(kNoThrow);
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (active_.load() >= options_.max_connections) {
      shed_counter_.Inc();
      // Writing an HTTP answer on a TLS listener would need a handshake, the expensive
      // part under overload: those connections are just closed.
      if (ssl_ctx_ || shedding_.load() >= kMaxShedding) {
        socket.close(ignored);
      } else {
        auto executor = socket.get_executor();
        asio::co_spawn(executor, Shed(std::move(socket)), [](std::exception_ptr) {});
      }
      continue;
    }
    Spawn(std::move(socket));
  }
}

void ServerCore::Spawn(tcp::socket socket) {
  std::string remote_ip = RemoteIp(socket);
  auto executor = socket.get_executor();
  active_.fetch_add(1);
  connections_gauge_.Inc();
  if (ssl_ctx_) {
    auto conn = std::make_shared<Connection<TlsStream>>(*this, std::move(socket),
                                                        std::move(remote_ip), ssl_ctx_.get());
    Register(conn.get());
    asio::co_spawn(executor, Connection<TlsStream>::Run(std::move(conn)),
                   [](std::exception_ptr) {});
  } else {
    auto conn = std::make_shared<Connection<PlainStream>>(*this, std::move(socket),
                                                          std::move(remote_ip), nullptr);
    Register(conn.get());
    asio::co_spawn(executor, Connection<PlainStream>::Run(std::move(conn)),
                   [](std::exception_ptr) {});
  }
}

asio::awaitable<void> ServerCore::Shed(tcp::socket socket) {
  shedding_.fetch_add(1);
  struct Release {
    std::atomic<size_t>& n;
    ~Release() { n.fetch_sub(1); }
  } release{shedding_};
  std::string body =
      JsonError("SERVICE_UNAVAILABLE", "Server is at its connection limit, retry shortly");
  std::string text = "HTTP/1.1 503 Service Unavailable\r\nServer: agentidp\r\nDate: ";
  text += HttpDate();
  text += "\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n";
  text += "X-Request-Id: " + NewRequestId() + "\r\n";
  text += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  text += body;
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(kErrorWriteTimeout);
  auto [ec, n] = co_await asio::async_write(stream, asio::buffer(text), kNoThrow);
  if (!ec) {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.expires_after(std::chrono::seconds(1));
    char scratch[4096];
    size_t discarded = 0;
    while (discarded < 64 * 1024) {
      auto [read_ec, got] = co_await stream.async_read_some(asio::buffer(scratch), kNoThrow);
      if (read_ec) break;
      discarded += got;
    }
  }
  beast::error_code ignored;
  stream.socket().close(ignored);
}

ServerCore::RouteMetrics& ServerCore::MetricsFor(std::string_view route, std::string_view method) {
  // Route patterns are short; a longer one (never from the route table) takes the slow path.
  char key_buf[256];
  std::string slow_key;
  std::string_view key;
  if (route.size() + method.size() + 1 <= sizeof key_buf) {
    std::memcpy(key_buf, route.data(), route.size());
    key_buf[route.size()] = '\n';
    std::memcpy(key_buf + route.size() + 1, method.data(), method.size());
    key = std::string_view(key_buf, route.size() + 1 + method.size());
  } else {
    slow_key.append(route).append(1, '\n').append(method);
    key = slow_key;
  }
  {
    std::shared_lock lock(metric_cache_mutex_);
    if (auto it = route_metrics_.find(key); it != route_metrics_.end()) return *it->second;
  }
  core::Histogram& histogram =
      metrics_.GetHistogram("agentidp_http_request_duration_seconds",
                            "Time from the start of a request until its response is ready to send",
                            {{"route", std::string(route)}, {"method", std::string(method)}});
  std::unique_lock lock(metric_cache_mutex_);
  auto [it, inserted] = route_metrics_.try_emplace(std::string(key));
  if (inserted) {
    it->second = std::make_unique<RouteMetrics>();
    it->second->duration = &histogram;
  }
  return *it->second;
}

core::Counter& ServerCore::RequestCounter(RouteMetrics& m, std::string_view route,
                                          std::string_view method, int status) {
  int idx = status / 100 - 1;
  if (idx < 0 || idx > 4) idx = 4;  // as StatusClass: anything else counts as 5xx
  if (core::Counter* counter = m.requests[idx].load(std::memory_order_acquire)) return *counter;
  // Get* returns the same series for the same labels, so a race here is harmless.
  core::Counter& counter = metrics_.GetCounter("agentidp_http_requests_total",
                                               "HTTP requests by route, method and status class",
                                               {{"route", std::string(route)},
                                                {"method", std::string(method)},
                                                {"status", std::string(StatusClass(status))}});
  m.requests[idx].store(&counter, std::memory_order_release);
  return counter;
}

void ServerCore::Record(const RequestRecord& record) {
  auto elapsed = SteadyClock::now() - record.start;
  double seconds = std::chrono::duration<double>(elapsed).count();
  std::string_view route = record.route.empty() ? std::string_view("unmatched") : record.route;
  std::string_view method = MethodLabel(record.method);
  RouteMetrics& m = MetricsFor(route, method);
  RequestCounter(m, route, method, record.status).Inc();
  m.duration->Observe(seconds);
  if (options_.access_log && access_log_) {
    AccessLogEntry entry;
    entry.ts_ms = record.ts_ms;
    entry.request_id = record.request_id;
    entry.remote_ip = record.remote_ip;
    entry.method = record.method;
    entry.path = record.path;
    entry.status = record.status;
    entry.bytes = record.bytes;
    entry.duration_ms = seconds * 1000.0;
    entry.route = route;
    entry.user_agent = record.user_agent;
    // One buffer per I/O thread: the line is formatted without allocating.
    thread_local std::string line;
    line.clear();
    try {
      AppendAccessLogLine(line, entry);
      access_log_(line);
    } catch (...) {
      // A failing log sink must not take requests down with it.
    }
    if (line.capacity() > 16 * 1024) std::string().swap(line);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------

struct Server::Impl : ServerCore {
  using ServerCore::ServerCore;
};

Server::Server(ServerOptions options, Application& app, core::Metrics& metrics,
               AccessLogSink access_log)
    : impl_(std::make_unique<Impl>(std::move(options), app, metrics, std::move(access_log))) {}

Server::~Server() = default;

core::Result<uint16_t> Server::Start() {
  return impl_->Start();
}
void Server::Stop(std::chrono::milliseconds grace) {
  impl_->Stop(grace);
}
void Server::Wait() {
  impl_->Wait();
}
uint16_t Server::Port() const {
  return impl_->Port();
}
size_t Server::ActiveConnections() const {
  return impl_->ActiveConnections();
}

}  // namespace agentidp::http
