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

#include "core/result.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/sqlite_options.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

namespace agentidp::store::sqlite {

class Database {
 public:
  static core::Result<std::unique_ptr<Database>> Open(const std::string& path,
                                                      const SqliteOptions& options);
  ~Database() = default;
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

  // Runs `fn` on the writer without an explicit transaction: for single statements, which
  // SQLite commits atomically on their own.
  template <typename Fn>
  auto Write(Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
    std::lock_guard<std::mutex> lock(writer_mutex_);
    return fn(*writer_);
  }

  // Runs `fn` on the writer inside BEGIN IMMEDIATE ... COMMIT; rolls back if `fn` fails.
  // One commit, so one WAL fsync, however many statements `fn` runs.
  template <typename Fn>
  auto WriteTransaction(Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
    std::lock_guard<std::mutex> lock(writer_mutex_);
    Connection& connection = *writer_;
    TRY(connection.ExecCached("BEGIN IMMEDIATE"));
    RollbackGuard guard(*this, connection);  // on failure, and if `fn` throws
    auto result = fn(connection);
    if (!result.ok()) return result;
    guard.Dismiss();
    core::Status committed = EndTransaction(connection, /*commit=*/true);
    if (!committed.ok()) return std::move(committed).error();
    return result;
  }

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
  // COMMIT (or ROLLBACK); a failed COMMIT is rolled back so the connection is reusable.
  core::Status EndTransaction(Connection& connection, bool commit);

  ErrorLog log_;

  std::mutex writer_mutex_;
  std::unique_ptr<Connection> writer_;

  std::mutex readers_mutex_;
  std::condition_variable reader_released_;
  std::vector<std::unique_ptr<Connection>> readers_;
  std::vector<Connection*> idle_readers_;
};

}  // namespace agentidp::store::sqlite
