#include "contract/backends.hpp"

namespace agentidp::contract {

namespace {

using Registration = std::vector<Backend> (*)();

constexpr Registration kRegistrations[] = {
    &SqliteBackends,
    &PostgresBackends,  // only when AGENTIDP_TEST_PG_URL is set
};

}  // namespace

const std::vector<Backend>& AllBackends() {
  static const std::vector<Backend> backends = [] {
    std::vector<Backend> all;
    for (Registration registration : kRegistrations) {
      for (auto& backend : registration()) all.push_back(std::move(backend));
    }
    return all;
  }();
  return backends;
}

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param.name;
}

void StoreContract::SetUp() {
  database_ = GetParam().make();
  ASSERT_NE(database_, nullptr);
  store_ = database_->Connect();
  ASSERT_NE(store_, nullptr);
}

void StoreContract::TearDown() {
  store_.reset();
  database_.reset();
}

}  // namespace agentidp::contract
