#include "http/outbound_client.hpp"

#include <gtest/gtest.h>

namespace agentidp::http {
namespace {

TEST(OutboundGuard, RefusesNonPublicAddresses) {
  for (const char* ip : {"127.0.0.1",
                         "127.255.0.1",
                         "0.0.0.0",
                         "10.1.2.3",
                         "172.16.0.1",
                         "172.31.255.255",
                         "192.168.1.1",
                         "169.254.169.254",
                         "100.64.0.1",
                         "224.0.0.1",
                         "255.255.255.255",
                         "192.0.2.1",
                         "198.18.0.1",
                         "::1",
                         "::",
                         "fe80::1",
                         "fc00::1",
                         "fd12::1",
                         "ff02::1",
                         "::ffff:127.0.0.1",
                         "::ffff:10.0.0.1",
                         "::127.0.0.1",
                         "64:ff9b::a00:1",
                         "2002:7f00:1::",
                         "2001:db8::1",
                         "not-an-ip",
                         ""})
    EXPECT_TRUE(IsForbiddenAddress(ip)) << ip;
  for (const char* ip : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111",
                         "::ffff:8.8.8.8", "64:ff9b::808:808"})
    EXPECT_FALSE(IsForbiddenAddress(ip)) << ip;
}

TEST(OutboundGuard, RefusesUrlsBeforeConnecting) {
  OutboundClient client(OutboundOptions{});
  for (const char* url :
       {"http://example.com/jwks", "https://user:pw@example.com/", "https://example.com/#frag",
        "ftp://example.com/", "not a url", "https://127.0.0.1:1/jwks", "https://[::1]:1/jwks",
        "https://169.254.169.254/latest/meta-data", "https://10.0.0.1/"}) {
    auto r = client.Get(url);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.error().code, "OUTBOUND_REFUSED") << url << ": " << r.error().message;
  }
  EXPECT_EQ(client.connections_attempted(), 0u);
}

TEST(OutboundGuard, NamesResolvingToLoopbackAreRefused) {
  OutboundClient client(OutboundOptions{});
  auto r = client.Get("https://localhost:1/jwks");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "OUTBOUND_REFUSED") << r.error().message;
  EXPECT_EQ(client.connections_attempted(), 0u);
}

TEST(OutboundGuard, AllowFlagReachesLoopbackAndTimesOutBounded) {
  OutboundOptions o;
  o.allow_private_addresses = true;
  o.timeout = std::chrono::milliseconds(300);
  OutboundClient client(o);
  // Port 1 on loopback: connection refused quickly, reported as unavailable.
  auto r = client.Get("https://127.0.0.1:1/jwks");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, core::Errc::kUnavailable);
  EXPECT_EQ(client.connections_attempted(), 1u);
}

}  // namespace
}  // namespace agentidp::http
