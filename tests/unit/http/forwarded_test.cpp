#include "http/forwarded.hpp"

#include <gtest/gtest.h>

namespace agentidp::http {
namespace {

TrustedProxies Trusted(std::string_view list) {
  auto t = TrustedProxies::Parse(list);
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? *t : TrustedProxies();
}

TEST(ForwardedTest, ParsesAddressesAndRanges) {
  auto t = Trusted(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1");
  EXPECT_TRUE(t.Contains("10.200.3.4"));
  EXPECT_FALSE(t.Contains("11.0.0.1"));
  EXPECT_TRUE(t.Contains("192.168.1.7"));
  EXPECT_FALSE(t.Contains("192.168.1.8"));
  EXPECT_TRUE(t.Contains("fd12:3456::1"));
  EXPECT_FALSE(t.Contains("fe80::1"));
  EXPECT_TRUE(t.Contains("::1"));
  EXPECT_TRUE(t.Contains("::ffff:10.1.1.1")) << "v4-mapped IPv6 is the IPv4 address";
  EXPECT_FALSE(t.Contains("not-an-address"));
  EXPECT_TRUE(TrustedProxies::Parse("")->empty());
  EXPECT_TRUE(Trusted("0.0.0.0/0").Contains("203.0.113.9"));
  EXPECT_FALSE(Trusted("0.0.0.0/0").Contains("2001:db8::1")) << "an IPv4 range holds no IPv6";
}

TEST(ForwardedTest, RefusesBadRanges) {
  for (const char* bad :
       {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0.1/8", "host.example",
        "10.0.0.0/8/8", "1.2.3", "[::1]", "10.0.0.1:80", "fe80::1%eth0", "10.0.0.0/-1"}) {
    auto t = TrustedProxies::Parse(bad);
    EXPECT_FALSE(t.ok()) << bad;
  }
}

TEST(ForwardedTest, IgnoresTheHeaderFromAnUntrustedPeer) {
  auto t = Trusted("10.0.0.0/8");
  EXPECT_EQ(t.ClientAddress("203.0.113.5", {"198.51.100.1"}), "203.0.113.5");
  EXPECT_EQ(TrustedProxies().ClientAddress("10.0.0.1", {"198.51.100.1"}), "10.0.0.1");
  EXPECT_EQ(t.ClientAddress("10.0.0.1", {}), "10.0.0.1");
}

TEST(ForwardedTest, WalksFromTheRightPastTrustedHops) {
  auto t = Trusted("10.0.0.0/8");
  // client -> 10.0.0.2 (edge) -> 10.0.0.1 (inner) -> us; a client-forged first entry.
  EXPECT_EQ(t.ClientAddress("10.0.0.1", {"6.6.6.6, 198.51.100.7, 10.0.0.2"}), "198.51.100.7");
  // The same across repeated headers, in order.
  EXPECT_EQ(t.ClientAddress("10.0.0.1", {"6.6.6.6", "198.51.100.7", "10.0.0.2"}), "198.51.100.7");
  // Every entry trusted: the left-most is the best anyone vouches for.
  EXPECT_EQ(t.ClientAddress("10.0.0.1", {"10.9.9.9,10.0.0.2"}), "10.9.9.9");
}

TEST(ForwardedTest, StopsAtGarbageAndNormalizes) {
  auto t = Trusted("10.0.0.0/8");
  EXPECT_EQ(t.ClientAddress("10.0.0.1", {"198.51.100.7, unknown, 10.0.0.3"}), "10.0.0.3");
  EXPECT_EQ(t.ClientAddress("10.0.0.1", {"198.51.100.7:4711"}), "10.0.0.1");
  EXPECT_EQ(t.ClientAddress("10.0.0.1", {"198.51.100.7,,"}), "10.0.0.1");
  EXPECT_EQ(t.ClientAddress("10.0.0.1", {"  2001:DB8:0:0::1 "}), "2001:db8::1");
  EXPECT_EQ(t.ClientAddress("10.0.0.1", {"::ffff:198.51.100.9"}), "198.51.100.9");
}

TEST(ForwardedTest, BoundsTheWork) {
  auto t = Trusted("10.0.0.0/8");
  std::string many = "198.51.100.7";
  for (size_t i = 0; i < TrustedProxies::kMaxHops + 5; ++i) many += ",10.0.0.9";
  // Past the bound the walk stops at the last trusted hop instead of reaching the client.
  EXPECT_EQ(t.ClientAddress("10.0.0.1", {many}), "10.0.0.9");
}

}  // namespace
}  // namespace agentidp::http
