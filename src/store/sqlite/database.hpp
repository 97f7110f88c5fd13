#pragma once

// The connection set of one SQLite database and its concurrency model.
//
// - One writer connection behind `writer_mutex_`. Every write goes through it, multi-statement
//   writes inside BEGIN IMMEDIATE, which takes SQLite's write lock up front: writers in this
//   process queue on the mutex, writers in other processes (`agentidp keys rotate`,
//   `agentidp migrate` while the server runs) queue on the file lock via busy_timeout, and no
//   transaction ever has to upgrade a read snapshot to a write (the SQLITE_BUSY_SNAPSHOT trap
//   of deferred transactions in WAL mode).
// - A pool of reader connections (query_only). In WAL mode readers never block the writer nor
//   each other, so reads scale with the pool while writes stay serialized.
// - Connections are opened SQLITE_OPEN_NOMUTEX: each is used by one thread at a time under our
//   own lock (writer mutex or pool lease), which we need anyway to keep a transaction and the
//   connection's cached statements to one caller; SQLite's FULLMUTEX per-call mutex would only
//   add a second lock to every call.
// - A second writer connection for writes whose durability the caller establishes later
//   (Sync::kDeferred: the audit writer's batches). It commits with synchronous=NORMAL (no
//   fsync inside COMMIT) and shares `writer_mutex_`, so the two writers never contend for
//   SQLite's write lock; SyncWal() then fdatasyncs the WAL through a descriptor of our own.
//   Every other write keeps the configured synchronous setting.
// - Checkpoints run on a background connection (PASSIVE, once the WAL holds
//   kCheckpointFrames frames), never inside a writer's COMMIT; past kWalHardLimitFrames a
//   RESTART checkpoint makes writers wait until the WAL can start over, which bounds its size.

#include "core/result.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/sqlite_options.hpp"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace agentidp::store::sqlite {

class Database {
 public:
  static core::Result<std::unique_ptr<Database>> Open(const std::string& path,
                                                      const SqliteOptions& options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs `fn(Connection&)` (returning Result<T> or Status) on a pooled reader, each
  // statement in its own implicit read transaction.
  template <typename Fn>
  auto Read(Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
    ReaderLease lease(*this);
    return fn(*lease.connection);
  }

  // Like Read, but every statement of `fn` sees one snapshot (e.g. COUNT(*) and the page).
  template <typename Fn>
  auto ReadSnapshot(Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
    ReaderLease lease(*this);
    Connection& connection = *lease.connection;
    TRY(connection.Exec("BEGIN"));
    RollbackGuard guard(*this, connection);  // nothing to commit; ends the snapshot
    return fn(connection);
  }

  // When a write is durable: when its COMMIT returns (the configured synchronous setting,
  // FULL by default), or only after a later SyncWal() (kDeferred).
  enum class Sync { kAtCommit, kDeferred };

  // Runs `fn` on the writer without an explicit transaction: for single statements, which
  // SQLite commits atomically on their own.
  template <typename Fn>
  auto Write(Fn&& fn, Sync sync = Sync::kAtCommit) -> std::invoke_result_t<Fn&, Connection&> {
    std::lock_guard<std::mutex> lock(writer_mutex_);
    return fn(Writer(sync));
  }

  // Runs `fn` on the writer inside BEGIN IMMEDIATE ... COMMIT; rolls back if `fn` fails.
  // One commit, so one WAL fsync, however many statements `fn` runs.
  template <typename Fn>
  auto WriteTransaction(Fn&& fn, Sync sync = Sync::kAtCommit)
      -> std::invoke_result_t<Fn&, Connection&> {
    std::lock_guard<std::mutex> lock(writer_mutex_);
    Connection& connection = Writer(sync);
    TRY(connection.ExecCached("BEGIN IMMEDIATE"));
    RollbackGuard guard(*this, connection);  // on failure, and if `fn` throws
    auto result = fn(connection);
    if (!result.ok()) return result;
    guard.Dismiss();
    core::Status committed = EndTransaction(connection, /*commit=*/true);
    if (!committed.ok()) return std::move(committed).error();
    return result;
  }

  // True when kDeferred writes are possible (the WAL could be opened for SyncWal).
  bool CanDeferSync() const { return wal_fd_ >= 0; }
  // fdatasync of the WAL: every kDeferred write whose COMMIT returned before this call began
  // is durable once it succeeds. A failure is final for the process (see audit_log.hpp).
  core::Status SyncWal();

  ErrorLog& log() { return log_; }

 private:
  struct ReaderLease {
    explicit ReaderLease(Database& database);
    ~ReaderLease();
    ReaderLease(const ReaderLease&) = delete;
    ReaderLease& operator=(const ReaderLease&) = delete;
    Database& database;
    Connection* connection;
  };

  // Rolls back the connection's open transaction unless dismissed.
  class RollbackGuard {
   public:
    RollbackGuard(Database& database, Connection& connection)
        : database_(database), connection_(connection) {}
    ~RollbackGuard() {
      if (active_) (void)database_.EndTransaction(connection_, /*commit=*/false);
    }
    RollbackGuard(const RollbackGuard&) = delete;
    RollbackGuard& operator=(const RollbackGuard&) = delete;
    void Dismiss() { active_ = false; }

   private:
    Database& database_;
    Connection& connection_;
    bool active_ = true;
  };

  explicit Database(const SqliteOptions& options) : log_(options.error_sink) {}
  Connection& Writer(Sync sync) { return sync == Sync::kDeferred ? *deferred_writer_ : *writer_; }
  // sqlite3_wal_hook of both writers (replaces their autocheckpoint): wakes the checkpointer.
  static int OnWalCommit(void* database, sqlite3* db, const char* name, int frames);
  void RunCheckpointer();
  // COMMIT (or ROLLBACK); a failed COMMIT is rolled back so the connection is reusable.
  core::Status EndTransaction(Connection& connection, bool commit);

  ErrorLog log_;

  std::string path_;

  std::mutex writer_mutex_;
  std::unique_ptr<Connection> writer_;
  std::unique_ptr<Connection> deferred_writer_;  // synchronous=NORMAL, for Sync::kDeferred
  int wal_fd_ = -1;                              // <path>-wal, for SyncWal

  static constexpr int kCheckpointFrames = 1000;      // SQLite's autocheckpoint default
  static constexpr int kWalHardLimitFrames = 16'000;  // ~64 MiB of 4 KiB pages
  std::unique_ptr<Connection> checkpointer_;
  std::atomic<int> next_checkpoint_at_{kCheckpointFrames};
  std::atomic<int> wal_frames_{0};
  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_wanted_;
  bool checkpoint_requested_ = false;
  bool checkpointer_stopping_ = false;
  std::thread checkpoint_thread_;

  std::mutex readers_mutex_;
  std::condition_variable reader_released_;
  std::vector<std::unique_ptr<Connection>> readers_;
  std::vector<Connection*> idle_readers_;
};

}  // namespace agentidp::store::sqlite
