#pragma once

// REDIS_URL: redis://[[username]:password@]host[:port][/db]
//   host      name, IPv4 or [IPv6]; port default 6379; db 0-15 (default 0)
//   password  percent-encoded; with a username, Redis 6 ACL authentication (AUTH user pass)
// No query, fragment or other scheme: `rediss://` (TLS) is refused because the hiredis of
// this platform (0.14) has no TLS; reach a remote Redis over a private network or a tunnel.

#include "core/result.hpp"

#include <string>
#include <string_view>

namespace agentidp::cache::redis {

struct RedisEndpoint {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string username;
  std::string password;
  // host:port/db for logs and health (never the password).
  std::string Describe() const;
};

core::Result<RedisEndpoint> ParseRedisUrl(std::string_view url);

}  // namespace agentidp::cache::redis
