#include "store/sqlite/connection.hpp"

#include <string>
#include <utility>

namespace agentidp::store::sqlite {

void ErrorLog::Record(std::string detail) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    last_ = detail;
  }
  if (sink_) sink_(detail);
}

std::string ErrorLog::Last() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_;
}

core::Error MapSqliteError(int rc, sqlite3* db, std::string_view context, ErrorLog& log) {
  std::string detail = "sqlite: ";
  detail.append(context);
  detail += ": ";
  detail += sqlite3_errstr(rc);
  if (db != nullptr && sqlite3_extended_errcode(db) == rc) {
    detail += " (";
    detail += sqlite3_errmsg(db);
    detail += ")";
  }
  detail += " [rc=" + std::to_string(rc) + "]";
  log.Record(std::move(detail));

  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return core::Error::Conflict("CONFLICT", "Resource already exists");
      }
      return core::Error::Internal("Store error");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      // Only reached once busy_timeout has elapsed: another writer holds the database.
      return core::Error::Unavailable("Store busy", 1);
    default:
      return core::Error::Internal("Store error");
  }
}

// ---------------------------------------------------------------------------------------
// Statement

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      connection_(other.connection_),
      bind_rc_(other.bind_rc_) {}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_rc_ = SQLITE_OK;
}

void Statement::Bind(int index, std::string_view value) {
  int rc = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                             SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Statement::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Statement::Bind(int index, const std::optional<int64_t>& value) {
  if (value) {
    Bind(index, *value);
  } else {
    BindNull(index);
  }
}

void Statement::Bind(int index, const std::optional<std::string>& value) {
  if (value) {
    Bind(index, std::string_view(*value));
  } else {
    BindNull(index);
  }
}

void Statement::BindStatic(int index, std::string_view value) {
  int rc =
      sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

core::Result<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) return connection_->MakeError(bind_rc_, "bind");
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return connection_->MakeError(rc, "step");
}

core::Status Statement::Run() {
  while (true) {
    auto row = Step();
    if (!row.ok()) return std::move(row).error();
    if (!*row) return core::Ok();
  }
}

int64_t Statement::Int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::string Statement::Text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::optional<int64_t> Statement::OptionalInt64(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Int64(column);
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// ---------------------------------------------------------------------------------------
// Connection

core::Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path,
                                                           const ConnectionOptions& options,
                                                           ErrorLog& log) {
  sqlite3* db = nullptr;
  // NOMUTEX: the owner serializes use of the connection (see database.hpp).
  int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    core::Error error = MapSqliteError(rc, db, "open", log);
    sqlite3_close_v2(db);
    return error;
  }
  sqlite3_extended_result_codes(db, 1);
  // Waits (sleeping and retrying) for another connection's lock, in this process or
  // another one, before giving up with SQLITE_BUSY.
  sqlite3_busy_timeout(db, options.busy_timeout_ms);

  std::unique_ptr<Connection> connection(new Connection(db, log));
  // Per-connection settings; journal_mode=WAL is persistent and set by Database::Open.
  TRY(connection->Exec("PRAGMA foreign_keys = ON"));
  TRY(connection->Exec(options.synchronous_full ? "PRAGMA synchronous = FULL"
                                                : "PRAGMA synchronous = NORMAL"));
  if (options.read_only) TRY(connection->Exec("PRAGMA query_only = ON"));
  // The writer's statement journals (every INSERT into audit_events has one: its chain trigger
  // may abort the statement) stay in memory instead of spilling into a temporary file.
  if (!options.read_only) TRY(connection->Exec("PRAGMA temp_store = MEMORY"));
  // Hot pages are read through a memory map and a larger page cache instead of read()
  // syscalls: the audit writer's index inserts touch the same few pages batch after batch.
  TRY(connection->Exec("PRAGMA mmap_size = 268435456"));
  TRY(connection->Exec("PRAGMA cache_size = -32768"));
  return connection;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

core::Result<Statement> Connection::Prepare(std::string_view sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return Statement(it->second, this);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return MakeError(rc, "prepare");
  }
  statements_.emplace(std::string(sql), stmt);
  return Statement(stmt, this);
}

core::Status Connection::Exec(const char* sql) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return MakeError(rc, "exec");
  return core::Ok();
}

core::Status Connection::ExecCached(std::string_view sql) {
  TRY_ASSIGN(auto statement, Prepare(sql));
  return statement.Run();
}

int64_t Connection::Changes() const {
  return sqlite3_changes64(db_);
}

int64_t Connection::LastInsertRowid() const {
  return sqlite3_last_insert_rowid(db_);
}

bool Connection::InTransaction() const {
  return sqlite3_get_autocommit(db_) == 0;
}

core::Error Connection::MakeError(int rc, std::string_view context) {
  return MapSqliteError(rc, db_, context, log_);
}

}  // namespace agentidp::store::sqlite
