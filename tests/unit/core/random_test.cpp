#include "core/random.hpp"

#include <gtest/gtest.h>

#include <set>

namespace agentidp::core {
namespace {

TEST(Uuid, V4HasVersionAndVariantBits) {
  SecureRandom r;
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string u = r.UuidV4();
    ASSERT_TRUE(IsUuid(u)) << u;
    EXPECT_EQ(u[14], '4');
    EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(Uuid, V7IsTimeOrderedAndCarriesTheMilliseconds) {
  SecureRandom r;
  const int64_t ms = 0x0191'2345'6789;
  std::string a = r.UuidV7(ms), b = r.UuidV7(ms + 1), c = r.UuidV7(ms + 1000);
  for (const auto& u : {a, b, c}) {
    ASSERT_TRUE(IsUuid(u)) << u;
    EXPECT_EQ(u[14], '7');
    EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;
  }
  EXPECT_EQ(a.substr(0, 13), "01912345-6789");
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST(Uuid, IsUuidIsStrict) {
  EXPECT_TRUE(IsUuid("123e4567-e89b-42d3-a456-426614174000"));
  EXPECT_FALSE(IsUuid("123E4567-E89B-42D3-A456-426614174000"));
  EXPECT_FALSE(IsUuid("123e4567e89b42d3a456426614174000"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-42d3-a456-42661417400g"));
}

}  // namespace
}  // namespace agentidp::core
