#pragma once

// The guarded outbound HTTPS client (DESIGN §5; interface in core/outbound.hpp). Beast and
// Asio stay inside outbound_client.cpp.

#include "core/outbound.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace agentidp::http {

struct OutboundOptions {
  std::chrono::milliseconds timeout{5000};  // whole request: resolve, connect, TLS, read
  size_t max_body_bytes = 1024 * 1024;
  // Tests only: lets the client reach loopback/private addresses (a local test issuer).
  bool allow_private_addresses = false;
  // Extra trust anchors (PEM) added to the system store, e.g. a test CA.
  std::string ca_file;
};

// True for an address the guard refuses: unspecified, loopback, link-local, private
// (RFC 1918, fc00::/7), shared (100.64/10), benchmarking, documentation, multicast,
// reserved and broadcast ranges, and their IPv4-mapped/compatible IPv6 forms. Anything
// that does not parse as an address is refused too.
bool IsForbiddenAddress(std::string_view ip);

class OutboundClient final : public core::OutboundFetcher {
 public:
  explicit OutboundClient(OutboundOptions options);
  ~OutboundClient() override;
  OutboundClient(const OutboundClient&) = delete;
  OutboundClient& operator=(const OutboundClient&) = delete;

  core::Result<core::OutboundResponse> Get(const std::string& url) override;

  // Connections attempted (after the guard passed), for metrics and tests.
  uint64_t connections_attempted() const { return connections_.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<uint64_t> connections_{0};
};

}  // namespace agentidp::http
