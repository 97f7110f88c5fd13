#include "crypto/ecdsa_presign.hpp"

#include "crypto/hash.hpp"
#include "crypto/jws.hpp"
#include "crypto/keys.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace agentidp::crypto {
namespace {

std::string Raw(const unsigned char* sig) {
  return std::string(reinterpret_cast<const char*>(sig), 64);
}

struct P256 {
  KeyPair pair = KeyPair::Generate("ES256").value();
  PublicKey pub = PublicKey::FromKeyPair(pair).value();
  std::shared_ptr<EC_KEY> ec = EcdsaPresignPool::SigningKey(pair.native_handle());
};

TEST(EcdsaPresignTest, SignaturesFromPrecomputedNoncesVerify) {
  P256 key;
  ASSERT_NE(key.ec, nullptr);
  EcdsaPresignPool pool(64);
  ASSERT_EQ(pool.Refill(16), 16u);
  for (int i = 0; i < 16; ++i) {
    const std::string input = "header.payload-" + std::to_string(i);
    const auto digest = Sha256(input);
    unsigned char sig[64];
    ASSERT_TRUE(pool.Sign(key.ec.get(), digest.data(), sig));
    EXPECT_TRUE(VerifyJwsSignature(key.pub, input, Raw(sig)));
    // The signature covers this input and no other.
    EXPECT_FALSE(VerifyJwsSignature(key.pub, input + "x", Raw(sig)));
  }
  EXPECT_EQ(pool.signatures(), 16u);
}

TEST(EcdsaPresignTest, EveryNonceIsUsedOnceAndAnEmptyPoolRefuses) {
  P256 key;
  EcdsaPresignPool pool(256);
  ASSERT_EQ(pool.Refill(200), 200u);
  const auto digest = Sha256("the same input every time");
  std::set<std::string> r_values;
  std::set<std::string> signatures;
  unsigned char sig[64];
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(pool.Sign(key.ec.get(), digest.data(), sig));
    r_values.insert(Raw(sig).substr(0, 32));
    signatures.insert(Raw(sig));
  }
  // A repeated r for the same key would be a repeated nonce: the key would be lost.
  EXPECT_EQ(r_values.size(), 200u);
  EXPECT_EQ(signatures.size(), 200u);
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_FALSE(pool.Sign(key.ec.get(), digest.data(), sig));
}

TEST(EcdsaPresignTest, NoncesDoNotDependOnTheSigningKey) {
  // One pool serves every P-256 key (the keys rotate; the pairs need not be recomputed).
  P256 a;
  P256 b;
  EcdsaPresignPool pool(8);
  ASSERT_EQ(pool.Refill(2), 2u);
  const std::string input = "same.input";
  const auto digest = Sha256(input);
  unsigned char sig_a[64];
  unsigned char sig_b[64];
  ASSERT_TRUE(pool.Sign(a.ec.get(), digest.data(), sig_a));
  ASSERT_TRUE(pool.Sign(b.ec.get(), digest.data(), sig_b));
  EXPECT_TRUE(VerifyJwsSignature(a.pub, input, Raw(sig_a)));
  EXPECT_TRUE(VerifyJwsSignature(b.pub, input, Raw(sig_b)));
  EXPECT_FALSE(VerifyJwsSignature(b.pub, input, Raw(sig_a)));
}

TEST(EcdsaPresignTest, CapacityBoundsThePool) {
  EcdsaPresignPool pool(10);
  EXPECT_EQ(pool.Refill(25), 10u);
  EXPECT_EQ(pool.size(), 10u);
  EXPECT_EQ(pool.Refill(5), 0u);
}

TEST(EcdsaPresignTest, OneRefillerAtATimeAndNeverPastCapacity) {
  EcdsaPresignPool pool(300);
  std::vector<std::thread> threads;
  std::atomic<size_t> added{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) added += pool.Refill(2);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(pool.size(), added.load());
  EXPECT_LE(pool.size(), 300u);
  EXPECT_GT(pool.size(), 0u);
  while (!pool.full()) pool.Refill(16);
  EXPECT_EQ(pool.size(), 300u);
  EXPECT_EQ(pool.Refill(1), 0u);
}

TEST(EcdsaPresignTest, ConcurrentSignersNeverShareANonce) {
  P256 key;
  EcdsaPresignPool pool(4096);
  ASSERT_EQ(pool.Refill(4000), 4000u);
  const auto digest = Sha256("concurrent");
  std::vector<std::vector<std::string>> r_per_thread(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      unsigned char sig[64];
      for (int i = 0; i < 2000; ++i) {
        if (pool.Sign(key.ec.get(), digest.data(), sig)) {
          r_per_thread[t].push_back(Raw(sig).substr(0, 32));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  size_t total = 0;
  for (const auto& v : r_per_thread) {
    total += v.size();
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), total);  // no r twice
  EXPECT_EQ(total, pool.signatures());
  EXPECT_LE(total, 4000u);
  EXPECT_GT(total, 0u);
}

TEST(EcdsaPresignTest, OnlyP256PrivateKeysAreUsed) {
  EXPECT_EQ(EcdsaPresignPool::SigningKey(nullptr), nullptr);
  auto rsa = KeyPair::Generate("RS256").value();
  EXPECT_EQ(EcdsaPresignPool::SigningKey(rsa.native_handle()), nullptr);
  auto ed = KeyPair::Generate("EdDSA").value();
  EXPECT_EQ(EcdsaPresignPool::SigningKey(ed.native_handle()), nullptr);
}

TEST(EcdsaPresignTest, Es256TokensFromTheSharedPoolVerify) {
  // JwsSigner takes pairs from the process's pool when it has some and signs the ordinary
  // way otherwise; every token must verify either way.
  auto pair = KeyPair::Generate("ES256").value();
  const auto pub = PublicKey::FromKeyPair(pair).value();
  JwsSigner signer(std::move(pair), "kid-es");
  EXPECT_TRUE(EcdsaPresignPool::InUse());
  auto& shared = EcdsaPresignPool::Shared();
  for (int round = 0; round < 2; ++round) {
    // Round 0: whatever the pool holds (possibly nothing: the ordinary path); round 1: with
    // pairs in the pool (in the server, the I/O threads refill it when idle).
    if (round == 1) {
      ASSERT_EQ(shared.Refill(300), 300u);
    }
    const uint64_t before = shared.signatures();
    for (int i = 0; i < 300; ++i) {
      const std::string input = "eyJhbGciOiJFUzI1NiJ9.payload" + std::to_string(i);
      const std::string sig = signer.SignRaw(input);
      ASSERT_EQ(sig.size(), 64u);
      ASSERT_TRUE(VerifyJwsSignature(pub, input, sig));
    }
    if (round == 1) {
      EXPECT_EQ(shared.signatures() - before, 300u);
    }
  }
}

}  // namespace
}  // namespace agentidp::crypto
