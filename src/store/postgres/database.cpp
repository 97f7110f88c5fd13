#include "store/postgres/database.hpp"

#include <algorithm>

namespace agentidp::store::postgres {

core::Result<std::unique_ptr<Database>> Database::Open(const std::string& url,
                                                       const PostgresOptions& options) {
  // Parse first: a malformed URL is a configuration error, not an outage. libpq's message
  // is not passed on: it may quote the URL, password included.
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &parse_error);
  if (parsed == nullptr) {
    PQfreemem(parse_error);
    return core::Error::Validation("Invalid PostgreSQL URL");
  }
  PQconninfoFree(parsed);

  std::unique_ptr<Database> database(new Database(url, options));
  TRY_ASSIGN(Lease first, database->Acquire());
  (void)first;  // returned to the pool, ready for the first call
  return database;
}

Database::Database(const std::string& url, const PostgresOptions& options)
    : settings_{.url = url,
                .connect_timeout_s = std::max(options.connect_timeout_s, 1),
                .statement_timeout_ms = std::max(options.statement_timeout_ms, 1),
                .application_name = options.application_name},
      pool_size_(std::max<size_t>(options.pool_size, 1)),
      acquire_timeout_(std::max(options.acquire_timeout_ms, 0)),
      reconnect_backoff_(std::max(options.reconnect_backoff_ms, 0)),
      log_(options.error_sink) {}

core::Result<Database::Lease> Database::Acquire() {
  const Clock::time_point deadline = Clock::now() + acquire_timeout_;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    if (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      lock.unlock();
      if (connection->Healthy()) return Lease(this, std::move(connection));
      log_.Record("postgres: dropped a broken pooled connection");
      connection.reset();
      lock.lock();
      --open_;
      continue;  // try the next idle one, or open a replacement
    }
    if (open_ < pool_size_) {
      if (Clock::now() < reconnect_not_before_) {
        return core::Error::Unavailable("Store unavailable", 1);
      }
      ++open_;
      lock.unlock();
      auto opened = Connection::Open(settings_, log_);
      if (!opened.ok()) {
        lock.lock();
        --open_;
        reconnect_not_before_ = Clock::now() + reconnect_backoff_;
        lock.unlock();
        released_.notify_one();
        return std::move(opened).error();
      }
      return Lease(this, std::move(opened).value());
    }
    if (released_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= pool_size_) {
      log_.Record("postgres: no pooled connection became free within the acquire timeout");
      return core::Error::Unavailable("Store busy", 1);
    }
  }
}

void Database::Release(std::unique_ptr<Connection> connection) {
  connection->UnbindScope();
  if (connection->TransactionStatus() != PQTRANS_IDLE || connection->discard() ||
      PQstatus(connection->handle()) != CONNECTION_OK) {
    connection.reset();  // closes it; the next Acquire opens a fresh one
    std::lock_guard<std::mutex> lock(mutex_);
    --open_;
  } else {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(connection));
  }
  released_.notify_one();
}

void Database::Bind(Connection& connection, const domain::TenantScope& scope) {
  // The setting is a comma-separated list (the policies split it). Organization ids are UUIDs;
  // an id holding a comma could widen the list, so such a scope matches nothing instead.
  std::string organizations;
  for (const auto& id : scope.organizations()) {
    if (id.find(',') != std::string::npos) {
      organizations.clear();
      break;
    }
    if (!organizations.empty()) organizations += ',';
    organizations += id;
  }
  connection.BindScope(std::move(organizations), scope.system());
}

Database::Lease::~Lease() {
  if (connection) database_->Release(std::move(connection));
}

core::Status Database::Commit(Connection& connection) {
  // COMMIT of a transaction that already failed answers ROLLBACK without an error: never let
  // that pass for success.
  if (connection.TransactionStatus() != PQTRANS_INTRANS) {
    (void)connection.Exec("ROLLBACK");
    log_.Record("postgres: refused to commit a failed transaction");
    return core::Error::Internal("Store error");
  }
  core::Status committed = connection.Exec("COMMIT");
  if (!committed.ok() && connection.TransactionStatus() != PQTRANS_IDLE) {
    (void)connection.Exec("ROLLBACK");
  }
  return committed;
}

}  // namespace agentidp::store::postgres
