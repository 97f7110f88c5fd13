#include "core/random.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

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

// Bytes 0, 1, 2, ...: the formatting of the ids, independent of the generator.
class CountingRandom final : public Random {
 public:
  void Fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) out[i] = next_++;
  }

 private:
  uint8_t next_ = 0;
};

TEST(Uuid, FormatsBytesInCanonicalOrder) {
  CountingRandom r;
  EXPECT_EQ(r.UuidV4(), "00010203-0405-4607-8809-0a0b0c0d0e0f");
  EXPECT_EQ(r.Hex(4), "10111213");
}

TEST(SecureRandom, IdsFromManyThreadsNeverRepeat) {
  SecureRandom r;
  constexpr int kThreads = 4, kEach = 3000;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) ids[t].push_back(r.UuidV4());
    });
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (const auto& v : ids) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
}

TEST(SecureRandom, SmallAndLargeRequestsAreFilled) {
  SecureRandom r;
  for (size_t n : {1u, 15u, 16u, 17u, 64u, 511u, 512u, 513u, 4096u}) {
    std::vector<uint8_t> a = r.Bytes(n), b = r.Bytes(n);
    ASSERT_EQ(a.size(), n);
    if (n >= 8) {
      EXPECT_NE(a, b) << n;
    }
  }
}

TEST(Uuid, IsUuidIsStrict) {
  EXPECT_TRUE(IsUuid("123e4567-e89b-42d3-a456-426614174000"));
  EXPECT_FALSE(IsUuid("123E4567-E89B-42D3-A456-426614174000"));
  EXPECT_FALSE(IsUuid("123e4567e89b42d3a456426614174000"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-42d3-a456-42661417400g"));
}

}  // namespace
}  // namespace agentidp::core
