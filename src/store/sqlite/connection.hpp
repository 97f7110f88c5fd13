#pragma once

// Thin RAII layer over one sqlite3 connection: a per-connection prepared-statement cache,
// typed binding, and the one mapping from SQLite result codes to core::Error.
//
// A Connection is NOT thread-safe: it is opened with SQLITE_OPEN_NOMUTEX and its owner
// (Database) hands it to one thread at a time under its own lock (see database.hpp).

#include "core/result.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace agentidp::store::sqlite {

// Collects the internal detail of store failures (SQLite messages, never shown to clients)
// and forwards it to an optional sink (the app logs it). Thread-safe.
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

// Maps a failed SQLite result code to the store error vocabulary (domain/store.hpp) and
// records `context` plus SQLite's message in `log`. The client-visible message never
// contains SQL or SQLite's text.
core::Error MapSqliteError(int rc, sqlite3* db, std::string_view context, ErrorLog& log);

class Connection;

// A cached prepared statement checked out for one execution. Resets the statement and
// clears its bindings on destruction, so a half-stepped SELECT never pins a read snapshot.
class Statement {
 public:
  Statement(sqlite3_stmt* stmt, Connection* connection) : stmt_(stmt), connection_(connection) {}
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based. Text is copied (SQLITE_TRANSIENT): callers may pass temporaries.
  void Bind(int index, std::string_view value);
  void Bind(int index, const std::string& value) { Bind(index, std::string_view(value)); }
  void Bind(int index, const char* value) { Bind(index, std::string_view(value)); }
  void Bind(int index, int64_t value);
  void Bind(int index, int value) { Bind(index, static_cast<int64_t>(value)); }
  void Bind(int index, bool value) { Bind(index, static_cast<int64_t>(value ? 1 : 0)); }
  void Bind(int index, const std::optional<int64_t>& value);
  void Bind(int index, const std::optional<std::string>& value);
  void BindNull(int index);
  // Binds text without copying it: the bytes must stay unchanged until the statement is
  // reset (or destroyed). For large multi-row statements on the hot path.
  void BindStatic(int index, std::string_view value);

  // Binds the arguments to parameters 1..N in order.
  template <typename... Args>
  void BindAll(const Args&... args) {
    int index = 0;
    (Bind(++index, args), ...);
  }

  // Makes the statement executable again with fresh bindings (reuse within one checkout).
  void Reset();

  // Advances to the next row: true when a row is available, false when done.
  core::Result<bool> Step();
  // Runs a statement that returns no rows to completion.
  core::Status Run();

  int64_t Int64(int column) const;
  std::string Text(int column) const;
  std::optional<int64_t> OptionalInt64(int column) const;
  // Booleans are stored as INTEGER 0/1.
  bool Bool(int column) const { return Int64(column) != 0; }
  bool IsNull(int column) const;

 private:
  sqlite3_stmt* stmt_;
  Connection* connection_;
  int bind_rc_ = SQLITE_OK;
};

struct ConnectionOptions {
  int busy_timeout_ms = 5000;
  bool synchronous_full = true;
  bool read_only = false;  // PRAGMA query_only: a pooled reader can never write by mistake
};

class Connection {
 public:
  static core::Result<std::unique_ptr<Connection>> Open(const std::string& path,
                                                        const ConnectionOptions& options,
                                                        ErrorLog& log);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Returns the cached prepared statement for `sql` (compiled on first use). One checkout of
  // a given `sql` at a time per connection: the Statement handles share the sqlite3_stmt.
  // `sql` must be a compile-time constant of the store files or built only from them:
  // values always go through Bind, never into the text.
  core::Result<Statement> Prepare(std::string_view sql);
  // Runs parameterless statements (BEGIN, COMMIT, PRAGMA, migration scripts).
  core::Status Exec(const char* sql);
  // Runs one parameterless statement through the statement cache (compiled once): for the
  // BEGIN/COMMIT of every write transaction.
  core::Status ExecCached(std::string_view sql);

  int64_t Changes() const;
  int64_t LastInsertRowid() const;
  bool InTransaction() const;
  sqlite3* handle() const { return db_; }

  core::Error MakeError(int rc, std::string_view context);

 private:
  Connection(sqlite3* db, ErrorLog& log) : db_(db), log_(log) {}

  sqlite3* db_;
  ErrorLog& log_;
  // Looked up by string_view without building a std::string key.
  struct SqlHash {
    using is_transparent = void;
    size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
  };
  std::unordered_map<std::string, sqlite3_stmt*, SqlHash, std::equal_to<>> statements_;
};

}  // namespace agentidp::store::sqlite
