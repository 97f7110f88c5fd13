// PostgreSQL-specific checks that the backend-agnostic contract cannot express: the database
// itself refuses to rewrite or fork the audit log (whoever the writer is), many nodes append
// to one chain, concurrent first starts migrate once, timeouts and pool exhaustion map to
// Unavailable, and the store heals itself when its connections or its server go away.
//
// Registered only when AGENTIDP_TEST_PG_URL names a server (scripts/with-postgres.sh).

#include "contract/fixtures.hpp"
#include "contract/pg_support.hpp"
#include "store/open_store.hpp"
#include "store/postgres/migrations/migrations.hpp"
#include "store/postgres/postgres_store.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

namespace agentidp::contract {
namespace {

using store::postgres::PostgresOptions;
using store::postgres::PostgresStore;

// Default options with a few changed.
template <typename Set>
PostgresOptions With(Set set) {
  PostgresOptions options;
  set(options);
  return options;
}

std::vector<std::string> PgUrls() {
  auto url = PgTestUrl();
  if (!url) return {};
  return {*url};
}

class PostgresStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    schema_ = std::make_unique<PgSchema>(GetParam());
    store_ = OpenMigrated(schema_->url());
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    store_.reset();
    schema_.reset();
  }

  static std::unique_ptr<PostgresStore> OpenMigrated(const std::string& url,
                                                     const PostgresOptions& options = {}) {
    auto store = PostgresStore::Open(url, options);
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

  std::unique_ptr<RawPg> Raw() { return std::make_unique<RawPg>(schema_->url()); }

  std::vector<domain::AuditEvent> AppendThree(domain::Store& store) {
    std::vector<domain::AuditEvent> events = {MakeEvent("e0", kT0), MakeEvent("e1", kT0 + 1),
                                              MakeEvent("e2", kT0 + 2)};
    EXPECT_TRUE(store.audit().AppendBatch(events, kTestHasher).ok());
    return events;
  }

  void ExpectRefused(const std::string& sql) {
    auto status = store_->ExecRawForTest(sql);
    ASSERT_FALSE(status.ok()) << "database accepted: " << sql;
    EXPECT_EQ(status.error().kind, core::Errc::kInternal);
    EXPECT_EQ(status.error().message, "Store error");  // never SQL or PostgreSQL's text
  }

  static std::string InsertSql(const std::string& event_id, const std::string& hash,
                               const std::string& previous_hash) {
    return "INSERT INTO audit_events (event_id, agent_id, organization_id, action, outcome, "
           "timestamp, ip_address, user_agent, metadata, hash, previous_hash) VALUES ('" +
           event_id + "', '', '', 'x', 'success', " + std::to_string(kT0 + 100) +
           ", '', '', '{}', '" + hash + "', '" + previous_hash + "')";
  }

  std::unique_ptr<PgSchema> schema_;
  std::unique_ptr<PostgresStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Postgres, PostgresStoreTest, ::testing::ValuesIn(PgUrls()),
                         [](const auto&) { return std::string("postgres"); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PostgresStoreTest);

// ---------------------------------------------------------------------------------------
// The database guards the audit log

TEST_P(PostgresStoreTest, DatabaseRefusesUpdatingAuditEvents) {
  auto events = AppendThree(*store_);
  ExpectRefused("UPDATE audit_events SET outcome = 'failure'");
  EXPECT_NE(store_->LastErrorDetail().find("append-only"), std::string::npos)
      << store_->LastErrorDetail();
  ExpectRefused("UPDATE audit_events SET hash = 'forged' WHERE event_id = 'e1'");
  auto chain = ScanAll(store_->audit());
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(Tie(chain[1]), Tie(events[1]));
  ExpectUnbrokenChain(chain, "");
}

TEST_P(PostgresStoreTest, DatabaseRefusesDeletingAuditEventsOutsidePurge) {
  AppendThree(*store_);
  ExpectRefused("DELETE FROM audit_events");
  ExpectRefused("DELETE FROM audit_events WHERE event_id = 'e0'");
  ExpectRefused("DELETE FROM audit_events WHERE timestamp < 9000000000000");
  ExpectRefused("TRUNCATE audit_events");
  // A window that does not cover the rows does not help either.
  ExpectRefused(
      "BEGIN; SELECT set_config('agentidp.audit_purge_before', '1', true); "
      "DELETE FROM audit_events; COMMIT");
  EXPECT_EQ(ScanAll(store_->audit()).size(), 3u);
}

TEST_P(PostgresStoreTest, DatabaseRefusesAForkedInsert) {
  auto events = AppendThree(*store_);
  ExpectRefused(InsertSql("fork", "h", events[0].hash));
  EXPECT_NE(store_->LastErrorDetail().find("extend its head"), std::string::npos)
      << store_->LastErrorDetail();
  ExpectRefused(InsertSql("fork", "h", ""));
  // Two rows of one statement must chain to each other too.
  ExpectRefused(InsertSql("ok", "h1", events[2].hash) +
                ", ('bad', '', '', 'x', 'success', 1, "
                "'', '', '{}', 'h2', 'not-h1')");
  auto chain = ScanAll(store_->audit());
  EXPECT_EQ(chain.size(), 3u);
  ExpectUnbrokenChain(chain, "");
}

TEST_P(PostgresStoreTest, ARawWriterThatExtendsTheHeadMovesItForEveryone) {
  auto events = AppendThree(*store_);
  auto raw = Raw();
  auto inserted = raw->Exec(InsertSql("raw", "raw-hash", events[2].hash));
  ASSERT_TRUE(inserted.ok) << inserted.message;
  std::vector<domain::AuditEvent> next = {MakeEvent("after", kT0 + 200)};
  ASSERT_OK(store_->audit().AppendBatch(next, kTestHasher));
  EXPECT_EQ(next[0].previous_hash, "raw-hash");
}

TEST_P(PostgresStoreTest, AWriterWithAStaleSnapshotCannotFork) {
  auto events = AppendThree(*store_);
  auto raw = Raw();
  ASSERT_TRUE(raw->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ").ok);
  EXPECT_EQ(raw->Value("SELECT hash FROM audit_head"), events[2].hash);  // snapshot taken
  std::vector<domain::AuditEvent> more = {MakeEvent("e3", kT0 + 3)};
  ASSERT_OK(store_->audit().AppendBatch(more, kTestHasher));
  // Chaining to the head it saw would fork the chain: the head lock refuses it.
  auto forked = raw->Exec(InsertSql("stale", "h", events[2].hash));
  EXPECT_FALSE(forked.ok);
  EXPECT_EQ(forked.sqlstate, "40001") << forked.message;
  raw->Exec("ROLLBACK");
  auto chain = ScanAll(store_->audit());
  EXPECT_EQ(chain.size(), 4u);
  ExpectUnbrokenChain(chain, "");
}

TEST_P(PostgresStoreTest, DatabaseRefusesMovingTheHeadOrTheAnchor) {
  AppendThree(*store_);
  ExpectRefused("UPDATE audit_head SET hash = 'forged'");
  ExpectRefused("DELETE FROM audit_head");
  ExpectRefused("TRUNCATE audit_head");
  ExpectRefused("UPDATE audit_anchor SET anchor_hash = 'forged'");
  ExpectRefused("DELETE FROM audit_anchor");
  ExpectRefused("TRUNCATE audit_anchor");
  ASSERT_OK_AND_ASSIGN(auto anchor, store_->audit().ChainAnchor());
  EXPECT_EQ(anchor, "");
  std::vector<domain::AuditEvent> next = {MakeEvent("e3", kT0 + 3)};
  ASSERT_OK(store_->audit().AppendBatch(next, kTestHasher));
  ExpectUnbrokenChain(ScanAll(store_->audit()), "");
}

TEST_P(PostgresStoreTest, PurgeClosesItsWindowBeforeCommitting) {
  // One connection: the purge and the raw DELETE below share the session.
  auto single = OpenMigrated(schema_->url(), With([&](PostgresOptions& o) { o.pool_size = 1; }));
  ASSERT_NE(single, nullptr);
  auto events = AppendThree(*single);
  ASSERT_OK_AND_ASSIGN(int64_t purged, single->audit().PurgeBefore(kT0 + 2));
  EXPECT_EQ(purged, 2);
  auto refused = single->ExecRawForTest("DELETE FROM audit_events");
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(ScanAll(single->audit()).size(), 1u);
  auto raw = Raw();
  EXPECT_EQ(raw->Value("SELECT current_setting('agentidp.audit_purge_before', true)"), "<null>");
  EXPECT_EQ(raw->Value("SELECT anchor_seq FROM audit_anchor"), std::to_string(events[1].seq));
  EXPECT_EQ(raw->Value("SELECT hash FROM audit_head"), events[2].hash);
}

TEST_P(PostgresStoreTest, APurgeWithNothingToRemoveTakesNoChainLock) {
  // Every node runs retention once an hour; when nothing is old enough it must not stop the
  // other nodes' appends, not even for a moment: it succeeds while another session holds
  // the chain lock.
  auto impatient = OpenMigrated(schema_->url(), With([&](PostgresOptions& o) {
                                  o.pool_size = 2;
                                  o.statement_timeout_ms = 200;
                                }));
  ASSERT_NE(impatient, nullptr);
  AppendThree(*impatient);  // kT0 .. kT0+2
  auto other_node = Raw();
  ASSERT_TRUE(other_node->Exec("BEGIN").ok);
  ASSERT_TRUE(other_node->Exec("SELECT 1 FROM audit_head FOR UPDATE").ok);
  ASSERT_OK_AND_ASSIGN(int64_t purged, impatient->audit().PurgeBefore(kT0));
  EXPECT_EQ(purged, 0);
  ASSERT_TRUE(other_node->Exec("COMMIT").ok);
  EXPECT_EQ(ScanAll(impatient->audit()).size(), 3u);
}

TEST_P(PostgresStoreTest, ALongPrefixIsPurgedInChunksAndTheChainStillVerifies) {
  // More old events than one locked chunk holds (5,000): several transactions, each moving
  // the anchor to its own end; the survivors chain to the last anchor.
  constexpr int kOld = 12'345;
  std::vector<domain::AuditEvent> last_old;
  for (int done = 0; done < kOld;) {
    const int n = std::min(2'000, kOld - done);
    std::vector<domain::AuditEvent> batch;
    for (int i = 0; i < n; ++i) batch.push_back(MakeEvent("old-" + std::to_string(done + i), kT0));
    ASSERT_OK(store_->audit().AppendBatch(batch, kTestHasher));
    done += n;
    last_old = batch;
  }
  std::vector<domain::AuditEvent> young = {MakeEvent("young-0", kT0 + 100),
                                           MakeEvent("young-1", kT0 + 101)};
  ASSERT_OK(store_->audit().AppendBatch(young, kTestHasher));

  ASSERT_OK_AND_ASSIGN(int64_t purged, store_->audit().PurgeBefore(kT0 + 50));
  EXPECT_EQ(purged, kOld);
  ASSERT_OK_AND_ASSIGN(auto anchor, store_->audit().ChainAnchor());
  EXPECT_EQ(anchor, last_old.back().hash);
  auto survivors = ScanAll(store_->audit());
  ASSERT_EQ(survivors.size(), 2u);
  EXPECT_EQ(survivors[0].event_id, "young-0");
  EXPECT_EQ(survivors[1].event_id, "young-1");
  ExpectUnbrokenChain(survivors, anchor);
  auto raw = Raw();
  EXPECT_EQ(raw->Value("SELECT anchor_seq FROM audit_anchor"), std::to_string(last_old.back().seq));
  EXPECT_EQ(raw->Value("SELECT current_setting('agentidp.audit_purge_before', true)"), "<null>");

  // Everything old: the prefix ends at the newest event, appends carry on after it.
  ASSERT_OK_AND_ASSIGN(purged, store_->audit().PurgeBefore(kT0 + 1000));
  EXPECT_EQ(purged, 2);
  ASSERT_OK_AND_ASSIGN(anchor, store_->audit().ChainAnchor());
  EXPECT_EQ(anchor, young.back().hash);
  std::vector<domain::AuditEvent> next = {MakeEvent("next", kT0 + 2000)};
  ASSERT_OK(store_->audit().AppendBatch(next, kTestHasher));
  EXPECT_EQ(next[0].previous_hash, anchor);
}

TEST_P(PostgresStoreTest, TwoNodesPurgingAtOnceNeverMoveTheAnchorBack) {
  // Both find the same chunks without the lock; whoever cuts a chunk second must notice that
  // its end is gone and search again, not anchor the chain at a position already purged.
  auto other_node = OpenMigrated(schema_->url());
  ASSERT_NE(other_node, nullptr);
  constexpr int kOld = 16'000;
  std::vector<domain::AuditEvent> last_old;
  for (int done = 0; done < kOld;) {
    const int n = std::min(4'000, kOld - done);
    std::vector<domain::AuditEvent> batch;
    for (int i = 0; i < n; ++i) batch.push_back(MakeEvent("old-" + std::to_string(done + i), kT0));
    ASSERT_OK(store_->audit().AppendBatch(batch, kTestHasher));
    done += n;
    last_old = batch;
  }
  std::vector<domain::AuditEvent> young = {MakeEvent("young", kT0 + 100)};
  ASSERT_OK(store_->audit().AppendBatch(young, kTestHasher));

  auto first =
      std::async(std::launch::async, [&] { return store_->audit().PurgeBefore(kT0 + 50); });
  auto second =
      std::async(std::launch::async, [&] { return other_node->audit().PurgeBefore(kT0 + 50); });
  auto a = first.get();
  auto b = second.get();
  ASSERT_TRUE(a.ok()) << store_->LastErrorDetail();
  ASSERT_TRUE(b.ok()) << other_node->LastErrorDetail();
  EXPECT_EQ(*a + *b, kOld);
  ASSERT_OK_AND_ASSIGN(auto anchor, store_->audit().ChainAnchor());
  EXPECT_EQ(anchor, last_old.back().hash);
  auto survivors = ScanAll(store_->audit());
  ASSERT_EQ(survivors.size(), 1u);
  EXPECT_EQ(survivors[0].event_id, "young");
  ExpectUnbrokenChain(survivors, anchor);
}

// ---------------------------------------------------------------------------------------
// Many nodes

TEST_P(PostgresStoreTest, ManyNodesAppendingAndPurgingKeepOneUnbrokenChain) {
  constexpr int kNodes = 4;
  constexpr int kThreadsPerNode = 2;
  constexpr int kBatches = 20;
  constexpr int kEventsPerBatch = 5;
  std::vector<std::unique_ptr<PostgresStore>> nodes;
  for (int n = 0; n < kNodes; ++n) {
    nodes.push_back(
        OpenMigrated(schema_->url(), With([&](PostgresOptions& o) { o.pool_size = 2; })));
    ASSERT_NE(nodes.back(), nullptr);
  }
  std::atomic<int> failures{0};
  std::atomic<int64_t> purged_total{0};
  std::atomic<bool> appending{true};
  std::vector<std::thread> threads;
  for (int n = 0; n < kNodes; ++n) {
    for (int t = 0; t < kThreadsPerNode; ++t) {
      threads.emplace_back([&, n, t] {
        for (int b = 0; b < kBatches; ++b) {
          std::vector<domain::AuditEvent> batch;
          for (int i = 0; i < kEventsPerBatch; ++i) {
            batch.push_back(MakeEvent("n" + std::to_string(n) + "t" + std::to_string(t) + "b" +
                                          std::to_string(b) + "-" + std::to_string(i),
                                      kT0 + b));
          }
          if (!nodes[static_cast<size_t>(n)]->audit().AppendBatch(batch, kTestHasher).ok()) {
            ++failures;
          }
        }
      });
    }
  }
  // Retention runs on another node meanwhile.
  std::thread purger([&] {
    while (appending.load()) {
      auto purged = store_->audit().PurgeBefore(kT0 + 10);
      if (purged.ok()) {
        purged_total += *purged;
      } else {
        ++failures;
      }
    }
  });
  for (auto& thread : threads) thread.join();
  appending = false;
  purger.join();
  EXPECT_EQ(failures.load(), 0) << store_->LastErrorDetail();

  ASSERT_OK_AND_ASSIGN(auto anchor, store_->audit().ChainAnchor());
  auto survivors = ScanAll(store_->audit());
  EXPECT_EQ(static_cast<int64_t>(survivors.size()) + purged_total.load(),
            kNodes * kThreadsPerNode * kBatches * kEventsPerBatch);
  ExpectUnbrokenChain(survivors, anchor);
}

TEST_P(PostgresStoreTest, ConcurrentFirstStartsMigrateOnce) {
  PgSchema fresh(GetParam());
  constexpr int kStarters = 4;
  std::vector<std::unique_ptr<PostgresStore>> stores;
  for (int i = 0; i < kStarters; ++i) {
    auto store = PostgresStore::Open(fresh.url());
    ASSERT_TRUE(store.ok()) << store.error().message;
    stores.push_back(std::move(store).value());
  }
  std::vector<int> versions(kStarters, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStarters; ++i) {
    threads.emplace_back([&, i] {
      auto version = stores[static_cast<size_t>(i)]->Migrate();
      if (version.ok()) versions[static_cast<size_t>(i)] = *version;
    });
  }
  for (auto& thread : threads) thread.join();
  const auto& all = store::postgres::migrations::All();
  for (int v : versions) EXPECT_EQ(v, all.back().version);
  RawPg raw(fresh.url());
  EXPECT_EQ(raw.Value("SELECT COUNT(*) FROM schema_migrations"), std::to_string(all.size()));
  stores.clear();
}

TEST_P(PostgresStoreTest, MigrationsAreRecordedOncePerVersion) {
  auto raw = Raw();
  const auto& all = store::postgres::migrations::All();
  EXPECT_EQ(raw->Value("SELECT COUNT(*) FROM schema_migrations"), std::to_string(all.size()));
  EXPECT_EQ(raw->Value("SELECT MAX(version) FROM schema_migrations"),
            std::to_string(all.back().version));
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].version, static_cast<int>(i) + 1);
}

TEST_P(PostgresStoreTest, AnApplicationRoleWithoutDdlRightsRunsAMigratedSchema) {
  // docs/operations.md: the schema owner migrates; the nodes run as a role that may read and
  // write rows but not alter tables, so it cannot switch the audit triggers off either.
  const std::string role = RandomName("agentidp_app_");
  const std::string schema = schema_->name();
  auto admin = Raw();
  for (const std::string& sql :
       {"CREATE ROLE " + role + " LOGIN", "GRANT USAGE ON SCHEMA " + schema + " TO " + role,
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema + " TO " + role,
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA " + schema + " TO " + role}) {
    auto done = admin->Exec(sql);
    ASSERT_TRUE(done.ok) << sql << ": " << done.message;
  }
  {
    const std::string as_app = WithUrlParam(schema_->url(), "user", role);
    auto app = OpenMigrated(as_app);  // Migrate() finds nothing to do, needs no DDL
    ASSERT_NE(app, nullptr);
    auto events = AppendThree(*app);
    ASSERT_OK_AND_ASSIGN(int64_t purged, app->audit().PurgeBefore(kT0 + 1));
    EXPECT_EQ(purged, 1);
    ASSERT_OK(app->orgs().Create(TestScope(), MakeOrg("org-1", "one")));
    ASSERT_OK(app->meta().Put("k", "v"));
    ASSERT_OK(app->revocations().Revoke({"jti", kT0 + 10, kT0}));
    ExpectUnbrokenChain(ScanAll(app->audit()), events[0].hash);
    for (const std::string& sql :
         {std::string("ALTER TABLE audit_events DISABLE TRIGGER USER"),
          std::string("TRUNCATE audit_events"),
          std::string("DROP TRIGGER audit_events_no_update ON audit_events"),
          std::string("UPDATE audit_events SET outcome = 'x'")}) {
      EXPECT_FALSE(app->ExecRawForTest(sql).ok()) << sql;
    }
    EXPECT_EQ(ScanAll(app->audit()).size(), 2u);
  }
  admin->Exec("DROP OWNED BY " + role);
  admin->Exec("DROP ROLE " + role);
}

// ---------------------------------------------------------------------------------------
// Errors and limits

TEST_P(PostgresStoreTest, ChainLockHeldPastTheStatementTimeoutIsUnavailable) {
  auto impatient = OpenMigrated(schema_->url(), With([&](PostgresOptions& o) {
                                  o.pool_size = 2;
                                  o.statement_timeout_ms = 200;
                                }));
  ASSERT_NE(impatient, nullptr);
  // An event old enough for the purge below to have work (and need the chain lock).
  std::vector<domain::AuditEvent> old = {MakeEvent("old", kT0 - 10)};
  ASSERT_OK(impatient->audit().AppendBatch(old, kTestHasher));
  auto other_node = Raw();
  ASSERT_TRUE(other_node->Exec("BEGIN").ok);
  ASSERT_TRUE(other_node->Exec("SELECT 1 FROM audit_head FOR UPDATE").ok);

  std::vector<domain::AuditEvent> events = {MakeEvent("e0", kT0)};
  auto appended = impatient->audit().AppendBatch(events, kTestHasher);
  ASSERT_FALSE(appended.ok());
  EXPECT_EQ(appended.error().kind, core::Errc::kUnavailable);
  EXPECT_EQ(appended.error().retry_after, 1);
  EXPECT_EQ(events[0].seq, 0);
  auto purged = impatient->audit().PurgeBefore(kT0);
  ASSERT_FALSE(purged.ok());
  EXPECT_EQ(purged.error().kind, core::Errc::kUnavailable);
  // Everything else goes on.
  ASSERT_OK(impatient->meta().Put("k", "v"));
  ASSERT_OK(impatient->audit().ChainAnchor());

  ASSERT_TRUE(other_node->Exec("COMMIT").ok);
  ASSERT_OK(impatient->audit().AppendBatch(events, kTestHasher));
  ExpectUnbrokenChain(ScanAll(impatient->audit()), "");
}

TEST_P(PostgresStoreTest, AnExhaustedPoolIsUnavailableAfterTheAcquireTimeout) {
  auto small = OpenMigrated(schema_->url(), With([&](PostgresOptions& o) {
                              o.pool_size = 1;
                              o.acquire_timeout_ms = 100;
                            }));
  ASSERT_NE(small, nullptr);
  std::promise<void> entered;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::thread holder([&] {
    std::vector<domain::AuditEvent> events = {MakeEvent("e0", kT0)};
    bool first = true;
    auto hasher = [&](const domain::AuditEvent& ev) {
      if (first) {
        first = false;
        entered.set_value();
        released.wait();  // holds the only connection while the batch is chained
      }
      return TestHash(ev);
    };
    EXPECT_TRUE(small->audit().AppendBatch(events, hasher).ok());
  });
  entered.get_future().wait();
  auto got = small->meta().Get("k");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().kind, core::Errc::kUnavailable);
  EXPECT_EQ(got.error().retry_after, 1);
  release.set_value();
  holder.join();
  ASSERT_OK(small->meta().Get("k"));
}

TEST_P(PostgresStoreTest, ThePoolNeverOpensMoreThanItsSize) {
  const std::string name = RandomName("agentidp_pool_");
  auto pooled = OpenMigrated(schema_->url(), With([&](PostgresOptions& o) {
                               o.pool_size = 2;
                               o.application_name = name;
                             }));
  ASSERT_NE(pooled, nullptr);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (!pooled->meta().Get("k").ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  auto raw = Raw();
  const int open = std::stoi(
      raw->Value("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = '" + name + "'"));
  EXPECT_GE(open, 1);
  EXPECT_LE(open, 2);
}

TEST_P(PostgresStoreTest, UniqueViolationIsConflictAndTheLogNamesTheConstraintNotTheValue) {
  ASSERT_OK(store_->orgs().Create(TestScope(), MakeOrg("org-1", "one")));
  auto agent = MakeAgent("a-1", "org-1", kT0);
  agent.email = "Secret.Person@example.com";
  ASSERT_OK(store_->agents().Create(TestScope(), agent));
  auto clash = MakeAgent("a-2", "org-1", kT0);
  clash.email = "secret.person@EXAMPLE.com";
  auto created = store_->agents().Create(TestScope(), clash);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, "CONFLICT");
  const std::string detail = store_->LastErrorDetail();
  EXPECT_NE(detail.find("agents_email"), std::string::npos) << detail;
  EXPECT_NE(detail.find("23505"), std::string::npos) << detail;
  EXPECT_EQ(detail.find("secret.person"), std::string::npos) << detail;
}

TEST_P(PostgresStoreTest, NulAndInvalidUtf8AreRefusedNotTruncated) {
  ASSERT_OK(store_->orgs().Create(TestScope(), MakeOrg("org-1", "one")));
  auto nul = store_->meta().Put("k", std::string("a\0b", 3));
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(nul.error().kind, core::Errc::kValidation);
  auto bad_utf8 = store_->meta().Put("k", "\xff\xfe");
  ASSERT_FALSE(bad_utf8.ok());
  EXPECT_EQ(bad_utf8.error().kind, core::Errc::kValidation);
  ASSERT_OK_AND_ASSIGN(auto value, store_->meta().Get("k"));
  EXPECT_FALSE(value.has_value());
}

TEST_P(PostgresStoreTest, OpenStoreUnderstandsPostgresUrlsAndFeedsTheErrorSink) {
  const std::string url = schema_->url();
  ASSERT_TRUE(url.starts_with("postgres://") || url.starts_with("postgresql://")) << url;
  const std::string rest = url.substr(url.find("://"));
  for (const std::string scheme : {"postgres", "postgresql"}) {
    std::vector<std::string> details;
    std::mutex mutex;
    auto opened = store::OpenStore(scheme + rest, [&](const std::string& detail) {
      std::lock_guard<std::mutex> lock(mutex);
      details.push_back(detail);
    });
    ASSERT_TRUE(opened.ok()) << scheme << ": " << opened.error().message;
    EXPECT_EQ((*opened)->BackendName(), "postgres");
    ASSERT_OK((*opened)->Migrate());
    ASSERT_OK((*opened)->Ping());
    ASSERT_OK((*opened)->orgs().Create(TestScope(), MakeOrg("org-" + scheme, "slug-" + scheme)));
    EXPECT_FALSE((*opened)->orgs().Create(TestScope(), MakeOrg("org-" + scheme, "other")).ok());
    std::lock_guard<std::mutex> lock(mutex);
    ASSERT_FALSE(details.empty());
    EXPECT_NE(details.back().find("23505"), std::string::npos) << details.back();
  }
}

// ---------------------------------------------------------------------------------------
// Self-healing

// Polls `probe` until it succeeds or `limit` passes; returns whether it succeeded.
template <typename Probe>
bool Eventually(Probe probe, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (probe()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return probe();
}

TEST_P(PostgresStoreTest, RecoversWhenItsBackendsAreTerminated) {
  const std::string name = RandomName("agentidp_kill_");
  auto node = OpenMigrated(schema_->url(), With([&](PostgresOptions& o) {
                             o.pool_size = 3;
                             o.application_name = name;
                           }));
  ASSERT_NE(node, nullptr);
  AppendThree(*node);
  auto raw = Raw();
  const std::string mine =
      "FROM pg_stat_activity WHERE application_name = '" + name + "' AND pid <> pg_backend_pid()";
  ASSERT_NE(raw->Value("SELECT COUNT(*) " + mine), "0");
  // What a server restart, a failover or an administrator does to every session.
  // With a timeout, pg_terminate_backend waits until each backend has exited; a backend
  // sends its FATAL to the client before it exits.
  EXPECT_EQ(raw->Value("SELECT bool_and(pg_terminate_backend(pid, 5000)) " + mine), "t");
  ASSERT_TRUE(Eventually([&] { return raw->Value("SELECT COUNT(*) " + mine) == "0"; }));

  // The pool notices the dead sessions before using them: no call fails.
  auto pinged = node->Ping();
  ASSERT_TRUE(pinged.ok()) << node->LastErrorDetail();
  std::vector<domain::AuditEvent> next = {MakeEvent("e3", kT0 + 3)};
  ASSERT_OK(node->audit().AppendBatch(next, kTestHasher));
  ExpectUnbrokenChain(ScanAll(node->audit()), "");
}

TEST_P(PostgresStoreTest, RecoversAfterTheServerGoesAwayAndComesBack) {
  auto raw = Raw();
  TcpProxy server(raw->port());
  ASSERT_TRUE(server.Start());
  const std::string via_proxy = WithUrlParam(WithUrlParam(schema_->url(), "host", "127.0.0.1"),
                                             "port", std::to_string(server.port()));
  auto node = OpenMigrated(via_proxy, With([&](PostgresOptions& o) {
                             o.pool_size = 2;
                             o.connect_timeout_s = 2;
                             o.acquire_timeout_ms = 1000;
                             o.reconnect_backoff_ms = 100;
                           }));
  ASSERT_NE(node, nullptr);
  ASSERT_OK(node->meta().Put("k", "before"));

  // A restart: every connection drops, the server is back at once. Nothing fails.
  server.Stop();
  ASSERT_TRUE(server.Start());
  ASSERT_OK(node->meta().Get("k"));

  // An outage: calls fail fast with Unavailable (503 + Retry-After upstream).
  server.Stop();
  const auto before = std::chrono::steady_clock::now();
  auto down = node->meta().Get("k");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().kind, core::Errc::kUnavailable);
  EXPECT_EQ(down.error().retry_after, 1);
  std::vector<domain::AuditEvent> lost = {MakeEvent("lost", kT0)};
  auto appended = node->audit().AppendBatch(lost, kTestHasher);
  ASSERT_FALSE(appended.ok());
  EXPECT_EQ(appended.error().kind, core::Errc::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2));
  ASSERT_FALSE(node->Ping().ok());

  // The server comes back: the store reconnects by itself.
  ASSERT_TRUE(server.Start());
  ASSERT_TRUE(Eventually([&] { return node->Ping().ok(); }));
  ASSERT_OK_AND_ASSIGN(auto value, node->meta().Get("k"));
  EXPECT_EQ(value, std::optional<std::string>("before"));
  std::vector<domain::AuditEvent> after = {MakeEvent("after", kT0 + 1)};
  ASSERT_OK(node->audit().AppendBatch(after, kTestHasher));
  auto chain = ScanAll(node->audit());
  ASSERT_EQ(chain.size(), 1u);
  ExpectUnbrokenChain(chain, "");
}

// A node connected through a proxy the test controls.
struct ProxiedNode {
  std::unique_ptr<RawPg> raw;
  std::unique_ptr<TcpProxy> server;
  std::unique_ptr<PostgresStore> node;
};

ProxiedNode ConnectThroughProxy(const PgSchema& schema) {
  ProxiedNode proxied;
  proxied.raw = std::make_unique<RawPg>(schema.url());
  proxied.server = std::make_unique<TcpProxy>(proxied.raw->port());
  EXPECT_TRUE(proxied.server->Start());
  const std::string via_proxy = WithUrlParam(WithUrlParam(schema.url(), "host", "127.0.0.1"),
                                             "port", std::to_string(proxied.server->port()));
  auto node = PostgresStore::Open(via_proxy, With([](PostgresOptions& o) {
                                    o.pool_size = 2;
                                    o.connect_timeout_s = 2;
                                    o.reconnect_backoff_ms = 100;
                                  }));
  EXPECT_TRUE(node.ok());
  if (node.ok()) {
    EXPECT_TRUE((*node)->Migrate().ok());
    proxied.node = std::move(node).value();
  }
  return proxied;
}

TEST_P(PostgresStoreTest, ABatchWhoseCommitAnswerIsLostIsReportedAsRecorded) {
  auto proxied = ConnectThroughProxy(*schema_);
  ASSERT_NE(proxied.node, nullptr);
  auto first = AppendThree(*proxied.node);
  // The node wrote the head last, so this batch is appended in one pipeline that commits at
  // its Sync (no COMMIT statement): the server commits; the connection breaks before the
  // client hears of it. The batch's parameters (its event ids as an array) mark the message.
  proxied.server->CutAfterTheAnswerTo(R"({"e3","e4"})");
  std::vector<domain::AuditEvent> batch = {MakeEvent("e3", kT0 + 3), MakeEvent("e4", kT0 + 4)};
  ASSERT_OK(proxied.node->audit().AppendBatch(batch, kTestHasher));
  EXPECT_NE(proxied.node->LastErrorDetail().find("answer was lost"), std::string::npos)
      << proxied.node->LastErrorDetail();
  EXPECT_EQ(batch[0].previous_hash, first.back().hash);
  auto chain = ScanAll(store_->audit());
  ASSERT_EQ(chain.size(), 5u);
  ExpectUnbrokenChain(chain, "");
  EXPECT_EQ(Tie(chain[3]), Tie(batch[0]));
  EXPECT_EQ(Tie(chain[4]), Tie(batch[1]));
}

TEST_P(PostgresStoreTest, ABatchCutOffBeforeCommitIsNotRecorded) {
  auto proxied = ConnectThroughProxy(*schema_);
  ASSERT_NE(proxied.node, nullptr);
  proxied.server->CutAfterTheAnswerTo("INSERT INTO audit_events");
  std::vector<domain::AuditEvent> batch = {MakeEvent("e0", kT0), MakeEvent("e1", kT0 + 1)};
  auto appended = proxied.node->audit().AppendBatch(batch, kTestHasher);
  ASSERT_FALSE(appended.ok());
  EXPECT_EQ(appended.error().kind, core::Errc::kUnavailable);
  EXPECT_EQ(batch[0].seq, 0);
  EXPECT_EQ(batch[0].hash, "");
  EXPECT_TRUE(ScanAll(store_->audit()).empty());
  // The same events go in on the next try (the audit writer retries once).
  ASSERT_OK(proxied.node->audit().AppendBatch(batch, kTestHasher));
  ExpectUnbrokenChain(ScanAll(store_->audit()), "");
}

}  // namespace
}  // namespace agentidp::contract

// ---------------------------------------------------------------------------------------
// Organization delete vs. an agent joining it (OrgStore::MarkDeletedIfEmpty)

namespace agentidp::contract {
namespace {

// Another node is inserting an agent into the organization (its transaction not yet
// committed) while this one deletes the organization: the delete must wait for that
// transaction and then see the agent, never delete an organization that ends up with a live
// agent. Without the row lock, READ COMMITTED would not see the uncommitted agent and the
// UPDATE would not conflict with the foreign key's KEY SHARE lock.
TEST_P(PostgresStoreTest, OrgDeleteWaitsForAnAgentBeingInsertedIntoIt) {
  ASSERT_TRUE(store_->orgs().Create(TestScope(), MakeOrg("org-1", "acme")).ok());
  auto raw = Raw();
  ASSERT_TRUE(raw->Exec("BEGIN").ok);
  auto inserted = raw->Exec(
      "INSERT INTO agents (agent_id, organization_id, email, agent_type, version, capabilities, "
      "owner, deployment_env, status, role, is_public, created_at, updated_at) VALUES ('agent-1', "
      "'org-1', 'a@example.com', 'custom', '1.0.0', '[]', 'o', 'development', 'active', "
      "'member', false, 1, 1)");
  ASSERT_TRUE(inserted.ok) << inserted.message;
  auto deleting = std::async(std::launch::async, [&] {
    return store_->orgs().MarkDeletedIfEmpty(TestScope(), "org-1", kT0);
  });
  EXPECT_EQ(deleting.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout)
      << "the delete did not wait for the transaction inserting an agent";
  ASSERT_TRUE(raw->Exec("COMMIT").ok);
  auto result = deleting.get();
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_FALSE(*result) << "the committed agent must block the delete";
  auto org = store_->orgs().Get(TestScope(), "org-1");
  ASSERT_TRUE(org.ok());
  EXPECT_EQ((*org)->status, "active");
}

// Row mapping (store/common/rows.hpp): a JSON column that is not an array of strings is a
// store error whose detail names the backend and the column.
TEST_P(PostgresStoreTest, MalformedStringArrayColumnsAreStoreErrors) {
  ASSERT_OK(store_->orgs().Create(TestScope(), MakeOrg("org-1", "one")));
  ASSERT_OK(store_->agents().Create(TestScope(), MakeAgent("agent-1", "org-1", kT0)));
  ASSERT_OK(store_->federation().CreatePartner(
      MakePartner("partner-1", "https://issuer.example.com", kT0)));

  auto raw = Raw();
  auto corrupt = [&](const std::string& sql) {
    ASSERT_TRUE(raw->Exec("BEGIN").ok);
    ASSERT_TRUE(raw->Exec("SELECT set_config('agentidp.organization_id', 'org-1', true)").ok);
    ASSERT_TRUE(raw->Exec("SELECT set_config('agentidp.system', 'on', true)").ok);
    auto done = raw->Exec(sql);
    ASSERT_TRUE(done.ok) << sql << ": " << done.message;
    ASSERT_TRUE(raw->Exec("COMMIT").ok);
  };
  // The schema only lets arrays into agents.capabilities (a CHECK); their items are not checked.
  for (const std::string& bad : std::vector<std::string>{"[\"a\", 1]", "[null]", "[[\"a\"]]"}) {
    SCOPED_TRACE(bad);
    corrupt("UPDATE agents SET capabilities = '" + bad + "'::jsonb");
    auto agent = store_->agents().Get(TestScope(), "agent-1");
    ASSERT_FALSE(agent.ok());
    EXPECT_EQ(agent.error().kind, core::Errc::kInternal);
    EXPECT_EQ(agent.error().message, "Store error");
    EXPECT_EQ(store_->LastErrorDetail(),
              "postgres: agents.capabilities is not a JSON array of strings");
    EXPECT_FALSE(store_->agents().List(TestScope(), {}, {1, 20}).ok());
  }
  for (const std::string& bad :
       std::vector<std::string>{"[\"a\", 1]", "{\"a\": \"b\"}", "\"text\"", "not json"}) {
    SCOPED_TRACE(bad);
    corrupt("UPDATE federation_partners SET allowed_organizations = '" + bad + "'");
    auto read = store_->federation().GetPartner("partner-1");
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(read.error().message, "Store error");
    EXPECT_EQ(store_->LastErrorDetail(),
              "postgres: federation_partners.allowed_organizations is not a JSON array");
  }

  corrupt("UPDATE agents SET capabilities = '[]'::jsonb, is_public = true");
  ASSERT_OK_AND_ASSIGN(auto agent, store_->agents().Get(TestScope(), "agent-1"));
  ASSERT_TRUE(agent.has_value());
  EXPECT_TRUE(agent->capabilities.empty());
  EXPECT_TRUE(agent->is_public);
}

}  // namespace
}  // namespace agentidp::contract
