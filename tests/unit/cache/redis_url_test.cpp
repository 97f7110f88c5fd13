#include "cache/redis/redis_url.hpp"

#include <gtest/gtest.h>

namespace agentidp::cache::redis {
namespace {

TEST(RedisUrl, HostPortDatabaseAndCredentials) {
  auto plain = ParseRedisUrl("redis://cache.internal");
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(plain->host, "cache.internal");
  EXPECT_EQ(plain->port, 6379);
  EXPECT_EQ(plain->db, 0);
  EXPECT_TRUE(plain->password.empty());

  auto full = ParseRedisUrl("redis://agentidp:p%40ss%3Aword@10.0.0.5:6380/3");
  ASSERT_TRUE(full.ok()) << full.error().message;
  EXPECT_EQ(full->host, "10.0.0.5");
  EXPECT_EQ(full->port, 6380);
  EXPECT_EQ(full->db, 3);
  EXPECT_EQ(full->username, "agentidp");
  EXPECT_EQ(full->password, "p@ss:word");
  EXPECT_EQ(full->Describe(), "10.0.0.5:6380/3") << "never the password";

  auto password_only = ParseRedisUrl("redis://:secret@127.0.0.1:7000/");
  ASSERT_TRUE(password_only.ok()) << password_only.error().message;
  EXPECT_TRUE(password_only->username.empty());
  EXPECT_EQ(password_only->password, "secret");

  auto v6 = ParseRedisUrl("redis://[::1]:7001/2");
  ASSERT_TRUE(v6.ok()) << v6.error().message;
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->Describe(), "[::1]:7001/2");
}

TEST(RedisUrl, RefusesWhatItCannotHonourWithoutEchoingSecrets) {
  for (const char* bad :
       {"", "cache:6379", "http://cache:6379", "rediss://cache:6380", "redis://", "redis://cache:0",
        "redis://cache:70000", "redis://cache/16", "redis://cache/x", "redis://cache/1/2",
        "redis://cache?db=1", "redis://cache#x", "redis://user@cache", "redis://u:@cache"}) {
    auto r = ParseRedisUrl(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  auto tls = ParseRedisUrl("rediss://:topsecret@cache:6380");
  ASSERT_FALSE(tls.ok());
  EXPECT_NE(tls.error().message.find("TLS"), std::string::npos);
  EXPECT_EQ(tls.error().message.find("topsecret"), std::string::npos);
}

}  // namespace
}  // namespace agentidp::cache::redis
