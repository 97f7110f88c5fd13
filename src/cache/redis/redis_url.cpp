#include "cache/redis/redis_url.hpp"

#include <boost/url/parse.hpp>

#include <charconv>

namespace agentidp::cache::redis {

namespace {
core::Error Bad(const std::string& why) {
  // The URL itself is never repeated: it may hold a password.
  return core::Error::Validation("Invalid Redis URL: " + why);
}

bool ParseInt(std::string_view text, int min, int max, int& out) {
  int n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p != text.data() + text.size() || n < min || n > max) return false;
  out = n;
  return true;
}
}  // namespace

std::string RedisEndpoint::Describe() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(db);
}

core::Result<RedisEndpoint> ParseRedisUrl(std::string_view text) {
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) return Bad("expected redis://[[user]:password@]host[:port][/db]");
  const auto& url = *parsed;
  if (url.scheme() == "rediss")
    return Bad("rediss:// (TLS) is not supported; use redis:// over a private network or a tunnel");
  if (url.scheme() != "redis") return Bad("the scheme must be redis://");
  if (!url.has_authority() || url.encoded_host().empty()) return Bad("a host is required");
  if (url.has_query() || url.has_fragment()) return Bad("no query or fragment is allowed");
  RedisEndpoint e;
  e.host = url.host_address();  // IPv6 without its brackets
  if (url.has_port() && !ParseInt(url.port(), 1, 65535, e.port))
    return Bad("the port must be 1-65535");
  std::string path = url.path();
  if (!path.empty() && path != "/") {
    if (!ParseInt(std::string_view(path).substr(1), 0, 15, e.db))
      return Bad("the path must be a database number 0-15");
  }
  if (url.has_userinfo()) {
    e.username = url.user();
    if (url.has_password()) e.password = url.password();
    if (e.password.empty())
      return Bad("give the password as redis://:password@host or redis://user:password@host");
  }
  return e;
}

}  // namespace agentidp::cache::redis
