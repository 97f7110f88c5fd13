#pragma once

// The connection pool of one PostgreSQL store and its concurrency model.
//
// - At most `pool_size` connections, opened lazily. A call leases one connection for its
//   whole duration (one statement, or one transaction), so a transaction and the
//   connection's prepared statements belong to one caller at a time. Waiting for a free
//   connection is bounded (`acquire_timeout_ms`, then Unavailable with Retry-After 1): under
//   overload the store sheds load instead of queueing without bound (DESIGN §4).
// - Self-healing: a leased connection is checked first (Connection::Healthy reads what the
//   server sent while it was idle, e.g. the FATAL of a restart or failover) and replaced if
//   broken; a connection that failed at the connection level, or is left inside a
//   transaction, is dropped when returned. When PostgreSQL comes back, the next call simply
//   connects again. After a failed connection attempt, calls that need a new connection fail
//   fast for `reconnect_backoff_ms` instead of each waiting for the connect timeout.
// - Concurrency between nodes is PostgreSQL's: READ COMMITTED transactions, row locks where
//   a read must be followed by a dependent write (the audit chain head, see audit_store.cpp),
//   unique indexes for uniqueness, and single-statement upserts for PutIfAbsent and Revoke.

#include "core/result.hpp"
#include "domain/tenant_scope.hpp"
#include "store/postgres/connection.hpp"
#include "store/postgres/postgres_options.hpp"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

namespace agentidp::store::postgres {

class Database {
 public:
  // Checks the URL and opens the first connection, so that a wrong URL, password or
  // unreachable server is reported at start-up (Validation / Unavailable).
  static core::Result<std::unique_ptr<Database>> Open(const std::string& url,
                                                      const PostgresOptions& options);
  ~Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs `fn(Connection&)` (returning Result<T> or Status) on a pooled connection in
  // autocommit mode: each statement is its own transaction.
  template <typename Fn>
  auto Run(Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
    TRY_ASSIGN(Lease lease, Acquire());
    return fn(*lease.connection);
  }

  // The same on tenant tables: every statement runs under `scope` (row-level security; see
  // Connection::BindScope: no extra round trip). Without a scope (the overload above) tenant
  // tables show no rows and accept none.
  template <typename Fn>
  auto Run(const domain::TenantScope& scope, Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
    TRY_ASSIGN(Lease lease, Acquire());
    Bind(*lease.connection, scope);
    return fn(*lease.connection);
  }

  // Runs `fn` inside BEGIN ... COMMIT (READ COMMITTED, or REPEATABLE READ READ ONLY for a
  // consistent multi-statement read); rolls back if `fn` fails or throws.
  enum class Mode { kReadCommitted, kSnapshotReadOnly };
  template <typename Fn>
  auto Transaction(Fn&& fn, Mode mode = Mode::kReadCommitted)
      -> std::invoke_result_t<Fn&, Connection&> {
    return InTransaction(nullptr, std::forward<Fn>(fn), mode);
  }
  // The same under `scope`, set transaction-locally in the round trip of BEGIN.
  template <typename Fn>
  auto Transaction(const domain::TenantScope& scope, Fn&& fn, Mode mode = Mode::kReadCommitted)
      -> std::invoke_result_t<Fn&, Connection&> {
    return InTransaction(&scope, std::forward<Fn>(fn), mode);
  }

  ErrorLog& log() { return log_; }

 private:
  template <typename Fn>
  auto InTransaction(const domain::TenantScope* scope, Fn&& fn, Mode mode)
      -> std::invoke_result_t<Fn&, Connection&> {
    TRY_ASSIGN(Lease lease, Acquire());
    Connection& connection = *lease.connection;
    if (scope != nullptr) Bind(connection, *scope);
    TRY(connection.Begin(mode == Mode::kReadCommitted
                             ? "BEGIN ISOLATION LEVEL READ COMMITTED"
                             : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    RollbackGuard guard(connection);
    auto result = fn(connection);
    if (!result.ok()) return result;
    guard.Dismiss();
    core::Status committed = Commit(connection);
    if (!committed.ok()) return std::move(committed).error();
    return result;
  }

  // Binds `scope` to the leased connection (unbound again when the lease ends).
  static void Bind(Connection& connection, const domain::TenantScope& scope);

  class Lease {
   public:
    Lease(Database* database, std::unique_ptr<Connection> connection)
        : database_(database), connection(std::move(connection)) {}
    ~Lease();
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

   private:
    Database* database_;

   public:
    std::unique_ptr<Connection> connection;
  };

  // Rolls back the connection's open transaction unless dismissed. A connection whose
  // rollback fails is left in a transaction and dropped by the pool.
  class RollbackGuard {
   public:
    explicit RollbackGuard(Connection& connection) : connection_(connection) {}
    ~RollbackGuard() {
      if (active_ && connection_.TransactionStatus() != PQTRANS_IDLE) {
        (void)connection_.Exec("ROLLBACK");
      }
    }
    RollbackGuard(const RollbackGuard&) = delete;
    RollbackGuard& operator=(const RollbackGuard&) = delete;
    void Dismiss() { active_ = false; }

   private:
    Connection& connection_;
    bool active_ = true;
  };

  Database(const std::string& url, const PostgresOptions& options);
  core::Result<Lease> Acquire();
  void Release(std::unique_ptr<Connection> connection);
  core::Status Commit(Connection& connection);

  using Clock = std::chrono::steady_clock;

  ConnectionSettings settings_;
  size_t pool_size_;
  std::chrono::milliseconds acquire_timeout_;
  std::chrono::milliseconds reconnect_backoff_;
  ErrorLog log_;

  std::mutex mutex_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t open_ = 0;  // idle + leased + being opened
  Clock::time_point reconnect_not_before_{};
};

}  // namespace agentidp::store::postgres
