#pragma once

#include "core/result.hpp"
#include "store/postgres/database.hpp"

namespace agentidp::store::postgres {

// Applies every pending migration of migrations::All(), each in its own transaction that
// first takes a transaction-scoped advisory lock and re-checks schema_migrations, so nodes
// starting at once apply each version exactly once (the others wait, then see it applied).
// DDL is transactional in PostgreSQL: a failed migration leaves no trace. Returns the schema
// version reached.
core::Result<int> ApplyMigrations(Database& database);

}  // namespace agentidp::store::postgres
