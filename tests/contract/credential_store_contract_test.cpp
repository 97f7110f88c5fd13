#include "contract/backends.hpp"
#include "contract/fixtures.hpp"

#include <algorithm>
#include <set>

namespace agentidp::contract {
namespace {

class CredentialStoreContract : public StoreContract {
 protected:
  void SetUp() override {
    StoreContract::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-1", "one")));
    ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("a-1", "org-1", kT0)));
    ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("a-2", "org-1", kT0)));
  }

  static std::set<std::string> IdSet(const std::vector<domain::Credential>& credentials) {
    std::set<std::string> ids;
    for (const auto& c : credentials) ids.insert(c.credential_id);
    return ids;
  }
};
INSTANTIATE_TEST_SUITE_P(Backends, CredentialStoreContract, ::testing::ValuesIn(AllBackends()),
                         BackendName);

TEST_P(CredentialStoreContract, CreateGetRoundTripsWithAndWithoutOptionalTimes) {
  auto plain = MakeCredential("c-1", "a-1", kT0);
  auto full = MakeCredential("c-2", "a-1", kT0 + 1);
  full.type = "private_key_jwt";
  full.expires_at = kT0 + 3'600'000;
  full.revoked_at = kT0 + 10;
  full.status = "revoked";
  full.secret_hash.clear();
  full.jwks_json = R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"AA","kid":"k","alg":"EdDSA"}]})";
  ASSERT_OK(store().credentials().Create(TestScope(), plain));
  ASSERT_OK(store().credentials().Create(TestScope(), full));

  ASSERT_OK_AND_ASSIGN(auto got_plain, store().credentials().Get(TestScope(), "c-1"));
  ASSERT_TRUE(got_plain.has_value());
  EXPECT_EQ(Tie(*got_plain), Tie(plain));
  ASSERT_OK_AND_ASSIGN(auto got_full, store().credentials().Get(TestScope(), "c-2"));
  ASSERT_TRUE(got_full.has_value());
  EXPECT_EQ(Tie(*got_full), Tie(full));

  ASSERT_OK_AND_ASSIGN(auto missing, store().credentials().Get(TestScope(), "nope"));
  EXPECT_FALSE(missing.has_value());
}

TEST_P(CredentialStoreContract, UpdateReplacesTheKeySetOfAKeyCredential) {
  auto c = MakeCredential("c-k", "a-1", kT0);
  c.type = "private_key_jwt";
  c.secret_hash.clear();
  c.jwks_uri = "https://client.example/jwks";
  ASSERT_OK(store().credentials().Create(TestScope(), c));
  c.jwks_uri.clear();
  c.jwks_json = R"({"keys":[]})";
  ASSERT_OK(store().credentials().Update(TestScope(), c));
  ASSERT_OK_AND_ASSIGN(auto got, store().credentials().Get(TestScope(), "c-k"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(Tie(*got), Tie(c));
  ASSERT_OK_AND_ASSIGN(auto active,
                       store().credentials().ListActiveByAgent(TestScope(), "a-1", kT0));
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].jwks_json, c.jwks_json);
}

TEST_P(CredentialStoreContract, DuplicateIdIsConflict) {
  ASSERT_OK(store().credentials().Create(TestScope(), MakeCredential("c-1", "a-1", kT0)));
  auto again = store().credentials().Create(TestScope(), MakeCredential("c-1", "a-2", kT0));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, core::Errc::kConflict);
}

TEST_P(CredentialStoreContract, ListByAgentIsNewestFirstAndScopedToTheAgent) {
  ASSERT_OK(store().credentials().Create(TestScope(), MakeCredential("c-old", "a-1", kT0)));
  ASSERT_OK(store().credentials().Create(TestScope(), MakeCredential("c-new", "a-1", kT0 + 2)));
  ASSERT_OK(store().credentials().Create(TestScope(), MakeCredential("c-mid", "a-1", kT0 + 1)));
  ASSERT_OK(store().credentials().Create(TestScope(), MakeCredential("c-other", "a-2", kT0 + 5)));
  ASSERT_OK_AND_ASSIGN(auto listed, store().credentials().ListByAgent(TestScope(), "a-1"));
  std::vector<std::string> ids;
  for (const auto& c : listed) ids.push_back(c.credential_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"c-new", "c-mid", "c-old"}));
  ASSERT_OK_AND_ASSIGN(auto none, store().credentials().ListByAgent(TestScope(), "nobody"));
  EXPECT_TRUE(none.empty());
}

TEST_P(CredentialStoreContract, ListActiveExcludesRevokedAndExpired) {
  const int64_t now = kT0 + 10'000;
  auto no_expiry = MakeCredential("c-forever", "a-1", kT0);
  auto future = MakeCredential("c-future", "a-1", kT0);
  future.expires_at = now + 1;
  auto expired = MakeCredential("c-expired", "a-1", kT0);
  expired.expires_at = now - 1;
  auto expiring_now = MakeCredential("c-edge", "a-1", kT0);
  expiring_now.expires_at = now;  // not active at its expiry instant
  auto revoked = MakeCredential("c-revoked", "a-1", kT0);
  revoked.status = "revoked";
  revoked.revoked_at = kT0 + 1;
  auto other_agent = MakeCredential("c-other", "a-2", kT0);
  for (const auto& c : {no_expiry, future, expired, expiring_now, revoked, other_agent}) {
    ASSERT_OK(store().credentials().Create(TestScope(), c));
  }
  ASSERT_OK_AND_ASSIGN(auto active,
                       store().credentials().ListActiveByAgent(TestScope(), "a-1", now));
  EXPECT_EQ(IdSet(active), (std::set<std::string>{"c-forever", "c-future"}));
}

TEST_P(CredentialStoreContract, UpdateReplacesStatusHashAndTimes) {
  auto credential = MakeCredential("c-1", "a-1", kT0);
  credential.expires_at = kT0 + 100;
  ASSERT_OK(store().credentials().Create(TestScope(), credential));

  auto rotated = credential;
  rotated.secret_hash = "new-hash";
  rotated.expires_at = std::nullopt;
  ASSERT_OK(store().credentials().Update(TestScope(), rotated));
  ASSERT_OK_AND_ASSIGN(auto got, store().credentials().Get(TestScope(), "c-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(Tie(*got), Tie(rotated));

  auto revoked = rotated;
  revoked.status = "revoked";
  revoked.revoked_at = kT0 + 50;
  ASSERT_OK(store().credentials().Update(TestScope(), revoked));
  ASSERT_OK_AND_ASSIGN(got, store().credentials().Get(TestScope(), "c-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(Tie(*got), Tie(revoked));
}

TEST_P(CredentialStoreContract, UpdateOfMissingCredentialIsNotFound) {
  auto updated = store().credentials().Update(TestScope(), MakeCredential("ghost", "a-1", kT0));
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.error().kind, core::Errc::kNotFound);
}

TEST_P(CredentialStoreContract, RevokeAllForAgentRevokesOnlyItsActiveCredentials) {
  auto already = MakeCredential("c-already", "a-1", kT0);
  already.status = "revoked";
  already.revoked_at = kT0 + 1;
  for (const auto& c : {MakeCredential("c-1", "a-1", kT0), MakeCredential("c-2", "a-1", kT0),
                        already, MakeCredential("c-other", "a-2", kT0)}) {
    ASSERT_OK(store().credentials().Create(TestScope(), c));
  }
  const int64_t now = kT0 + 500;
  ASSERT_OK_AND_ASSIGN(int revoked,
                       store().credentials().RevokeAllForAgent(TestScope(), "a-1", now));
  EXPECT_EQ(revoked, 2);

  ASSERT_OK_AND_ASSIGN(auto listed, store().credentials().ListByAgent(TestScope(), "a-1"));
  for (const auto& c : listed) {
    EXPECT_EQ(c.status, "revoked") << c.credential_id;
    EXPECT_EQ(c.revoked_at, c.credential_id == "c-already" ? kT0 + 1 : now) << c.credential_id;
  }
  ASSERT_OK_AND_ASSIGN(auto active,
                       store().credentials().ListActiveByAgent(TestScope(), "a-1", now));
  EXPECT_TRUE(active.empty());
  ASSERT_OK_AND_ASSIGN(auto other,
                       store().credentials().ListActiveByAgent(TestScope(), "a-2", now));
  EXPECT_EQ(other.size(), 1u);

  ASSERT_OK_AND_ASSIGN(revoked,
                       store().credentials().RevokeAllForAgent(TestScope(), "a-1", now + 1));
  EXPECT_EQ(revoked, 0);
}

}  // namespace
}  // namespace agentidp::contract
