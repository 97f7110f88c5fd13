#pragma once

#include "core/result.hpp"
#include "store/sqlite/database.hpp"

namespace agentidp::store::sqlite {

// Applies every pending migration of migrations::All(), each in its own BEGIN IMMEDIATE
// transaction that re-checks schema_migrations first, so two processes starting at once
// apply each version exactly once. Returns the schema version reached.
core::Result<int> ApplyMigrations(Database& database);

}  // namespace agentidp::store::sqlite
