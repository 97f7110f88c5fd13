// What the tenant scope costs a PostgreSQL store call (issue 3, row-level security). Run by
// hand against a throw-away server:
//
//   cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DAGENTIDP_BUILD_BENCH=ON
//   cmake --build build-bench --target store_scope_bench
//   bash scripts/with-services.sh build-bench/bench/store_scope_bench
//
// Rows, all reading one agent by id (the client directory's cache miss) on one connection:
//   PlainSelect        the statement alone on a copy of the table without row-level security:
//                      what a store call cost before (one prepared statement, one round trip)
//   PipelinedScope     set_config + the statement on the policed table in one libpq pipeline
//                      (one Sync, one round trip): what the store does now
//   SeparateRoundTrips BEGIN; set_config; the statement; COMMIT, each waited for: the naive way
//   StoreAgentGet      PostgresStore::agents().Get(System()) end to end (pool lease included)
//   StoreAuditAppend16 PostgresStore::audit().AppendBatch of 16 events (BEGIN with the scope
//                      pipelined, chain lock, one INSERT, COMMIT)
// Ratios against PlainSelect in the same run are what to read; absolute times depend on the
// machine and its load.

#include "store/postgres/postgres_store.hpp"

#include <benchmark/benchmark.h>
#include <libpq-fe.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using agentidp::domain::TenantScope;
using agentidp::store::postgres::PostgresStore;

constexpr const char* kRole = "agentidp_bench_app";

struct Setup {
  std::string base_url;
  std::string schema;
  std::string app_url;  // the schema, as a role that row-level security applies to
  std::unique_ptr<PostgresStore> store;
};

std::string WithParam(const std::string& url, const std::string& key, const std::string& value) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
}

void MustExec(PGconn* conn, const std::string& sql) {
  PGresult* result = PQexec(conn, sql.c_str());
  const ExecStatusType status = PQresultStatus(result);
  const bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
  std::string message = PQresultErrorMessage(result);
  PQclear(result);
  if (!ok) throw std::runtime_error(sql + ": " + message);
}

PGconn* Connect(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(conn));
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return conn;
}

Setup& TheSetup() {
  static Setup setup = [] {
    Setup s;
    const char* url = std::getenv("AGENTIDP_TEST_PG_URL");
    if (url == nullptr || *url == '\0') {
      throw std::runtime_error("AGENTIDP_TEST_PG_URL is not set (run under with-services.sh)");
    }
    s.base_url = url;
    std::random_device random;
    s.schema = "agentidp_bench_" + std::to_string(random());
    PGconn* admin = Connect(s.base_url);
    MustExec(admin, std::string("DO $$ BEGIN CREATE ROLE ") + kRole +
                        " LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$");
    MustExec(admin, "CREATE SCHEMA " + s.schema + " AUTHORIZATION " + kRole);
    PQfinish(admin);
    s.app_url =
        WithParam(WithParam(s.base_url, "options", "-csearch_path%3D" + s.schema), "user", kRole);
    auto opened = PostgresStore::Open(s.app_url);
    if (!opened.ok()) throw std::runtime_error(opened.error().message);
    s.store = std::move(opened).value();
    if (!s.store->Migrate().ok()) throw std::runtime_error(s.store->LastErrorDetail());
    agentidp::domain::Organization org;
    org.organization_id = "org-bench";
    org.name = "Bench";
    org.slug = "bench";
    org.plan_tier = "enterprise";
    org.max_agents = -1;
    org.status = "active";
    const auto scope = TenantScope::Org(org.organization_id);
    if (!s.store->orgs().Create(scope, org).ok()) throw std::runtime_error("org");
    agentidp::domain::Agent agent;
    agent.agent_id = "agent-bench";
    agent.organization_id = org.organization_id;
    agent.email = "bench@example.com";
    agent.agent_type = "custom";
    agent.version = "1.0.0";
    agent.capabilities = {"a:b"};
    agent.owner = "bench";
    agent.deployment_env = "production";
    agent.status = "active";
    agent.role = "member";
    if (!s.store->agents().Create(scope, agent).ok()) throw std::runtime_error("agent");
    // The "before" table: the same rows and key, no policies.
    PGconn* app = Connect(s.app_url);
    MustExec(app,
             "BEGIN; SELECT set_config('agentidp.system', 'on', true); CREATE TABLE agents_plain "
             "AS SELECT * FROM agents; ALTER TABLE agents_plain ADD PRIMARY KEY (agent_id); "
             "COMMIT");
    PQfinish(app);
    return s;
  }();
  return setup;
}

constexpr const char* kSelect =
    "SELECT agent_id, organization_id, email, agent_type, version, capabilities, owner, "
    "deployment_env, status, role, is_public, created_at, updated_at FROM agents WHERE "
    "agent_id = $1";
constexpr const char* kSelectPlain =
    "SELECT agent_id, organization_id, email, agent_type, version, capabilities, owner, "
    "deployment_env, status, role, is_public, created_at, updated_at FROM agents_plain WHERE "
    "agent_id = $1";
constexpr const char* kSetScope =
    "SELECT set_config('agentidp.organization_id', $1, true), set_config('agentidp.system', $2, "
    "true)";

void Prepare(PGconn* conn, const char* name, const char* sql, int params) {
  PGresult* result = PQprepare(conn, name, sql, params, nullptr);
  if (PQresultStatus(result) != PGRES_COMMAND_OK) {
    std::string message = PQresultErrorMessage(result);
    PQclear(result);
    throw std::runtime_error(message);
  }
  PQclear(result);
}

void ExpectOneRow(PGresult* result, benchmark::State& state) {
  if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1) {
    state.SkipWithError("the agent was not found");
  }
  PQclear(result);
}

void PlainSelect(benchmark::State& state) {
  PGconn* conn = Connect(TheSetup().app_url);
  Prepare(conn, "plain", kSelectPlain, 1);
  const char* id[] = {"agent-bench"};
  for (auto _ : state) {
    ExpectOneRow(PQexecPrepared(conn, "plain", 1, id, nullptr, nullptr, 0), state);
  }
  PQfinish(conn);
}

void PipelinedScope(benchmark::State& state) {
  PGconn* conn = Connect(TheSetup().app_url);
  Prepare(conn, "scope", kSetScope, 2);
  Prepare(conn, "select", kSelect, 1);
  const char* scope[] = {"", "on"};
  const char* id[] = {"agent-bench"};
  for (auto _ : state) {
    PQenterPipelineMode(conn);
    PQsendQueryPrepared(conn, "scope", 2, scope, nullptr, nullptr, 0);
    PQsendQueryPrepared(conn, "select", 1, id, nullptr, nullptr, 0);
    PQpipelineSync(conn);
    PQclear(PQgetResult(conn));  // set_config
    (void)PQgetResult(conn);     // its end
    ExpectOneRow(PQgetResult(conn), state);
    (void)PQgetResult(conn);
    PQclear(PQgetResult(conn));  // the Sync
    PQexitPipelineMode(conn);
  }
  PQfinish(conn);
}

void SeparateRoundTrips(benchmark::State& state) {
  PGconn* conn = Connect(TheSetup().app_url);
  Prepare(conn, "scope", kSetScope, 2);
  Prepare(conn, "select", kSelect, 1);
  const char* scope[] = {"", "on"};
  const char* id[] = {"agent-bench"};
  for (auto _ : state) {
    PQclear(PQexec(conn, "BEGIN"));
    PQclear(PQexecPrepared(conn, "scope", 2, scope, nullptr, nullptr, 0));
    ExpectOneRow(PQexecPrepared(conn, "select", 1, id, nullptr, nullptr, 0), state);
    PQclear(PQexec(conn, "COMMIT"));
  }
  PQfinish(conn);
}

void StoreAgentGet(benchmark::State& state) {
  auto& store = *TheSetup().store;
  const auto scope = TenantScope::System();
  for (auto _ : state) {
    auto agent = store.agents().Get(scope, "agent-bench");
    if (!agent.ok() || !agent->has_value()) state.SkipWithError("the agent was not found");
  }
}

void StoreAuditAppend16(benchmark::State& state) {
  auto& store = *TheSetup().store;
  static int64_t n = 0;  // event ids stay unique across repetitions
  for (auto _ : state) {
    std::vector<agentidp::domain::AuditEvent> events(16);
    for (auto& event : events) {
      event.event_id = "ev-" + std::to_string(++n);
      event.agent_id = "agent-bench";
      event.organization_id = "org-bench";
      event.action = "token.issued";
      event.outcome = "success";
      event.timestamp = n;
      event.metadata_json = "{}";
    }
    auto appended = store.audit().AppendBatch(events, [](const agentidp::domain::AuditEvent& e) {
      return std::to_string(std::hash<std::string>{}(e.event_id + "|" + e.previous_hash));
    });
    if (!appended.ok()) state.SkipWithError("append failed");
  }
}

BENCHMARK(PlainSelect)->UseRealTime();
BENCHMARK(PipelinedScope)->UseRealTime();
BENCHMARK(SeparateRoundTrips)->UseRealTime();
BENCHMARK(StoreAgentGet)->UseRealTime();
BENCHMARK(StoreAuditAppend16)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  try {
    TheSetup();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "store_scope_bench: %s\n", e.what());
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  PGconn* admin = Connect(TheSetup().base_url);
  TheSetup().store.reset();
  MustExec(admin, "DROP SCHEMA " + TheSetup().schema + " CASCADE");
  PQfinish(admin);
  return 0;
}
