#include "store/sqlite/database.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace agentidp::store::sqlite {

namespace {

// The database holds secret hashes and sealed signing keys: create it owner-only. SQLite
// gives the -wal and -shm files the permissions of the database file.
core::Status CreateOwnerOnly(const std::string& path, ErrorLog& log) {
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    log.Record("sqlite: cannot create directory " + parent.string() + ": " + ec.message());
    return core::Error::Internal("Store error");
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    log.Record("sqlite: cannot create " + path + ": " + std::generic_category().message(errno));
    return core::Error::Internal("Store error");
  }
  ::close(fd);
  return core::Ok();
}

}  // namespace

core::Result<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                       const SqliteOptions& options) {
  if (path.empty() || path == ":memory:" || path.starts_with("file:")) {
    // Several connections must share the file; an in-memory or URI database would not.
    return core::Error::Validation("SQLite store needs a file path");
  }
  if (sqlite3_threadsafe() == 0) return core::Error::Internal("SQLite built without threads");

  std::unique_ptr<Database> database(new Database(options));
  TRY(CreateOwnerOnly(path, database->log_));

  ConnectionOptions writer_options{.busy_timeout_ms = options.busy_timeout_ms,
                                   .synchronous_full = options.synchronous_full,
                                   .read_only = false};
  TRY_ASSIGN(database->writer_, Connection::Open(path, writer_options, database->log_));

  // Persistent in the file; a no-op when another process (or an earlier start) set it.
  {
    Connection& writer = *database->writer_;
    TRY_ASSIGN(auto stmt, writer.Prepare("PRAGMA journal_mode = WAL"));
    TRY_ASSIGN(bool has_row, stmt.Step());
    if (!has_row || stmt.Text(0) != "wal") {
      database->log_.Record("sqlite: journal_mode WAL refused for " + path);
      return core::Error::Internal("Store error");
    }
  }

  ConnectionOptions reader_options = writer_options;
  reader_options.read_only = true;
  size_t reader_count = std::max<size_t>(options.read_connections, 1);
  for (size_t i = 0; i < reader_count; ++i) {
    TRY_ASSIGN(auto reader, Connection::Open(path, reader_options, database->log_));
    database->idle_readers_.push_back(reader.get());
    database->readers_.push_back(std::move(reader));
  }
  return database;
}

core::Status Database::EndTransaction(Connection& connection, bool commit) {
  if (!connection.InTransaction()) return core::Ok();  // SQLite already rolled back
  if (commit) {
    core::Status committed = connection.ExecCached("COMMIT");
    if (committed.ok()) return committed;
    if (connection.InTransaction()) (void)connection.ExecCached("ROLLBACK");
    return committed;
  }
  return connection.ExecCached("ROLLBACK");
}

Database::ReaderLease::ReaderLease(Database& db) : database(db), connection(nullptr) {
  std::unique_lock<std::mutex> lock(database.readers_mutex_);
  database.reader_released_.wait(lock, [this] { return !database.idle_readers_.empty(); });
  connection = database.idle_readers_.back();
  database.idle_readers_.pop_back();
}

Database::ReaderLease::~ReaderLease() {
  {
    std::lock_guard<std::mutex> lock(database.readers_mutex_);
    database.idle_readers_.push_back(connection);
  }
  database.reader_released_.notify_one();
}

}  // namespace agentidp::store::sqlite
