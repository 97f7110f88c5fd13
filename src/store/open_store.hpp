#pragma once

#include "core/result.hpp"
#include "domain/store.hpp"

#include <functional>
#include <memory>
#include <string>

namespace agentidp::store {

// Opens the backend a DATABASE_URL names (not migrated; call Migrate()):
//   sqlite:///abs/path.db, sqlite://rel/path.db, sqlite:rel/path.db, or a plain path -> SQLite
//   postgres://..., postgresql://...                                   -> PostgreSQL
// An unknown scheme is a Validation error.
// `error_sink` receives backend error details (never shown to clients) for the server log.
using StoreErrorSink = std::function<void(const std::string&)>;
core::Result<std::unique_ptr<domain::Store>> OpenStore(const std::string& url_or_path,
                                                       StoreErrorSink error_sink = {});

// Connection pool settings of a server store (PostgreSQL; SQLite ignores them).
struct StorePoolOptions {
  size_t pool_size = 8;
  int acquire_timeout_ms = 5000;
  int statement_timeout_ms = 5000;
  int connect_timeout_s = 5;
};
core::Result<std::unique_ptr<domain::Store>> OpenStore(const std::string& url_or_path,
                                                       const StorePoolOptions& pool,
                                                       StoreErrorSink error_sink);

}  // namespace agentidp::store
