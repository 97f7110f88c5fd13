#include "contract/backends.hpp"
#include "contract/fixtures.hpp"

#include <set>

namespace agentidp::contract {
namespace {

domain::SigningKey MakeKey(const std::string& kid, int64_t created_at) {
  domain::SigningKey key;
  key.kid = kid;
  key.alg = "ES256";
  key.public_jwk_json = R"({"kty":"EC","crv":"P-256","x":"x","y":"y","kid":")" + kid + R"("})";
  key.sealed_private_key = "sealed-" + kid;
  key.status = "staged";
  key.created_at = created_at;
  key.activates_at = created_at + 1000;
  return key;
}

AGENTIDP_CONTRACT_SUITE(KeyStoreContract);

TEST_P(KeyStoreContract, InsertListsInCreationOrder) {
  ASSERT_OK_AND_ASSIGN(auto empty, store().keys().List());
  EXPECT_TRUE(empty.empty());
  auto newer = MakeKey("k-newer", kT0 + 10);
  auto older = MakeKey("k-older", kT0);
  older.status = "retired";
  older.retired_at = kT0 + 5;
  older.publish_until = kT0 + 3'600'000;
  ASSERT_OK(store().keys().Insert(newer));
  ASSERT_OK(store().keys().Insert(older));
  ASSERT_OK_AND_ASSIGN(auto keys, store().keys().List());
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(Tie(keys[0]), Tie(older));
  EXPECT_EQ(Tie(keys[1]), Tie(newer));
}

TEST_P(KeyStoreContract, DuplicateKidIsConflict) {
  ASSERT_OK(store().keys().Insert(MakeKey("k-1", kT0)));
  auto again = store().keys().Insert(MakeKey("k-1", kT0 + 1));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, core::Errc::kConflict);
}

TEST_P(KeyStoreContract, UpdateChangesLifecycleFieldsOnly) {
  auto key = MakeKey("k-1", kT0);
  ASSERT_OK(store().keys().Insert(key));
  auto changed = key;
  changed.status = "retired";
  changed.activates_at = kT0 + 7;
  changed.retired_at = kT0 + 100;
  changed.publish_until = kT0 + 200;
  changed.public_jwk_json = "ignored";
  changed.sealed_private_key = "ignored";
  changed.alg = "RS256";
  ASSERT_OK(store().keys().Update(changed));
  ASSERT_OK_AND_ASSIGN(auto keys, store().keys().List());
  ASSERT_EQ(keys.size(), 1u);
  auto expected = key;
  expected.status = "retired";
  expected.activates_at = kT0 + 7;
  expected.retired_at = kT0 + 100;
  expected.publish_until = kT0 + 200;
  EXPECT_EQ(Tie(keys[0]), Tie(expected));

  auto cleared = expected;
  cleared.status = "active";
  cleared.retired_at = std::nullopt;
  cleared.publish_until = std::nullopt;
  ASSERT_OK(store().keys().Update(cleared));
  ASSERT_OK_AND_ASSIGN(keys, store().keys().List());
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(Tie(keys[0]), Tie(cleared));
}

TEST_P(KeyStoreContract, UpdateOfMissingKeyIsNotFound) {
  auto updated = store().keys().Update(MakeKey("ghost", kT0));
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.error().kind, core::Errc::kNotFound);
}

AGENTIDP_CONTRACT_SUITE(RevocationStoreContract);

TEST_P(RevocationStoreContract, RevokeIsIdempotentAndVisible) {
  ASSERT_OK_AND_ASSIGN(bool revoked, store().revocations().IsRevoked("jti-1"));
  EXPECT_FALSE(revoked);
  domain::RevokedToken token{.jti = "jti-1", .expires_at = kT0 + 3'600'000, .revoked_at = kT0};
  ASSERT_OK(store().revocations().Revoke(token));
  ASSERT_OK(store().revocations().Revoke(token));
  auto later = token;
  later.revoked_at = kT0 + 5;
  ASSERT_OK(store().revocations().Revoke(later));
  ASSERT_OK_AND_ASSIGN(revoked, store().revocations().IsRevoked("jti-1"));
  EXPECT_TRUE(revoked);
  ASSERT_OK_AND_ASSIGN(auto listed, store().revocations().ListUnexpired(kT0));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].jti, "jti-1");
  EXPECT_EQ(listed[0].expires_at, token.expires_at);
  EXPECT_EQ(listed[0].revoked_at, kT0);  // the first revocation counts
}

TEST_P(RevocationStoreContract, ListUnexpiredAndPurgeExpired) {
  const int64_t now = kT0 + 10'000;
  ASSERT_OK(store().revocations().Revoke({"expired", now - 1, kT0}));
  ASSERT_OK(store().revocations().Revoke({"at-now", now, kT0}));
  ASSERT_OK(store().revocations().Revoke({"live-1", now + 1, kT0}));
  ASSERT_OK(store().revocations().Revoke({"live-2", now + 60'000, kT0}));

  ASSERT_OK_AND_ASSIGN(auto listed, store().revocations().ListUnexpired(now));
  std::set<std::string> ids;
  for (const auto& t : listed) ids.insert(t.jti);
  EXPECT_EQ(ids, (std::set<std::string>{"live-1", "live-2"}));

  ASSERT_OK_AND_ASSIGN(int64_t purged, store().revocations().PurgeExpired(now));
  EXPECT_EQ(purged, 2);
  ASSERT_OK_AND_ASSIGN(bool expired_left, store().revocations().IsRevoked("expired"));
  EXPECT_FALSE(expired_left);
  ASSERT_OK_AND_ASSIGN(bool live_left, store().revocations().IsRevoked("live-1"));
  EXPECT_TRUE(live_left);
  ASSERT_OK_AND_ASSIGN(purged, store().revocations().PurgeExpired(now));
  EXPECT_EQ(purged, 0);
}

AGENTIDP_CONTRACT_SUITE(MetaStoreContract);

TEST_P(MetaStoreContract, GetPutAndPutIfAbsent) {
  ASSERT_OK_AND_ASSIGN(auto missing, store().meta().Get("instance_id"));
  EXPECT_FALSE(missing.has_value());

  ASSERT_OK_AND_ASSIGN(bool set, store().meta().PutIfAbsent("instance_id", "first"));
  EXPECT_TRUE(set);
  ASSERT_OK_AND_ASSIGN(set, store().meta().PutIfAbsent("instance_id", "second"));
  EXPECT_FALSE(set);
  ASSERT_OK_AND_ASSIGN(auto value, store().meta().Get("instance_id"));
  EXPECT_EQ(value, std::optional<std::string>("first"));

  ASSERT_OK(store().meta().Put("instance_id", "third"));
  ASSERT_OK_AND_ASSIGN(value, store().meta().Get("instance_id"));
  EXPECT_EQ(value, std::optional<std::string>("third"));

  ASSERT_OK(store().meta().Put("bootstrap_done", ""));
  ASSERT_OK_AND_ASSIGN(value, store().meta().Get("bootstrap_done"));
  EXPECT_EQ(value, std::optional<std::string>(""));
}

TEST_P(MetaStoreContract, PutIfAbsentHasOneWinnerAcrossHandles) {
  auto other = ConnectAnother();
  ASSERT_NE(other, nullptr);
  ASSERT_OK_AND_ASSIGN(bool here, store().meta().PutIfAbsent("bootstrap", "here"));
  ASSERT_OK_AND_ASSIGN(bool there, other->meta().PutIfAbsent("bootstrap", "there"));
  EXPECT_TRUE(here);
  EXPECT_FALSE(there);
  ASSERT_OK_AND_ASSIGN(auto value, other->meta().Get("bootstrap"));
  EXPECT_EQ(value, std::optional<std::string>("here"));
}

AGENTIDP_CONTRACT_SUITE(StoreLifecycleContract);

TEST_P(StoreLifecycleContract, MigrateAgainIsANoOpReturningTheSameVersion) {
  ASSERT_OK_AND_ASSIGN(int first, store().Migrate());
  EXPECT_GE(first, 1);
  ASSERT_OK_AND_ASSIGN(int second, store().Migrate());
  EXPECT_EQ(second, first);
  ASSERT_OK(store().meta().Put("k", "v"));  // the schema is intact and usable
}

TEST_P(StoreLifecycleContract, PingAndBackendName) {
  ASSERT_OK(store().Ping());
  EXPECT_FALSE(store().BackendName().empty());
}

TEST_P(StoreLifecycleContract, AnotherHandleSeesCommittedWrites) {
  auto other = ConnectAnother();
  ASSERT_NE(other, nullptr);
  ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-1", "one")));
  ASSERT_OK_AND_ASSIGN(auto seen, other->orgs().GetBySlug(TestScope(), "one"));
  EXPECT_TRUE(seen.has_value());
  ASSERT_OK(other->agents().Create(TestScope(), MakeAgent("a-1", "org-1", kT0)));
  ASSERT_OK_AND_ASSIGN(int64_t live, store().agents().CountLive(TestScope(), "org-1"));
  EXPECT_EQ(live, 1);
}

}  // namespace
}  // namespace agentidp::contract
