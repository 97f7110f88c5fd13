// Registers the PostgreSQL backend for the contract tests when AGENTIDP_TEST_PG_URL names a
// server (scripts/with-postgres.sh sets it): one fresh schema per test in that database, used
// as a role that row-level security applies to (so every contract test also runs through the
// policies and the store's tenant scopes).
// Without it, no PostgreSQL test is registered at all, so the counts stay honest.

#include "contract/backends.hpp"
#include "contract/pg_support.hpp"
#include "store/postgres/postgres_store.hpp"

namespace agentidp::contract {

namespace {

class PostgresTestDatabase final : public TestDatabase {
 public:
  explicit PostgresTestDatabase(const std::string& base_url) : schema_(base_url) {}

  std::unique_ptr<domain::Store> Connect() override {
    auto store = store::postgres::PostgresStore::Open(schema_.url());
    if (!store.ok()) {
      ADD_FAILURE() << "PostgresStore::Open: " << store.error().message;
      return nullptr;
    }
    auto version = (*store)->Migrate();
    if (!version.ok()) {
      ADD_FAILURE() << "Migrate: " << version.error().message << " / "
                    << (*store)->LastErrorDetail();
      return nullptr;
    }
    return std::move(store).value();
  }

 private:
  AppRoleSchema schema_;
};

}  // namespace

std::vector<Backend> PostgresBackends() {
  auto url = PgTestUrl();
  if (!url) return {};
  return {
      Backend{"postgres", [base = *url] { return std::make_unique<PostgresTestDatabase>(base); }}};
}

}  // namespace agentidp::contract
