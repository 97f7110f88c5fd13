#include "http/outbound_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>

#include <array>
#include <mutex>
#include <optional>
#include <vector>

namespace agentidp::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

core::Error Refused(std::string message) {
  return core::Error{core::Errc::kValidation, "OUTBOUND_REFUSED", std::move(message)};
}
core::Error Unreachable(std::string message) {
  core::Error e{core::Errc::kUnavailable, "OUTBOUND_FAILED", std::move(message)};
  e.retry_after = 5;
  return e;
}

struct V4Range {
  uint32_t base;
  int bits;
};
// IANA special-purpose IPv4 ranges that must never be reached from the server.
constexpr std::array<V4Range, 15> kV4Forbidden = {{
    {0x00000000, 8},   // 0.0.0.0/8 "this network"
    {0x0A000000, 8},   // 10/8 private
    {0x64400000, 10},  // 100.64/10 shared (CGNAT)
    {0x7F000000, 8},   // 127/8 loopback
    {0xA9FE0000, 16},  // 169.254/16 link-local (cloud metadata)
    {0xAC100000, 12},  // 172.16/12 private
    {0xC0000000, 24},  // 192.0.0/24 protocol assignments
    {0xC0000200, 24},  // 192.0.2/24 documentation
    {0xC0586300, 24},  // 192.88.99/24 6to4 relay
    {0xC0A80000, 16},  // 192.168/16 private
    {0xC6120000, 15},  // 198.18/15 benchmarking
    {0xC6336400, 24},  // 198.51.100/24 documentation
    {0xCB007100, 24},  // 203.0.113/24 documentation
    {0xE0000000, 4},   // 224/4 multicast
    {0xF0000000, 4},   // 240/4 reserved + broadcast
}};

bool ForbiddenV4(uint32_t a) {
  for (const auto& r : kV4Forbidden) {
    const uint32_t mask = r.bits == 0 ? 0 : ~uint32_t{0} << (32 - r.bits);
    if ((a & mask) == r.base) return true;
  }
  return false;
}

bool ForbiddenV6(const asio::ip::address_v6& a6) {
  const auto b = a6.to_bytes();
  if (a6.is_unspecified() || a6.is_loopback() || a6.is_multicast()) return true;
  bool v4_compatible = true;  // ::/96 (deprecated IPv4-compatible form)
  for (int i = 0; i < 12; ++i) v4_compatible = v4_compatible && b[i] == 0;
  if (a6.is_v4_mapped() || v4_compatible ||
      (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b)) {  // 64:ff9b::/96 NAT64
    const uint32_t v4 = (uint32_t{b[12]} << 24) | (uint32_t{b[13]} << 16) | (uint32_t{b[14]} << 8) |
                        uint32_t{b[15]};
    return ForbiddenV4(v4) || v4_compatible;
  }
  if ((b[0] & 0xfe) == 0xfc) return true;                  // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;  // fe80::/10 link-local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return true;  // fec0::/10 site-local
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return true;  // doc
  if (b[0] == 0x20 && b[1] == 0x02) return true;  // 2002::/16 6to4 embeds any IPv4
  if (b[0] == 0x01 && b[1] == 0x00 && b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0 &&
      b[6] == 0 && b[7] == 0)
    return true;  // 100::/64 discard
  return false;
}

bool ForbiddenAddress(const asio::ip::address& a) {
  if (a.is_v4()) return ForbiddenV4(a.to_v4().to_uint());
  return ForbiddenV6(a.to_v6());
}

struct Target {
  std::string host;  // without brackets
  std::string port;
  std::string target;  // path + query
  bool host_is_ip = false;
};

core::Result<Target> ParseHttpsUrl(const std::string& url) {
  if (url.size() > 2048) return Refused("URL is too long");
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) return Refused("not an absolute URL");
  if (u->scheme_id() != boost::urls::scheme::https) return Refused("only https URLs are fetched");
  if (u->has_userinfo()) return Refused("URLs with user information are refused");
  if (u->has_fragment()) return Refused("URLs with a fragment are refused");
  Target t;
  switch (u->host_type()) {
    case boost::urls::host_type::name:
      t.host = u->encoded_host().decode();
      break;
    case boost::urls::host_type::ipv4:
      t.host = u->host_address();
      t.host_is_ip = true;
      break;
    case boost::urls::host_type::ipv6:
      t.host = u->host_ipv6_address().to_string();
      t.host_is_ip = true;
      break;
    default:
      return Refused("URL host is not a name or an IP address");
  }
  if (t.host.empty()) return Refused("URL has no host");
  for (char c : t.host)
    if (static_cast<unsigned char>(c) <= 0x20 || c == '%' || c == '/')
      return Refused("URL host is malformed");
  t.port = u->has_port() ? std::string(u->port()) : "443";
  if (t.port.empty() || t.port.size() > 5 ||
      t.port.find_first_not_of("0123456789") != std::string::npos || std::stoi(t.port) == 0 ||
      std::stoi(t.port) > 65535)
    return Refused("URL port is invalid");
  t.target = std::string(u->encoded_path());
  if (t.target.empty()) t.target = "/";
  if (u->has_query()) t.target += "?" + std::string(u->encoded_query());
  return t;
}

}  // namespace

bool IsForbiddenAddress(std::string_view ip) {
  boost::system::error_code ec;
  auto a = asio::ip::make_address(std::string(ip), ec);
  if (ec) return true;
  return ForbiddenAddress(a);
}

struct OutboundClient::Impl {
  OutboundOptions options;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  std::string tls_error;
};

OutboundClient::OutboundClient(OutboundOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  SSL_CTX* native = impl_->tls.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  beast::error_code ec;
  impl_->tls.set_default_verify_paths(ec);
  if (!impl_->options.ca_file.empty()) {
    impl_->tls.load_verify_file(impl_->options.ca_file, ec);
    if (ec) impl_->tls_error = "cannot load CA file: " + ec.message();
  }
  impl_->tls.set_verify_mode(asio::ssl::verify_peer);
}

OutboundClient::~OutboundClient() = default;

core::Result<core::OutboundResponse> OutboundClient::Get(const std::string& url) {
  TRY_ASSIGN(Target t, ParseHttpsUrl(url));
  if (!impl_->tls_error.empty()) return Unreachable(impl_->tls_error);
  const auto deadline = std::chrono::steady_clock::now() + impl_->options.timeout;
  const bool allow_private = impl_->options.allow_private_addresses;
  const size_t max_body = impl_->options.max_body_bytes;

  asio::io_context ioc(1);
  std::optional<core::Result<core::OutboundResponse>> result;
  auto fail = [&](core::Error e) { result.emplace(std::move(e)); };

  auto run = [&]() -> asio::awaitable<void> {
    std::vector<tcp::endpoint> endpoints;
    if (t.host_is_ip) {
      boost::system::error_code ec;
      auto a = asio::ip::make_address(t.host, ec);
      if (ec) co_return fail(Refused("URL host is not a valid address"));
      endpoints.emplace_back(a, static_cast<uint16_t>(std::stoi(t.port)));
    } else {
      tcp::resolver resolver(ioc);
      auto [ec, found] = co_await resolver.async_resolve(t.host, t.port, kNoThrow);
      if (ec) co_return fail(Unreachable("cannot resolve " + t.host));
      for (const auto& e : found) endpoints.push_back(e.endpoint());
      if (endpoints.empty()) co_return fail(Unreachable("cannot resolve " + t.host));
    }
    // Every address must be public: a name that resolves to one private address among
    // public ones is refused too (it could be picked on a retry).
    if (!allow_private)
      for (const auto& e : endpoints)
        if (ForbiddenAddress(e.address()))
          co_return fail(
              Refused("destination address " + e.address().to_string() + " is not public"));

    beast::ssl_stream<beast::tcp_stream> stream(ioc, impl_->tls);
    if (!t.host_is_ip && !SSL_set_tlsext_host_name(stream.native_handle(), t.host.c_str()))
      co_return fail(Unreachable("TLS: cannot set server name"));
    // Certificate must match the host (name, or IP for an IP literal).
    X509_VERIFY_PARAM* param = SSL_get0_param(stream.native_handle());
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (t.host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, t.host.c_str()) != 1
                     : X509_VERIFY_PARAM_set1_host(param, t.host.c_str(), t.host.size()) != 1)
      co_return fail(Unreachable("TLS: cannot set the expected host"));

    connections_.fetch_add(1);
    beast::get_lowest_layer(stream).expires_at(deadline);
    auto [cec, ep] =
        co_await asio::async_connect(beast::get_lowest_layer(stream).socket(), endpoints, kNoThrow);
    (void)ep;
    if (cec) co_return fail(Unreachable("cannot connect to " + t.host + ": " + cec.message()));
    beast::get_lowest_layer(stream).expires_at(deadline);
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kNoThrow);
    if (hec)
      co_return fail(Unreachable("TLS handshake with " + t.host + " failed: " + hec.message()));

    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, t.target, 11};
    req.set(bhttp::field::host, t.port == "443" ? t.host : t.host + ":" + t.port);
    req.set(bhttp::field::user_agent, "agentidp");
    req.set(bhttp::field::accept, "application/json, application/jwk-set+json");
    req.set(bhttp::field::connection, "close");
    beast::get_lowest_layer(stream).expires_at(deadline);
    auto [wec, wn] = co_await bhttp::async_write(stream, req, kNoThrow);
    (void)wn;
    if (wec) co_return fail(Unreachable("request to " + t.host + " failed: " + wec.message()));

    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(max_body);
    parser.header_limit(16 * 1024);
    beast::get_lowest_layer(stream).expires_at(deadline);
    auto [rec, rn] = co_await bhttp::async_read(stream, buffer, parser, kNoThrow);
    (void)rn;
    if (rec == bhttp::error::body_limit)
      co_return fail(Unreachable("response from " + t.host + " is larger than the limit"));
    if (rec) co_return fail(Unreachable("response from " + t.host + " failed: " + rec.message()));
    auto res = parser.release();
    core::OutboundResponse out;
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[bhttp::field::content_type]);
    out.body = std::move(res.body());
    result.emplace(std::move(out));
    // No graceful TLS shutdown: the response is complete and the connection is ours alone.
  };
  asio::co_spawn(ioc, run(), [&](std::exception_ptr e) {
    if (e && !result) fail(Unreachable("outbound request failed"));
  });
  // The stream deadline covers connect/TLS/IO; this bounds name resolution as well.
  ioc.run_until(deadline + std::chrono::milliseconds(100));
  if (!result) {
    ioc.stop();
    return Unreachable("request to " + t.host + " timed out");
  }
  if (result->ok() && (*result)->status >= 300 && (*result)->status < 400)
    return Refused("redirects are not followed (" + t.host + " answered " +
                   std::to_string((*result)->status) + ")");
  return std::move(*result);
}

}  // namespace agentidp::http
