// FederationStore contract (trust policies and federation partners), run on every backend.

#include "contract/backends.hpp"
#include "contract/fixtures.hpp"

#include <algorithm>
#include <tuple>

namespace agentidp::contract {
namespace {

domain::TrustPolicy MakePolicy(const std::string& id, const std::string& org, int64_t created_at,
                               const std::string& provider = "github",
                               const std::string& issuer = "") {
  domain::TrustPolicy p;
  p.policy_id = id;
  p.organization_id = org;
  p.provider = provider;
  p.issuer = issuer;
  p.repository = provider == "oidc" ? "" : "acme/app";
  p.branch = "main";
  p.agent_id = "a-1";
  p.audience = "https://idp.example";
  p.conditions_json = R"({"actor":"octocat"})";
  p.created_by = "admin-1";
  p.created_at = created_at;
  return p;
}

auto TieP(const domain::TrustPolicy& p) {
  return std::tie(p.policy_id, p.organization_id, p.provider, p.issuer, p.repository, p.branch,
                  p.agent_id, p.audience, p.conditions_json, p.created_by, p.created_at);
}

auto TieF(const domain::FederationPartner& p) {
  return std::tie(p.partner_id, p.name, p.issuer, p.jwks_uri, p.allowed_organizations, p.status,
                  p.expires_at, p.created_at, p.updated_at);
}

std::vector<std::string> Ids(const std::vector<domain::TrustPolicy>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(p.policy_id);
  return out;
}

AGENTIDP_CONTRACT_SUITE(FederationStoreContract);

TEST_P(FederationStoreContract, TrustPolicyRoundTripsAndDuplicateIdIsConflict) {
  auto p = MakePolicy("p-1", "org-1", kT0);
  auto bootstrap = MakePolicy("p-2", "org-1", kT0 + 1);
  bootstrap.agent_id.clear();
  bootstrap.branch.clear();
  bootstrap.conditions_json = "{}";
  ASSERT_OK(store().federation().CreateTrustPolicy(TestScope(), p));
  ASSERT_OK(store().federation().CreateTrustPolicy(TestScope(), bootstrap));
  ASSERT_OK_AND_ASSIGN(auto got, store().federation().GetTrustPolicy(TestScope(), "p-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(TieP(*got), TieP(p));
  ASSERT_OK_AND_ASSIGN(auto got2, store().federation().GetTrustPolicy(TestScope(), "p-2"));
  ASSERT_TRUE(got2.has_value());
  EXPECT_EQ(TieP(*got2), TieP(bootstrap));
  ASSERT_OK_AND_ASSIGN(auto missing, store().federation().GetTrustPolicy(TestScope(), "nope"));
  EXPECT_FALSE(missing.has_value());
  auto again = store().federation().CreateTrustPolicy(TestScope(), MakePolicy("p-1", "org-2", kT0));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, core::Errc::kConflict);
}

TEST_P(FederationStoreContract, ListsAreConfinedToTheOrganizationOrIssuerAndOldestFirst) {
  ASSERT_OK(
      store().federation().CreateTrustPolicy(TestScope(), MakePolicy("p-new", "org-1", kT0 + 2)));
  ASSERT_OK(store().federation().CreateTrustPolicy(TestScope(), MakePolicy("p-old", "org-1", kT0)));
  ASSERT_OK(
      store().federation().CreateTrustPolicy(TestScope(), MakePolicy("p-other", "org-2", kT0 + 1)));
  ASSERT_OK(store().federation().CreateTrustPolicy(
      TestScope(), MakePolicy("p-k8s", "org-2", kT0 + 3, "kubernetes", "https://k8s.example")));
  ASSERT_OK(store().federation().CreateTrustPolicy(
      TestScope(), MakePolicy("p-k8s-b", "org-1", kT0 + 4, "kubernetes", "https://k8s-b.example")));

  ASSERT_OK_AND_ASSIGN(auto org1, store().federation().ListTrustPolicies(TestScope(), "org-1"));
  EXPECT_EQ(Ids(org1), (std::vector<std::string>{"p-old", "p-new", "p-k8s-b"}));
  ASSERT_OK_AND_ASSIGN(auto none, store().federation().ListTrustPolicies(TestScope(), "org-3"));
  EXPECT_TRUE(none.empty());

  ASSERT_OK_AND_ASSIGN(auto gh,
                       store().federation().ListTrustPoliciesByIssuer(TestScope(), "github", ""));
  EXPECT_EQ(Ids(gh), (std::vector<std::string>{"p-old", "p-other", "p-new"}));
  ASSERT_OK_AND_ASSIGN(auto k8s, store().federation().ListTrustPoliciesByIssuer(
                                     TestScope(), "kubernetes", "https://k8s.example"));
  EXPECT_EQ(Ids(k8s), (std::vector<std::string>{"p-k8s"}));
  // Exact issuer match: a prefix or another provider finds nothing.
  ASSERT_OK_AND_ASSIGN(auto prefix, store().federation().ListTrustPoliciesByIssuer(
                                        TestScope(), "kubernetes", "https://k8s.exampl"));
  EXPECT_TRUE(prefix.empty());
  ASSERT_OK_AND_ASSIGN(auto other, store().federation().ListTrustPoliciesByIssuer(
                                       TestScope(), "oidc", "https://k8s.example"));
  EXPECT_TRUE(other.empty());
}

TEST_P(FederationStoreContract, DeleteTrustPolicyReportsWhetherItExisted) {
  ASSERT_OK(store().federation().CreateTrustPolicy(TestScope(), MakePolicy("p-1", "org-1", kT0)));
  ASSERT_OK_AND_ASSIGN(bool first, store().federation().DeleteTrustPolicy(TestScope(), "p-1"));
  EXPECT_TRUE(first);
  ASSERT_OK_AND_ASSIGN(bool second, store().federation().DeleteTrustPolicy(TestScope(), "p-1"));
  EXPECT_FALSE(second);
  ASSERT_OK_AND_ASSIGN(auto got, store().federation().GetTrustPolicy(TestScope(), "p-1"));
  EXPECT_FALSE(got.has_value());
}

TEST_P(FederationStoreContract, PartnerRoundTripsByIdAndIssuer) {
  auto p = MakePartner("f-1", "https://partner.example", kT0);
  auto q = MakePartner("f-2", "https://other.example", kT0 + 1);
  q.allowed_organizations.clear();
  q.expires_at = kT0 + 86'400'000;
  q.status = "inactive";
  ASSERT_OK(store().federation().CreatePartner(p));
  ASSERT_OK(store().federation().CreatePartner(q));
  ASSERT_OK_AND_ASSIGN(auto got, store().federation().GetPartner("f-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(TieF(*got), TieF(p));
  ASSERT_OK_AND_ASSIGN(auto by_issuer,
                       store().federation().GetPartnerByIssuer("https://other.example"));
  ASSERT_TRUE(by_issuer.has_value());
  EXPECT_EQ(TieF(*by_issuer), TieF(q));
  ASSERT_OK_AND_ASSIGN(auto none,
                       store().federation().GetPartnerByIssuer("https://partner.example/"));
  EXPECT_FALSE(none.has_value());
  ASSERT_OK_AND_ASSIGN(auto list, store().federation().ListPartners());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].partner_id, "f-1");
  EXPECT_EQ(list[1].partner_id, "f-2");
}

TEST_P(FederationStoreContract, PartnerIssuerAndIdAreUnique) {
  ASSERT_OK(store().federation().CreatePartner(MakePartner("f-1", "https://partner.example", kT0)));
  auto same_issuer =
      store().federation().CreatePartner(MakePartner("f-2", "https://partner.example", kT0));
  ASSERT_FALSE(same_issuer.ok());
  EXPECT_EQ(same_issuer.error().kind, core::Errc::kConflict);
  auto same_id = store().federation().CreatePartner(MakePartner("f-1", "https://x.example", kT0));
  ASSERT_FALSE(same_id.ok());
  EXPECT_EQ(same_id.error().kind, core::Errc::kConflict);
  ASSERT_OK(store().federation().CreatePartner(MakePartner("f-3", "https://three.example", kT0)));
  auto clash = MakePartner("f-3", "https://partner.example", kT0);
  auto updated = store().federation().UpdatePartner(clash);
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.error().kind, core::Errc::kConflict);
}

TEST_P(FederationStoreContract, UpdateAndDeletePartner) {
  auto p = MakePartner("f-1", "https://partner.example", kT0);
  ASSERT_OK(store().federation().CreatePartner(p));
  p.name = "Renamed";
  p.issuer = "https://renamed.example";
  p.jwks_uri = "https://renamed.example/keys";
  p.allowed_organizations = {"org-9"};
  p.status = "inactive";
  p.expires_at = kT0 + 5;
  p.updated_at = kT0 + 10;
  ASSERT_OK(store().federation().UpdatePartner(p));
  ASSERT_OK_AND_ASSIGN(auto got, store().federation().GetPartner("f-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(TieF(*got), TieF(p));
  p.expires_at.reset();
  ASSERT_OK(store().federation().UpdatePartner(p));
  ASSERT_OK_AND_ASSIGN(auto cleared, store().federation().GetPartner("f-1"));
  EXPECT_FALSE(cleared->expires_at.has_value());

  auto ghost = MakePartner("f-x", "https://ghost.example", kT0);
  auto missing = store().federation().UpdatePartner(ghost);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, core::Errc::kNotFound);

  ASSERT_OK_AND_ASSIGN(bool deleted, store().federation().DeletePartner("f-1"));
  EXPECT_TRUE(deleted);
  ASSERT_OK_AND_ASSIGN(bool again, store().federation().DeletePartner("f-1"));
  EXPECT_FALSE(again);
  ASSERT_OK_AND_ASSIGN(auto gone,
                       store().federation().GetPartnerByIssuer("https://renamed.example"));
  EXPECT_FALSE(gone.has_value());
}

TEST_P(FederationStoreContract, AnotherHandleSeesTheSameRows) {
  ASSERT_OK(store().federation().CreateTrustPolicy(TestScope(), MakePolicy("p-1", "org-1", kT0)));
  ASSERT_OK(store().federation().CreatePartner(MakePartner("f-1", "https://partner.example", kT0)));
  auto other = ConnectAnother();
  ASSERT_NE(other, nullptr);
  ASSERT_OK_AND_ASSIGN(auto p, other->federation().GetTrustPolicy(TestScope(), "p-1"));
  EXPECT_TRUE(p.has_value());
  ASSERT_OK_AND_ASSIGN(auto f, other->federation().GetPartnerByIssuer("https://partner.example"));
  EXPECT_TRUE(f.has_value());
}

}  // namespace
}  // namespace agentidp::contract
