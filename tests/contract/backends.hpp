#pragma once

// Store contract tests are written once and run against every backend (DESIGN §6.4).
//
// A backend registers a function in backends.cpp returning the backends it can run here
// (none when, say, its server is not configured). Each test gets a fresh, empty database
// from Backend::make and opens handles on it with TestDatabase::Connect.

#include "domain/store.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace agentidp::contract {

// One fresh, empty database, dropped when this object is destroyed.
class TestDatabase {
 public:
  virtual ~TestDatabase() = default;
  // Opens a new, independent handle on the database (its own connections, as another process
  // or node would have), migrated. Returns nullptr after reporting a test failure.
  virtual std::unique_ptr<domain::Store> Connect() = 0;
};

struct Backend {
  std::string name;  // [A-Za-z0-9_]+, becomes the test-name suffix
  std::function<std::unique_ptr<TestDatabase>()> make;
};

// Registration functions, one per backend source file.
std::vector<Backend> SqliteBackends();
// Empty unless AGENTIDP_TEST_PG_URL names a PostgreSQL server (scripts/with-postgres.sh).
std::vector<Backend> PostgresBackends();

// Every backend registered and available in this environment.
const std::vector<Backend>& AllBackends();

std::string BackendName(const ::testing::TestParamInfo<Backend>& info);

class StoreContract : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  domain::Store& store() { return *store_; }
  // A second handle on the same database, like another process or node.
  std::unique_ptr<domain::Store> ConnectAnother() { return database_->Connect(); }

 private:
  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<domain::Store> store_;
};

}  // namespace agentidp::contract

// Declares a contract suite and instantiates it over every backend.
#define AGENTIDP_CONTRACT_SUITE(suite)                                               \
  class suite : public ::agentidp::contract::StoreContract {};                       \
  INSTANTIATE_TEST_SUITE_P(Backends, suite,                                          \
                           ::testing::ValuesIn(::agentidp::contract::AllBackends()), \
                           ::agentidp::contract::BackendName)
