#pragma once

// The HTTP/1.1 listener. Beast and Asio stay inside server.cpp (DESIGN §2): this header
// only names standard types.

#include "core/result.hpp"
#include "http/forwarded.hpp"
#include "http/message.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace agentidp::core {
class Metrics;
}

namespace agentidp::http {

// Receives one JSON object per request, without a trailing newline (see access_log.hpp
// for the fields and a spdlog-backed sink). Called on I/O threads: it must be cheap and
// thread-safe.
using AccessLogSink = std::function<void(std::string_view json_line)>;

struct ServerOptions {
  std::string bind_address = "127.0.0.1";  // numeric address or resolvable host name
  uint16_t port = 3000;                    // 0 = ephemeral (Start() returns the real one)
  size_t io_threads = 0;                   // 0 = std::thread::hardware_concurrency()
  size_t max_body_bytes = 64 * 1024;       // DESIGN §5: 413 above
  size_t max_header_bytes = 16 * 1024;     // 431 above
  int header_timeout_ms = 10000;           // first request line + headers (slowloris bound)
  int body_timeout_ms = 30000;             // the body, and writing the response
  int idle_timeout_ms = 60000;             // between keep-alive requests
  size_t max_connections = 10000;          // over this: 503 + Retry-After: 1, then close
  // Both set: TLS listener (TLS 1.2+, ECDHE + AES-GCM/ChaCha20-Poly1305). Empty: plain.
  std::string tls_cert_file;  // PEM chain, leaf first
  std::string tls_key_file;   // PEM private key
  bool access_log = true;     // also needs a sink passed to the Server
  // Peers whose X-Forwarded-For names the client address (http/forwarded.hpp); empty: none.
  TrustedProxies trusted_proxies;
};

class Server {
 public:
  // `app`, `metrics` and whatever `access_log` captures must outlive the Server.
  Server(ServerOptions options, Application& app, core::Metrics& metrics,
         AccessLogSink access_log = {});
  // Stops (with no grace) if still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the I/O threads; returns the bound port. Fails (without
  // throwing) on a bad address, a port in use, or unreadable TLS files. Call once.
  core::Result<uint16_t> Start();

  // Graceful stop: stops accepting, closes idle keep-alive connections, lets requests in
  // flight finish (answered with Connection: close) for up to `grace`, then closes
  // whatever is left and joins the I/O threads. Idempotent; must not be called from an
  // I/O thread (i.e. not from Application::Handle).
  void Stop(std::chrono::milliseconds grace);

  // Blocks until Stop() has finished (returns at once if never started).
  void Wait();

  uint16_t Port() const;
  size_t ActiveConnections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace agentidp::http
