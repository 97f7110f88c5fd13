#pragma once

// Thin RAII layer over one libpq connection: parameterised statements (prepared once per
// connection and cached by their text), text-format results, and the one mapping from
// PostgreSQL failures (SQLSTATE, lost connections) to core::Error.
//
// A Connection is NOT thread-safe: its owner (Database, the pool) hands it to one thread at a
// time (see database.hpp).

#include "core/result.hpp"

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

namespace agentidp::store::postgres {

// Collects the internal detail of store failures (never shown to clients) and forwards it to
// an optional sink (the app logs it). Thread-safe.
class ErrorLog {
 public:
  explicit ErrorLog(std::function<void(const std::string&)> sink) : sink_(std::move(sink)) {}
  void Record(std::string detail);
  std::string Last() const;

 private:
  std::function<void(const std::string&)> sink_;
  mutable std::mutex mutex_;
  std::string last_;
};

// Maps a failed statement (its result, possibly null when the connection broke) to the store
// error vocabulary (domain/store.hpp) and records `context` plus PostgreSQL's primary message,
// SQLSTATE and constraint name in `log`. Never DETAIL (it may quote values), never SQL text.
//   23505 unique_violation                                      -> Conflict "CONFLICT"
//   class 08, 57P01-03, 25006 (read-only standby), 53xxx, or no SQLSTATE on a broken
//   connection                                                  -> Unavailable (retry 1 s)
//   40001, 40P01, 55P03, 57014 (serialization, deadlock, lock and statement timeouts)
//                                                               -> Unavailable (retry 1 s)
//   22021 (text that is not UTF-8)                              -> Validation
//   42501 (a row-level security policy refused a row: the call's tenant scope does not
//   cover it)                                                   -> Forbidden "cross_tenant"
//   anything else                                               -> Internal "Store error"
core::Error MapPgError(const PGresult* result, PGconn* conn, std::string_view context,
                       ErrorLog& log);

// One text-format statement parameter, or SQL NULL. Integers travel as decimal text and the
// server infers each parameter's type from the statement (add a cast where it cannot).
// Implicit on purpose, so that QueryArgs(sql, id, count, maybe_time) reads like the SQL.
class Param {
 public:
  // NOLINTBEGIN(google-explicit-constructor)
  Param(std::string_view value) : value_(std::string(value)) {}
  Param(const std::string& value) : value_(value) {}
  Param(const char* value) : value_(std::string(value)) {}
  Param(int64_t value) : value_(std::to_string(value)) {}
  Param(int value) : value_(std::to_string(value)) {}
  Param(bool value) : value_(value ? "true" : "false") {}
  Param(std::nullopt_t) {}
  Param(const std::optional<int64_t>& value) {
    if (value) value_ = std::to_string(*value);
  }
  Param(const std::optional<std::string>& value) : value_(value) {}
  // NOLINTEND(google-explicit-constructor)

  // nullptr for NULL.
  const char* c_str() const { return value_ ? value_->c_str() : nullptr; }
  // libpq reads text parameters up to the first NUL: a value holding one would be truncated
  // silently, so such values are refused instead.
  bool HasEmbeddedNul() const { return value_ && value_->find('\0') != std::string::npos; }

 private:
  std::optional<std::string> value_;
};

// The rows (text format) of one successful statement.
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result, &PQclear) {}

  int size() const { return PQntuples(result_.get()); }
  bool empty() const { return size() == 0; }
  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string Text(int row, int column) const;
  int64_t Int64(int row, int column) const;
  std::optional<int64_t> OptionalInt64(int row, int column) const;
  bool Bool(int row, int column) const;
  // Rows changed by an INSERT/UPDATE/DELETE (PQcmdTuples).
  int64_t Affected() const;

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> result_;
};

// A view of one row, with columns numbered from `offset` (ListPage puts a total first).
class Row {
 public:
  Row(const Rows& rows, int row, int offset = 0) : rows_(rows), row_(row), offset_(offset) {}
  bool IsNull(int column) const { return rows_.IsNull(row_, offset_ + column); }
  std::string Text(int column) const { return rows_.Text(row_, offset_ + column); }
  int64_t Int64(int column) const { return rows_.Int64(row_, offset_ + column); }
  std::optional<int64_t> OptionalInt64(int column) const {
    return rows_.OptionalInt64(row_, offset_ + column);
  }
  bool Bool(int column) const { return rows_.Bool(row_, offset_ + column); }

 private:
  const Rows& rows_;
  int row_;
  int offset_;
};

struct ConnectionSettings {
  std::string url;  // postgres://... or key=value conninfo; may hold a password: never log it
  int connect_timeout_s = 5;
  int statement_timeout_ms = 5000;
  std::string application_name = "agentidp";
};

class Connection {
 public:
  // Connects, checks the server (version, UTF8 encoding) and applies the session settings.
  static core::Result<std::unique_ptr<Connection>> Open(const ConnectionSettings& settings,
                                                        ErrorLog& log);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs a parameterised statement, prepared on first use on this connection and cached by
  // its text. `sql` must be a constant of the store files or assembled only from them (a
  // bounded set of texts): values always travel as parameters.
  core::Result<Rows> Query(std::string_view sql, std::span<const Param> params = {});
  template <typename... Args>
  core::Result<Rows> QueryArgs(std::string_view sql, const Args&... args) {
    const Param params[] = {Param(args)...};
    return Query(sql, params);
  }
  // Runs a parameterised statement without preparing it: for texts that vary with the data
  // (a multi-row INSERT whose row count is the batch size).
  core::Result<Rows> QueryOnce(const std::string& sql, std::span<const Param> params);
  // Runs parameterless SQL with the simple protocol (BEGIN, COMMIT, migration scripts with
  // several statements).
  core::Status Exec(const char* sql);

  // Tenant scope (row-level security, see migrations.cpp). While a scope is bound, every
  // statement sent outside an explicit transaction travels in one libpq pipeline with
  // `set_config(..., is_local => true)` before it: both run in one implicit transaction
  // (extended protocol, one Sync), so the setting covers exactly that statement, costs no
  // extra round trip, and is gone when the statement's transaction ends. `organizations` is
  // a comma-separated list of organization ids ("" for none); `system` opens the system
  // scope. The pool unbinds the scope when the connection is returned.
  void BindScope(std::string organizations, bool system);
  void UnbindScope();
  // BEGIN (`begin_sql`), and with a bound scope the transaction-local set_config in the same
  // pipeline: one round trip, and the scope holds until COMMIT or ROLLBACK.
  core::Status Begin(const char* begin_sql);

  // False when the connection is known to be broken. Reads whatever the server sent while the
  // connection sat idle (without blocking), so a backend that was terminated (server restart,
  // pg_terminate_backend, failover) is noticed before a statement is sent on it: the server
  // sends a FATAL message, then closes the socket.
  bool Healthy();
  // PQTRANS_IDLE, PQTRANS_INTRANS, PQTRANS_INERROR, ...
  PGTransactionStatusType TransactionStatus() const { return PQtransactionStatus(conn_); }
  PGconn* handle() const { return conn_; }
  // True after an error that leaves the session unusable for this store even if libpq still
  // reports it connected (e.g. the server turned into a read-only standby): the pool drops it.
  bool discard() const { return discard_; }

  core::Error MakeError(const PGresult* result, std::string_view context);

 private:
  Connection(PGconn* conn, ErrorLog& log) : conn_(conn), log_(log) {}
  static void OnNotice(void* self, const PGresult* notice);
  core::Result<Rows> Finish(PGresult* result, std::string_view context);
  core::Status CheckParams(std::span<const Param> params);
  // The prepared name of `sql` on this connection, preparing it on first use.
  core::Result<std::string> Prepared(std::string_view sql, int param_count);
  // Sends the scope's set_config and the statement that `send` queues in one pipeline (one
  // Sync, one round trip) and returns the statement's result. kStatementFirst is for BEGIN.
  enum class Order { kScopeFirst, kStatementFirst };
  core::Result<Rows> Pipelined(const std::function<int()>& send, std::string_view context,
                               Order order = Order::kScopeFirst);
  bool scoped() const { return scope_bound_ && PQtransactionStatus(conn_) == PQTRANS_IDLE; }

  PGconn* conn_;
  ErrorLog& log_;
  std::unordered_map<std::string, std::string> statements_;  // sql -> prepared name
  bool discard_ = false;
  bool scope_bound_ = false;
  std::string scope_organizations_;
  std::string scope_system_;  // "on" or ""
};

}  // namespace agentidp::store::postgres
