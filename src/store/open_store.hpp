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

}  // namespace agentidp::store
