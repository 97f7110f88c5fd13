// Registers the SQLite backend for the contract tests: one fresh temp directory per test.

#include "contract/backends.hpp"
#include "contract/temp_dir.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace agentidp::contract {

namespace {

class SqliteTestDatabase final : public TestDatabase {
 public:
  std::unique_ptr<domain::Store> Connect() override {
    auto store = store::sqlite::SqliteStore::Open(path());
    if (!store.ok()) {
      ADD_FAILURE() << "SqliteStore::Open: " << store.error().message;
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

  std::string path() const { return (dir_.path() / "store.db").string(); }

 private:
  TempDir dir_;
};

}  // namespace

std::vector<Backend> SqliteBackends() {
  return {Backend{"sqlite", [] { return std::make_unique<SqliteTestDatabase>(); }}};
}

}  // namespace agentidp::contract
