// SQLite-specific checks that the backend-agnostic contract cannot express: the database itself
// refuses to rewrite the audit log, file settings, lock-timeout mapping, concurrent migration,
// crash survival, and the DATABASE_URL factory.

#include "store/sqlite/sqlite_store.hpp"
#include "contract/fixtures.hpp"
#include "contract/temp_dir.hpp"
#include "store/open_store.hpp"
#include "store/sqlite/migrations/migrations.hpp"

#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

namespace agentidp::contract {
namespace {

using store::sqlite::SqliteOptions;
using store::sqlite::SqliteStore;

// A raw connection outside the store, as another tool or process would open it.
class RawConnection {
 public:
  explicit RawConnection(const std::string& path) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  }
  ~RawConnection() { sqlite3_close_v2(db_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  int Exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }
  std::string QueryText(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    std::string out = "<error>";
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_ROW) {
        const auto* text = sqlite3_column_text(stmt, 0);
        out = text == nullptr ? "<null>" : reinterpret_cast<const char*>(text);
      } else if (rc == SQLITE_DONE) {
        out = "<none>";
      }
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenMigrated(path());
    ASSERT_NE(store_, nullptr);
  }

  std::string path() const { return (dir_.path() / "agentidp.db").string(); }

  static std::unique_ptr<SqliteStore> OpenMigrated(const std::string& path,
                                                   const SqliteOptions& options = {}) {
    auto store = SqliteStore::Open(path, options);
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

  std::vector<domain::AuditEvent> AppendThree() {
    std::vector<domain::AuditEvent> events = {MakeEvent("e0", kT0), MakeEvent("e1", kT0 + 1),
                                              MakeEvent("e2", kT0 + 2)};
    EXPECT_TRUE(store_->audit().AppendBatch(events, kTestHasher).ok());
    return events;
  }

  void ExpectRefused(const std::string& sql) {
    auto status = store_->ExecRawForTest(sql);
    ASSERT_FALSE(status.ok()) << "database accepted: " << sql;
    EXPECT_EQ(status.error().kind, core::Errc::kInternal);
    EXPECT_EQ(status.error().message, "Store error");  // never SQL or SQLite text
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, DatabaseRefusesUpdatingAuditEvents) {
  auto events = AppendThree();
  ExpectRefused("UPDATE audit_events SET outcome = 'failure'");
  EXPECT_NE(store_->LastErrorDetail().find("append-only"), std::string::npos)
      << store_->LastErrorDetail();
  ExpectRefused("UPDATE audit_events SET hash = 'forged' WHERE event_id = 'e1'");
  auto chain = ScanAll(store_->audit());
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(Tie(chain[1]), Tie(events[1]));
  ExpectUnbrokenChain(chain, "");
}

TEST_F(SqliteStoreTest, DatabaseRefusesDeletingAuditEventsOutsidePurge) {
  AppendThree();
  ExpectRefused("DELETE FROM audit_events");
  ExpectRefused("DELETE FROM audit_events WHERE event_id = 'e0'");
  ExpectRefused("DELETE FROM audit_events WHERE timestamp < 9000000000000");
  EXPECT_EQ(ScanAll(store_->audit()).size(), 3u);
}

TEST_F(SqliteStoreTest, DatabaseRefusesAForkedInsert) {
  auto events = AppendThree();
  ExpectRefused(
      "INSERT INTO audit_events (event_id, agent_id, organization_id, action, outcome, "
      "timestamp, ip_address, user_agent, metadata, hash, previous_hash) VALUES ('fork', '', '', "
      "'x', 'success', 1, '', '', '{}', 'h', '" +
      events[0].hash + "')");
  EXPECT_EQ(ScanAll(store_->audit()).size(), 3u);
}

TEST_F(SqliteStoreTest, DatabaseRefusesMovingTheAnchorOrDroppingControlRows) {
  AppendThree();
  ExpectRefused("UPDATE audit_anchor SET anchor_hash = 'forged'");
  ExpectRefused("DELETE FROM audit_anchor");
  ExpectRefused("DELETE FROM audit_control");
  ASSERT_OK_AND_ASSIGN(auto anchor, store_->audit().ChainAnchor());
  EXPECT_EQ(anchor, "");
}

TEST_F(SqliteStoreTest, PurgeClosesItsWindowBeforeCommitting) {
  auto events = AppendThree();
  ASSERT_OK_AND_ASSIGN(int64_t purged, store_->audit().PurgeBefore(kT0 + 2));
  EXPECT_EQ(purged, 2);
  RawConnection raw(path());
  EXPECT_EQ(raw.QueryText("SELECT purge_before FROM audit_control WHERE id = 1"), "<null>");
  EXPECT_EQ(raw.QueryText("SELECT anchor_seq FROM audit_anchor WHERE id = 1"),
            std::to_string(events[1].seq));
  ExpectRefused("DELETE FROM audit_events");
  EXPECT_EQ(ScanAll(store_->audit()).size(), 1u);
}

TEST_F(SqliteStoreTest, FileIsWalOwnerOnlyAndCreatedWithItsDirectory) {
  RawConnection raw(path());
  EXPECT_EQ(raw.QueryText("PRAGMA journal_mode"), "wal");
  struct stat st {};
  ASSERT_EQ(::stat(path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  const std::string nested = (dir_.path() / "a" / "b" / "nested.db").string();
  auto nested_store = OpenMigrated(nested);
  ASSERT_NE(nested_store, nullptr);
  ASSERT_OK(nested_store->Ping());
}

TEST_F(SqliteStoreTest, MigrationsAreRecordedOncePerVersion) {
  RawConnection raw(path());
  const auto& all = store::sqlite::migrations::All();
  EXPECT_EQ(raw.QueryText("SELECT COUNT(*) FROM schema_migrations"), std::to_string(all.size()));
  EXPECT_EQ(raw.QueryText("SELECT MAX(version) FROM schema_migrations"),
            std::to_string(all.back().version));
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].version, static_cast<int>(i) + 1);
}

TEST_F(SqliteStoreTest, ConcurrentFirstStartsMigrateOnce) {
  const std::string fresh = (dir_.path() / "fresh.db").string();
  constexpr int kStarters = 4;
  std::vector<std::unique_ptr<SqliteStore>> stores;
  for (int i = 0; i < kStarters; ++i) {
    auto store = SqliteStore::Open(fresh);
    ASSERT_TRUE(store.ok()) << store.error().message;
    stores.push_back(std::move(store).value());
  }
  std::vector<int> versions(kStarters, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStarters; ++i) {
    threads.emplace_back([&, i] {
      auto version = stores[i]->Migrate();
      if (version.ok()) versions[i] = *version;
    });
  }
  for (auto& thread : threads) thread.join();
  const int expected = store::sqlite::migrations::All().back().version;
  for (int v : versions) EXPECT_EQ(v, expected);
  RawConnection raw(fresh);
  EXPECT_EQ(raw.QueryText("SELECT COUNT(*) FROM schema_migrations"),
            std::to_string(store::sqlite::migrations::All().size()));
}

TEST_F(SqliteStoreTest, LockHeldPastTheBusyTimeoutIsUnavailable) {
  auto impatient = OpenMigrated(path(), SqliteOptions{.read_connections = 1,
                                                      .busy_timeout_ms = 50,
                                                      .synchronous_full = true,
                                                      .error_sink = nullptr});
  ASSERT_NE(impatient, nullptr);
  RawConnection other_process(path());
  ASSERT_EQ(other_process.Exec("BEGIN IMMEDIATE"), SQLITE_OK);

  auto put = impatient->meta().Put("k", "v");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().kind, core::Errc::kUnavailable);
  EXPECT_EQ(put.error().retry_after, 1);
  std::vector<domain::AuditEvent> events = {MakeEvent("e0", kT0)};
  auto appended = impatient->audit().AppendBatch(events, kTestHasher);
  ASSERT_FALSE(appended.ok());
  EXPECT_EQ(appended.error().kind, core::Errc::kUnavailable);
  // Readers are not blocked by a writer in WAL mode.
  ASSERT_OK(impatient->meta().Get("k"));

  ASSERT_EQ(other_process.Exec("COMMIT"), SQLITE_OK);
  ASSERT_OK(impatient->meta().Put("k", "v"));
  ASSERT_OK(impatient->audit().AppendBatch(events, kTestHasher));
}

TEST_F(SqliteStoreTest, AnsweredAppendSurvivesSigkill) {
  const std::string db = (dir_.path() / "crash.db").string();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Child: append, "answer" through the pipe, then wait to be killed.
    ::close(ready[0]);
    auto store = SqliteStore::Open(db);
    if (!store.ok() || !(*store)->Migrate().ok()) ::_exit(2);
    std::vector<domain::AuditEvent> events = {MakeEvent("durable-0", kT0),
                                              MakeEvent("durable-1", kT0 + 1)};
    if (!(*store)->audit().AppendBatch(events, kTestHasher).ok()) ::_exit(3);
    if ((*store)->meta().Put("answered", "yes").ok()) {
      char byte = 1;
      if (::write(ready[1], &byte, 1) != 1) ::_exit(4);
    }
    while (true) ::pause();
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);
  ::kill(child, SIGKILL);
  int wstatus = 0;
  ::waitpid(child, &wstatus, 0);
  ASSERT_TRUE(WIFSIGNALED(wstatus));

  auto reopened = OpenMigrated(db);
  ASSERT_NE(reopened, nullptr);
  auto chain = ScanAll(reopened->audit());
  ASSERT_EQ(chain.size(), 2u);
  ExpectUnbrokenChain(chain, "");
  ASSERT_OK_AND_ASSIGN(auto answered, reopened->meta().Get("answered"));
  EXPECT_EQ(answered, std::optional<std::string>("yes"));
}

// ---------------------------------------------------------------------------------------
// Row mapping (store/common/rows.hpp): a JSON-array column that does not hold an array of
// strings is a store error, never a half-read row; the detail names the backend and column.

TEST_F(SqliteStoreTest, MalformedStringArrayColumnsAreStoreErrors) {
  ASSERT_OK(store_->orgs().Create(TestScope(), MakeOrg("org-1", "one")));
  ASSERT_OK(store_->agents().Create(TestScope(), MakeAgent("agent-1", "org-1", kT0)));
  ASSERT_OK(store_->federation().CreatePartner(
      MakePartner("partner-1", "https://issuer.example.com", kT0)));

  for (const std::string& bad :
       std::vector<std::string>{"[\"a\", 1]", "{\"a\": \"b\"}", "not json"}) {
    SCOPED_TRACE(bad);
    ASSERT_OK(store_->ExecRawForTest("UPDATE agents SET capabilities = '" + bad + "'"));
    auto agent = store_->agents().Get(TestScope(), "agent-1");
    ASSERT_FALSE(agent.ok());
    EXPECT_EQ(agent.error().kind, core::Errc::kInternal);
    EXPECT_EQ(agent.error().message, "Store error");
    EXPECT_EQ(store_->LastErrorDetail(),
              "sqlite: agents.capabilities is not a JSON array of strings");
    EXPECT_FALSE(store_->agents().List(TestScope(), {}, {1, 20}).ok());

    ASSERT_OK(store_->ExecRawForTest("UPDATE federation_partners SET allowed_organizations = '" +
                                     bad + "'"));
    auto read = store_->federation().GetPartner("partner-1");
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(read.error().message, "Store error");
    EXPECT_EQ(store_->LastErrorDetail(),
              "sqlite: federation_partners.allowed_organizations is not a JSON array");
  }

  ASSERT_OK(store_->ExecRawForTest("UPDATE agents SET capabilities = '[]'"));
  ASSERT_OK_AND_ASSIGN(auto agent, store_->agents().Get(TestScope(), "agent-1"));
  ASSERT_TRUE(agent.has_value());
  EXPECT_TRUE(agent->capabilities.empty());
  EXPECT_FALSE(agent->is_public);
  ASSERT_OK(store_->ExecRawForTest("UPDATE agents SET is_public = 1"));
  ASSERT_OK_AND_ASSIGN(agent, store_->agents().Get(TestScope(), "agent-1"));
  EXPECT_TRUE(agent->is_public);
}

TEST_F(SqliteStoreTest, OpenRefusesInMemoryDatabases) {
  auto store = SqliteStore::Open(":memory:");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().kind, core::Errc::kValidation);
}

TEST_F(SqliteStoreTest, OpenStoreUnderstandsSqliteUrlsAndPaths) {
  for (const std::string& url :
       {"sqlite://" + (dir_.path() / "u1.db").string(),
        "sqlite:" + (dir_.path() / "u2.db").string(), (dir_.path() / "u3.db").string()}) {
    auto opened = store::OpenStore(url);
    ASSERT_TRUE(opened.ok()) << url << ": " << opened.error().message;
    EXPECT_EQ((*opened)->BackendName(), "sqlite");
    ASSERT_OK((*opened)->Migrate());
    ASSERT_OK((*opened)->Ping());
  }
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "u1.db"));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "u2.db"));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "u3.db"));
}

TEST_F(SqliteStoreTest, OpenStoreRefusesOtherSchemes) {
  for (const std::string url : {"mysql://localhost/db", "sqlite://", ""}) {
    auto opened = store::OpenStore(url);
    ASSERT_FALSE(opened.ok()) << url;
    EXPECT_EQ(opened.error().kind, core::Errc::kValidation) << url;
  }
}

}  // namespace
}  // namespace agentidp::contract
