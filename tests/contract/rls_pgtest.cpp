// Row-level security on PostgreSQL, proved with raw SQL that bypasses the store's own query
// filters: a session of the application role (neither superuser nor BYPASSRLS) sets the
// scope by hand, as the store does, and tries to read and write other tenants' rows. Then
// the same through the store: a call whose scope does not cover a row finds nothing or is
// refused, and a pooled connection carries no scope from one call into the next.
//
// Registered only when AGENTIDP_TEST_PG_URL names a server (scripts/with-services.sh).

#include "contract/fixtures.hpp"
#include "contract/pg_support.hpp"
#include "store/postgres/postgres_store.hpp"

namespace agentidp::contract {
namespace {

using domain::TenantScope;
using store::postgres::PostgresOptions;
using store::postgres::PostgresStore;

constexpr const char* kOrgA = "org-a";
constexpr const char* kOrgB = "org-b";

// Every table that holds tenant data, with one seeded row per organization.
const std::vector<std::string> kTenantTables = {"organizations", "agents",      "credentials",
                                                "agent_keys",    "delegations", "trust_policies",
                                                "audit_events"};

std::vector<std::string> PgUrls() {
  auto url = PgTestUrl();
  if (!url) return {};
  return {*url};
}

domain::Delegation MakeDelegationIn(const std::string& chain_id, const std::string& org,
                                    const std::string& agent_id) {
  domain::Delegation d;
  d.chain_id = chain_id;
  d.organization_id = org;
  d.delegator_agent_id = agent_id;
  d.delegatee_agent_id = agent_id;
  d.scopes = "agents:read";
  d.depth = 1;
  d.token_jti = "jti-" + chain_id;
  d.created_at = kT0;
  d.expires_at = kT0 + 3600'000;
  return d;
}

domain::TrustPolicy MakePolicyIn(const std::string& id, const std::string& org) {
  domain::TrustPolicy p;
  p.policy_id = id;
  p.organization_id = org;
  p.provider = "github";
  p.repository = "acme/app";
  p.conditions_json = "{}";
  p.created_by = "admin";
  p.created_at = kT0;
  return p;
}

domain::AgentKey MakeKeyFor(const std::string& kid, const std::string& agent_id) {
  domain::AgentKey key;
  key.kid = kid;
  key.agent_id = agent_id;
  key.alg = "EdDSA";
  key.public_jwk_json = "{}";
  key.sealed_private_key = "sealed";
  key.status = "active";
  key.created_at = kT0;
  return key;
}

class RowLevelSecurityTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    schema_ = std::make_unique<AppRoleSchema>(GetParam());
    store_ = Open(PostgresOptions{});
    ASSERT_NE(store_, nullptr);
    // One row per organization in every tenant table, written through the store in each
    // organization's own scope (which is itself a check: the policies admit them).
    for (const char* org : {kOrgA, kOrgB}) {
      const auto scope = TenantScope::Org(org);
      const std::string suffix = org == std::string(kOrgA) ? "a" : "b";
      ASSERT_OK(store_->orgs().Create(scope, MakeOrg(org, "slug-" + suffix)));
      ASSERT_OK(store_->agents().Create(scope, MakeAgent("agent-" + suffix, org, kT0)));
      ASSERT_OK(store_->credentials().Create(
          scope, MakeCredential("cred-" + suffix, "agent-" + suffix, kT0)));
      ASSERT_OK(store_->agent_keys().Insert(scope, MakeKeyFor("kid-" + suffix, "agent-" + suffix)));
      ASSERT_OK(store_->delegations().Create(
          scope, MakeDelegationIn("chain-" + suffix, org, "agent-" + suffix)));
      ASSERT_OK(store_->federation().CreateTrustPolicy(scope, MakePolicyIn("tp-" + suffix, org)));
    }
    std::vector<domain::AuditEvent> events = {
        MakeEvent("ev-a", kT0, "token.issued", "agent-a", kOrgA),
        MakeEvent("ev-b", kT0 + 1, "token.issued", "agent-b", kOrgB)};
    ASSERT_OK(store_->audit().AppendBatch(events, kTestHasher));
    raw_ = std::make_unique<RawPg>(schema_->url());
    admin_ = std::make_unique<RawPg>(schema_->admin_url());
  }
  void TearDown() override {
    raw_.reset();
    admin_.reset();
    store_.reset();
    schema_.reset();
  }

  std::unique_ptr<PostgresStore> Open(const PostgresOptions& options) {
    auto store = PostgresStore::Open(schema_->url(), options);
    if (!store.ok()) {
      ADD_FAILURE() << store.error().message;
      return nullptr;
    }
    auto version = (*store)->Migrate();
    if (!version.ok()) {
      ADD_FAILURE() << version.error().message << " / " << (*store)->LastErrorDetail();
      return nullptr;
    }
    return std::move(store).value();
  }

  // Opens a transaction on the raw session with the scope set as the store sets it
  // (transaction-local). Empty arguments: no scope at all.
  void Begin(const std::string& organizations, bool system = false) {
    ASSERT_TRUE(raw_->Exec("BEGIN").ok);
    if (!organizations.empty()) {
      ASSERT_TRUE(
          raw_->Exec("SELECT set_config('agentidp.organization_id', '" + organizations + "', true)")
              .ok);
    }
    if (system) {
      ASSERT_TRUE(raw_->Exec("SELECT set_config('agentidp.system', 'on', true)").ok);
    }
  }
  void End() { ASSERT_TRUE(raw_->Exec("ROLLBACK").ok); }

  std::string Count(const std::string& table, const std::string& where = "") {
    return raw_->Value("SELECT count(*) FROM " + table + (where.empty() ? "" : " WHERE " + where));
  }
  // As the superuser, whom row-level security does not apply to: what is really there.
  std::string TrueCount(const std::string& table, const std::string& where = "") {
    return admin_->Value("SELECT count(*) FROM " + table +
                         (where.empty() ? "" : " WHERE " + where));
  }
  // A write that must fail on the policies' WITH CHECK (SQLSTATE 42501).
  void ExpectRefusedByPolicy(const std::string& sql) {
    auto outcome = raw_->Exec(sql);
    EXPECT_FALSE(outcome.ok) << "accepted: " << sql;
    EXPECT_EQ(outcome.sqlstate, "42501") << sql << ": " << outcome.message;
  }
  // A write that must find no row it may touch ("UPDATE 0" / "DELETE 0").
  void ExpectNoRowTouched(const std::string& sql) {
    auto outcome = raw_->Exec(sql + " RETURNING 1");
    EXPECT_TRUE(outcome.ok) << sql << ": " << outcome.message;
    EXPECT_EQ(outcome.value, "<none>") << sql;
  }

  std::unique_ptr<AppRoleSchema> schema_;
  std::unique_ptr<PostgresStore> store_;
  std::unique_ptr<RawPg> raw_;    // the application role
  std::unique_ptr<RawPg> admin_;  // the superuser
};

TEST_P(RowLevelSecurityTest, TheApplicationRoleIsSubjectToRowLevelSecurity) {
  EXPECT_EQ(raw_->Value("SELECT rolsuper OR rolbypassrls FROM pg_roles "
                        "WHERE rolname = current_user"),
            "f");
  // ENABLE and FORCE on every tenant table (FORCE: the owner, which this role is, too).
  for (const auto& table : kTenantTables) {
    EXPECT_EQ(raw_->Value("SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid "
                          "= '" +
                          table + "'::regclass"),
              "t")
        << table;
    EXPECT_EQ(TrueCount(table), "2") << table;
  }
}

TEST_P(RowLevelSecurityTest, WithoutScopeNothingIsVisible) {
  for (const auto& table : kTenantTables) EXPECT_EQ(Count(table), "0") << table;
  Begin("");
  for (const auto& table : kTenantTables) EXPECT_EQ(Count(table), "0") << table;
  End();
  // An empty list is no scope either.
  ASSERT_TRUE(raw_->Exec("BEGIN").ok);
  ASSERT_TRUE(raw_->Exec("SELECT set_config('agentidp.organization_id', '', true)").ok);
  EXPECT_EQ(Count("agents"), "0");
  End();
}

TEST_P(RowLevelSecurityTest, WithoutScopeWritesFail) {
  ExpectRefusedByPolicy(
      "INSERT INTO organizations VALUES ('org-c', 'C', 'slug-c', 'free', 10, 'active', 1, 1)");
  ExpectRefusedByPolicy(
      "INSERT INTO agents (agent_id, organization_id, email, agent_type, version, capabilities, "
      "owner, deployment_env, status, role, is_public, created_at, updated_at) VALUES ('agent-x', "
      "'org-a', 'x@example.com', 'custom', '1.0.0', '[]', 'o', 'production', 'active', 'member', "
      "false, 1, 1)");
  ExpectRefusedByPolicy(
      "INSERT INTO credentials (credential_id, agent_id, type, status, secret_hash, created_at) "
      "VALUES ('cred-x', 'agent-a', 'client_secret', 'active', 'h', 1)");
  ExpectNoRowTouched("UPDATE agents SET owner = 'mallory'");
  ExpectNoRowTouched("UPDATE credentials SET secret_hash = 'mine'");
  ExpectNoRowTouched("DELETE FROM trust_policies");
  ExpectNoRowTouched("DELETE FROM agent_keys");
  EXPECT_EQ(TrueCount("agents", "owner = 'mallory'"), "0");
  EXPECT_EQ(TrueCount("trust_policies"), "2");
}

TEST_P(RowLevelSecurityTest, ATenantScopeSeesOnlyItsOwnRows) {
  Begin(kOrgA);
  for (const auto& table : kTenantTables) EXPECT_EQ(Count(table), "1") << table;
  EXPECT_EQ(Count("agents", "organization_id = 'org-b'"), "0");
  EXPECT_EQ(Count("credentials", "agent_id = 'agent-b'"), "0");
  EXPECT_EQ(Count("agent_keys", "agent_id = 'agent-b'"), "0");
  EXPECT_EQ(Count("audit_events", "organization_id = 'org-b'"), "0");
  EXPECT_EQ(raw_->Value("SELECT agent_id FROM agents"), "agent-a");
  EXPECT_EQ(raw_->Value("SELECT credential_id FROM credentials"), "cred-a");
  End();
  // The scope was transaction-local: gone after the transaction, in the same session.
  EXPECT_EQ(Count("agents"), "0");
}

TEST_P(RowLevelSecurityTest, ATenantScopeCannotWriteAnotherTenantsRows) {
  Begin(kOrgA);
  ExpectRefusedByPolicy(
      "INSERT INTO agents (agent_id, organization_id, email, agent_type, version, capabilities, "
      "owner, deployment_env, status, role, is_public, created_at, updated_at) VALUES ('agent-x', "
      "'org-b', 'x@example.com', 'custom', '1.0.0', '[]', 'o', 'production', 'active', 'member', "
      "false, 1, 1)");
  End();
  Begin(kOrgA);
  ExpectRefusedByPolicy(
      "INSERT INTO credentials (credential_id, agent_id, type, status, secret_hash, created_at) "
      "VALUES ('cred-x', 'agent-b', 'client_secret', 'active', 'h', 1)");
  End();
  Begin(kOrgA);
  ExpectRefusedByPolicy(
      "INSERT INTO trust_policies VALUES ('tp-x', 'org-b', 'github', '', 'a/b', '', '', '', '{}', "
      "'x', 1)");
  End();
  Begin(kOrgA);
  // Moving its own agent into another organization fails the WITH CHECK.
  ExpectRefusedByPolicy("UPDATE agents SET organization_id = 'org-b' WHERE agent_id = 'agent-a'");
  End();
  Begin(kOrgA);
  ExpectRefusedByPolicy("UPDATE organizations SET organization_id = 'org-z'");
  End();
  Begin(kOrgA);
  ExpectNoRowTouched("UPDATE agents SET owner = 'mallory' WHERE agent_id = 'agent-b'");
  ExpectNoRowTouched("UPDATE credentials SET secret_hash = 'mine' WHERE agent_id = 'agent-b'");
  ExpectNoRowTouched(
      "UPDATE organizations SET plan_tier = 'enterprise' WHERE "
      "organization_id = 'org-b'");
  ExpectNoRowTouched("UPDATE delegations SET revoked_at = 1 WHERE chain_id = 'chain-b'");
  ExpectNoRowTouched("DELETE FROM trust_policies WHERE organization_id = 'org-b'");
  // Its own rows it may change.
  EXPECT_EQ(raw_->Exec("UPDATE agents SET owner = 'team-a2' RETURNING agent_id").value, "agent-a");
  ASSERT_TRUE(raw_->Exec("COMMIT").ok);
  EXPECT_EQ(TrueCount("agents", "owner = 'mallory'"), "0");
  EXPECT_EQ(TrueCount("credentials", "secret_hash = 'mine'"), "0");
  EXPECT_EQ(TrueCount("organizations", "plan_tier = 'enterprise'"), "0");
  EXPECT_EQ(TrueCount("delegations", "revoked_at IS NOT NULL"), "0");
  EXPECT_EQ(TrueCount("trust_policies"), "2");
  EXPECT_EQ(TrueCount("agents", "owner = 'team-a2'"), "1");
  // Tenants never append to the audit log; only the system scope does.
  Begin(kOrgA);
  ExpectRefusedByPolicy(
      "INSERT INTO audit_events (event_id, agent_id, organization_id, action, outcome, "
      "timestamp, ip_address, user_agent, metadata, hash, previous_hash) SELECT 'ev-x', "
      "'agent-a', 'org-a', 'token.issued', 'success', 1, '', '', '{}', 'h', hash FROM "
      "audit_head");
  End();
}

TEST_P(RowLevelSecurityTest, AScopeOfTwoOrganizationsMovesAnAgentBetweenThem) {
  Begin(std::string(kOrgA) + "," + kOrgB);
  EXPECT_EQ(Count("agents"), "2");
  EXPECT_EQ(raw_->Exec("UPDATE agents SET organization_id = 'org-b' WHERE agent_id = 'agent-a' "
                       "RETURNING organization_id")
                .value,
            "org-b");
  End();
}

TEST_P(RowLevelSecurityTest, TheSystemScopeReadsEverythingButWritesOnlyTheAuditChain) {
  Begin("", /*system=*/true);
  for (const auto& table : kTenantTables) EXPECT_EQ(Count(table), "2") << table;
  End();
  Begin("", true);
  ExpectRefusedByPolicy(
      "INSERT INTO organizations VALUES ('org-c', 'C', 'slug-c', 'free', 10, 'active', 1, 1)");
  End();
  Begin("", true);
  ExpectRefusedByPolicy(
      "INSERT INTO credentials (credential_id, agent_id, type, status, secret_hash, created_at) "
      "VALUES ('cred-x', 'agent-a', 'client_secret', 'active', 'h', 1)");
  End();
  Begin("", true);
  ExpectNoRowTouched("UPDATE agents SET status = 'suspended'");
  ExpectNoRowTouched("UPDATE credentials SET status = 'revoked'");
  ExpectNoRowTouched("UPDATE organizations SET max_agents = 1000000");
  ExpectNoRowTouched("DELETE FROM delegations");
  // The audit chain: appending is what the system scope is for.
  auto appended = raw_->Exec(
      "INSERT INTO audit_events (event_id, agent_id, organization_id, action, outcome, "
      "timestamp, ip_address, user_agent, metadata, hash, previous_hash) SELECT 'ev-x', "
      "'agent-a', 'org-a', 'token.issued', 'success', 1, '', '', '{}', 'h', hash FROM "
      "audit_head RETURNING event_id");
  EXPECT_TRUE(appended.ok) << appended.message;
  EXPECT_EQ(appended.value, "ev-x");
  End();
}

TEST_P(RowLevelSecurityTest, TheStoreConfinesEveryCallToItsScope) {
  // Reads: the other tenant's rows do not exist for this scope, whatever the query asks.
  auto foreign = store_->agents().Get(TenantScope::Org(kOrgA), "agent-b");
  ASSERT_OK(foreign);
  EXPECT_FALSE(foreign->has_value());
  auto listed = store_->agents().List(TenantScope::Org(kOrgA), {}, domain::Page{1, 100});
  ASSERT_OK(listed);
  ASSERT_EQ(listed->total, 1);
  EXPECT_EQ(listed->data[0].agent_id, "agent-a");
  auto credentials = store_->credentials().ListByAgent(TenantScope::Org(kOrgA), "agent-b");
  ASSERT_OK(credentials);
  EXPECT_TRUE(credentials->empty());
  auto events = store_->audit().List(TenantScope::Org(kOrgB), {}, domain::Page{1, 100});
  ASSERT_OK(events);
  ASSERT_EQ(events->total, 1);
  EXPECT_EQ(events->data[0].event_id, "ev-b");
  auto policies =
      store_->federation().ListTrustPoliciesByIssuer(TenantScope::Org(kOrgA), "github", "");
  ASSERT_OK(policies);
  ASSERT_EQ(policies->size(), 1u);
  EXPECT_EQ((*policies)[0].policy_id, "tp-a");

  // Writes into another tenant: refused (insert) or nothing found (update).
  auto inserted =
      store_->agents().Create(TenantScope::Org(kOrgA), MakeAgent("agent-x", kOrgB, kT0));
  ASSERT_FALSE(inserted.ok());
  EXPECT_EQ(inserted.error().kind, core::Errc::kForbidden);
  auto agent_b = MakeAgent("agent-b", kOrgB, kT0);
  agent_b.owner = "mallory";
  auto updated = store_->agents().Update(TenantScope::Org(kOrgA), agent_b);
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.error().kind, core::Errc::kNotFound);
  auto revoked = store_->credentials().RevokeAllForAgent(TenantScope::Org(kOrgA), "agent-b", kT0);
  ASSERT_OK(revoked);
  EXPECT_EQ(*revoked, 0);
  auto deleted = store_->orgs().MarkDeletedIfEmpty(TenantScope::Org(kOrgA), kOrgB, kT0);
  ASSERT_FALSE(deleted.ok());
  EXPECT_EQ(deleted.error().kind, core::Errc::kNotFound);

  // The system scope reads across tenants and writes none of them.
  auto any = store_->agents().Get(TenantScope::System(), "agent-b");
  ASSERT_OK(any);
  EXPECT_TRUE(any->has_value());
  auto by_system = store_->agents().Update(TenantScope::System(), agent_b);
  ASSERT_FALSE(by_system.ok());
  EXPECT_EQ(by_system.error().kind, core::Errc::kNotFound);
  auto org_by_system = store_->orgs().Create(TenantScope::System(), MakeOrg("org-c", "slug-c"));
  ASSERT_FALSE(org_by_system.ok());
  EXPECT_EQ(org_by_system.error().kind, core::Errc::kForbidden);
  EXPECT_EQ(TrueCount("agents", "owner = 'mallory'"), "0");
  EXPECT_EQ(TrueCount("organizations", "organization_id = 'org-c'"), "0");

  // An organization id holding the list separator widens nothing: it matches no row.
  auto widened = store_->agents().Get(TenantScope::Org("org-a,org-b"), "agent-b");
  ASSERT_OK(widened);
  EXPECT_FALSE(widened->has_value());
}

TEST_P(RowLevelSecurityTest, APooledConnectionCarriesNoScopeIntoTheNextCall) {
  // One connection for everything: each call must run under its own scope only.
  PostgresOptions one_connection;
  one_connection.pool_size = 1;
  auto store = Open(one_connection);
  ASSERT_NE(store, nullptr);
  for (int round = 0; round < 3; ++round) {
    auto a = store->agents().Get(TenantScope::Org(kOrgA), "agent-a");
    ASSERT_OK(a);
    EXPECT_TRUE(a->has_value());
    auto b_as_a = store->agents().Get(TenantScope::Org(kOrgA), "agent-b");
    ASSERT_OK(b_as_a);
    EXPECT_FALSE(b_as_a->has_value());
    auto a_as_b = store->agents().Get(TenantScope::Org(kOrgB), "agent-a");
    ASSERT_OK(a_as_b);
    EXPECT_FALSE(a_as_b->has_value());
    // A transaction (the organization delete) sets its scope with BEGIN; nothing survives it.
    auto kept = store->orgs().MarkDeletedIfEmpty(TenantScope::Org(kOrgB), kOrgB, kT0);
    ASSERT_OK(kept);
    EXPECT_FALSE(*kept);  // agent-b is live
    // A statement without a scope on the same connection sees that nothing is set.
    ASSERT_OK(store->ExecRawForTest(
        "DO $$ BEGIN IF COALESCE(current_setting('agentidp.organization_id', true), '') <> '' OR "
        "COALESCE(current_setting('agentidp.system', true), '') <> '' THEN RAISE EXCEPTION "
        "'scope leaked into the next statement'; END IF; END $$"));
    auto system = store->agents().Get(TenantScope::System(), "agent-b");
    ASSERT_OK(system);
    EXPECT_TRUE(system->has_value());
  }
  // A failed statement inside the pipeline leaves the connection usable and unscoped.
  auto failed = store->agents().Create(TenantScope::Org(kOrgA), MakeAgent("agent-y", kOrgB, kT0));
  ASSERT_FALSE(failed.ok());
  auto after = store->agents().Get(TenantScope::Org(kOrgA), "agent-a");
  ASSERT_OK(after);
  EXPECT_TRUE(after->has_value());
  ASSERT_OK(store->ExecRawForTest(
      "DO $$ BEGIN IF COALESCE(current_setting('agentidp.organization_id', true), '') <> '' "
      "THEN RAISE EXCEPTION 'scope leaked'; END IF; END $$"));
}

INSTANTIATE_TEST_SUITE_P(Postgres, RowLevelSecurityTest, ::testing::ValuesIn(PgUrls()));
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RowLevelSecurityTest);

}  // namespace
}  // namespace agentidp::contract
