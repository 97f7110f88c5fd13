#pragma once

#include "core/result.hpp"
#include "domain/store.hpp"

#include <memory>
#include <string>

namespace agentidp::store {

// Opens the backend a DATABASE_URL names (not migrated; call Migrate()):
//   sqlite:///abs/path.db, sqlite://rel/path.db, sqlite:rel/path.db, or a plain path -> SQLite
//   postgres://..., postgresql://...                                   -> PostgreSQL
// An unknown scheme is a Validation error.
core::Result<std::unique_ptr<domain::Store>> OpenStore(const std::string& url_or_path);

}  // namespace agentidp::store
