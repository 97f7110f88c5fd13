#pragma once

// Which client address a request came from when the server sits behind load balancers or
// reverse proxies (docs/operations.md). Only proxies named in `trusted_proxies` are
// believed: their X-Forwarded-For is walked from the right (the hop nearest to us) past
// every trusted address; the first untrusted one is the client. Without trusted proxies
// the header is ignored, so a client cannot choose the address that audit events, the
// access log and the failed-authentication slow-down see.

#include "core/result.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentidp::http {

class TrustedProxies {
 public:
  TrustedProxies() = default;
  // A comma-separated list of addresses and CIDR ranges, IPv4 or IPv6, e.g.
  // "10.0.0.0/8, 192.168.1.7, fd00::/8". Empty: no proxy is trusted.
  static core::Result<TrustedProxies> Parse(std::string_view list);

  bool empty() const { return ranges_.empty(); }
  bool Contains(std::string_view address) const;

  // The client address of a request that arrived from `peer` carrying these
  // X-Forwarded-For header values (in the order received). Returns `peer` unless `peer` is
  // trusted. Walking stops at the first untrusted entry (the client) or at an entry that is
  // not an address (then the last address walked is the best the proxies vouch for).
  std::string ClientAddress(std::string_view peer,
                            const std::vector<std::string_view>& forwarded_for) const;

  // At most this many X-Forwarded-For entries are looked at (a bound on per-request work).
  static constexpr size_t kMaxHops = 32;

 private:
  struct Range {
    std::array<uint8_t, 16> address{};  // IPv4 as v4-mapped IPv6
    int prefix = 0;                     // in bits of the 128-bit form
  };
  std::vector<Range> ranges_;
};

// A textual IPv4 or IPv6 address (no port, no brackets, no zone) in the canonical form
// inet_ntop writes (v4-mapped IPv6 as plain IPv4), or nullopt.
std::optional<std::string> CanonicalAddress(std::string_view text);

}  // namespace agentidp::http
