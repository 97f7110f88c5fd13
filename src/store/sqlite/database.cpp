#include "store/sqlite/database.hpp"

#include <fcntl.h>
#include <pthread.h>
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

  // The deferred writer, and the WAL descriptor SyncWal flushes (the first read in WAL mode
  // creates the -wal file; SQLite deletes it only when the last connection closes, so the
  // inode stays the same while this Database lives). Opened before any deferred commit, so
  // that a writeback error of the WAL is reported to this descriptor's fdatasync.
  ConnectionOptions deferred_options = writer_options;
  deferred_options.synchronous_full = false;
  TRY_ASSIGN(database->deferred_writer_, Connection::Open(path, deferred_options, database->log_));
  TRY(database->deferred_writer_->Exec("SELECT count(*) FROM sqlite_master"));
  database->path_ = path;
  database->wal_fd_ = ::open((path + "-wal").c_str(), O_RDONLY | O_CLOEXEC);
  if (database->wal_fd_ < 0) {
    // Audit batches then commit durably (synchronous as configured), as before.
    database->log_.Record("sqlite: cannot open " + path +
                          "-wal: " + std::generic_category().message(errno));
  }

  // Checkpoints move out of the writers' COMMITs (their wal hook replaces autocheckpoint).
  ConnectionOptions checkpointer_options = writer_options;
  checkpointer_options.synchronous_full = true;  // a checkpoint syncs the WAL and the database
  TRY_ASSIGN(database->checkpointer_, Connection::Open(path, checkpointer_options, database->log_));
  sqlite3_wal_hook(database->writer_->handle(), &Database::OnWalCommit, database.get());
  sqlite3_wal_hook(database->deferred_writer_->handle(), &Database::OnWalCommit, database.get());
  database->checkpoint_thread_ = std::thread([db = database.get()] { db->RunCheckpointer(); });

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

Database::~Database() {
  {
    std::lock_guard<std::mutex> lock(checkpoint_mutex_);
    checkpointer_stopping_ = true;
  }
  checkpoint_wanted_.notify_one();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  if (wal_fd_ >= 0) ::close(wal_fd_);
}

core::Status Database::SyncWal() {
  if (wal_fd_ < 0) return core::Error::Internal("Store error");
  // On Linux an fdatasync through any descriptor of the inode writes out all its dirty pages,
  // the ones SQLite's own descriptor wrote included.
  if (::fdatasync(wal_fd_) != 0) {
    log_.Record("sqlite: fdatasync of " + path_ +
                "-wal failed: " + std::generic_category().message(errno));
    return core::Error::Internal("Store error");
  }
  return core::Ok();
}

int Database::OnWalCommit(void* database, sqlite3* /*db*/, const char* /*name*/, int frames) {
  auto* self = static_cast<Database*>(database);
  self->wal_frames_.store(frames, std::memory_order_relaxed);
  if (frames >= self->next_checkpoint_at_.load(std::memory_order_relaxed)) {
    // Until the checkpointer has run, later commits ask again only 1000 frames further on.
    self->next_checkpoint_at_.store(frames + kCheckpointFrames, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(self->checkpoint_mutex_);
      self->checkpoint_requested_ = true;
    }
    self->checkpoint_wanted_.notify_one();
  }
  return SQLITE_OK;
}

void Database::RunCheckpointer() {
  pthread_setname_np(pthread_self(), "agentidp-ckpt");
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(checkpoint_mutex_);
      checkpoint_wanted_.wait(lock,
                              [this] { return checkpointer_stopping_ || checkpoint_requested_; });
      if (checkpointer_stopping_) return;
      checkpoint_requested_ = false;
    }
    // PASSIVE copies what no reader still needs without blocking anyone. Past the hard limit
    // (readers kept the WAL from starting over), RESTART waits for them and holds writers
    // back until the WAL can be reused.
    const bool restart = wal_frames_.load(std::memory_order_relaxed) >= kWalHardLimitFrames;
    int log_frames = 0;
    int checkpointed = 0;
    int rc =
        sqlite3_wal_checkpoint_v2(checkpointer_->handle(), nullptr,
                                  restart ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE,
                                  &log_frames, &checkpointed);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      (void)checkpointer_->MakeError(rc, "checkpoint");  // records the detail
    }
    // Everything copied: the next writer starts the WAL over, and its frame count with it.
    if (rc == SQLITE_OK && log_frames == checkpointed)
      next_checkpoint_at_.store(kCheckpointFrames, std::memory_order_relaxed);
  }
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
