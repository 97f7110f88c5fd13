#include "store/open_store.hpp"

#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <string_view>

namespace agentidp::store {

namespace {

constexpr std::string_view kSqliteUrlPrefix = "sqlite://";
constexpr std::string_view kSqliteShortPrefix = "sqlite:";

core::Result<std::unique_ptr<domain::Store>> OpenSqlite(std::string path, StoreErrorSink sink) {
  if (path.empty()) return core::Error::Validation("SQLite database path is empty");
  sqlite::SqliteOptions options;
  options.error_sink = std::move(sink);
  TRY_ASSIGN(auto store, sqlite::SqliteStore::Open(path, options));
  return std::unique_ptr<domain::Store>(std::move(store));
}

core::Result<std::unique_ptr<domain::Store>> OpenPostgres(const std::string& url,
                                                          const StorePoolOptions& pool,
                                                          StoreErrorSink sink) {
  postgres::PostgresOptions options;
  options.pool_size = pool.pool_size;
  options.acquire_timeout_ms = pool.acquire_timeout_ms;
  options.statement_timeout_ms = pool.statement_timeout_ms;
  options.connect_timeout_s = pool.connect_timeout_s;
  options.error_sink = std::move(sink);
  TRY_ASSIGN(auto store, postgres::PostgresStore::Open(url, options));
  return std::unique_ptr<domain::Store>(std::move(store));
}

}  // namespace

core::Result<std::unique_ptr<domain::Store>> OpenStore(const std::string& url_or_path,
                                                       StoreErrorSink error_sink) {
  return OpenStore(url_or_path, StorePoolOptions{}, std::move(error_sink));
}

core::Result<std::unique_ptr<domain::Store>> OpenStore(const std::string& url_or_path,
                                                       const StorePoolOptions& pool,
                                                       StoreErrorSink error_sink) {
  std::string_view url = url_or_path;
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    return OpenPostgres(url_or_path, pool, std::move(error_sink));
  }
  // sqlite:///abs -> /abs; sqlite://rel -> rel (no host part for a local file).
  if (url.starts_with(kSqliteUrlPrefix)) {
    return OpenSqlite(std::string(url.substr(kSqliteUrlPrefix.size())), std::move(error_sink));
  }
  if (url.starts_with(kSqliteShortPrefix)) {
    return OpenSqlite(std::string(url.substr(kSqliteShortPrefix.size())), std::move(error_sink));
  }
  // Any other scheme is a mistake, not a file name.
  if (auto scheme_end = url.find("://");
      scheme_end != std::string_view::npos &&
      url.substr(0, scheme_end).find('/') == std::string_view::npos) {
    return core::Error::Validation("Unsupported database URL scheme");
  }
  return OpenSqlite(url_or_path, std::move(error_sink));
}

}  // namespace agentidp::store
