#pragma once

// The tamper-evident audit log: hash chain definition, group-commit writer, verification.

#include "core/clock.hpp"
#include "core/random.hpp"
#include "core/result.hpp"
#include "domain/store.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace agentidp::domain {

// hash = lower-hex SHA-256 of the UTF-8 string
//   eventId "|" timestamp "|" action "|" outcome "|" agentId "|" organizationId "|" previousHash
// timestamp is the ISO-8601 form the API returns (2026-03-28T09:00:00.000Z); empty fields
// stay empty; the first event of a never-purged chain has previousHash "" (docs/decisions.md).
std::string AuditEventHash(const AuditEvent& ev);

// What an action asks the audit log to record. The writer fills id and timestamp.
struct AuditRecord {
  std::string agent_id;
  std::string organization_id;
  std::string action;
  std::string outcome = "success";
  std::string ip_address;
  std::string user_agent;
  std::string metadata_json = "{}";
};

// Group commit (DESIGN §4): callers enqueue events; one thread appends everything pending as
// one transaction and then completes every waiter of that batch. A completion with ok() means
// the event is durable.
//
// With a store that DefersSync() the cycle is a two-stage pipeline (docs/decisions.md, "The
// audit commit cycle: commit, then sync"): the writer thread commits a batch without syncing
// and hands it to the sync thread, which syncs (fdatasync of the WAL) and then completes every
// batch whose commit returned before that sync began; meanwhile the writer commits the next
// batch. At most one committed batch waits for the next sync: events that arrive meanwhile
// gather into the batch after it. A failed sync fails its waiters and, for good, every later
// event (the node refuses audit writes until it restarts): after a failed fsync the kernel
// may have dropped the unwritten pages, so no later sync can vouch for them.
class AuditWriter {
 public:
  using Done = std::function<void(const core::Status&)>;
  // Makes every batch committed before it began durable. Defaults to store.SyncAppended().
  using SyncFn = std::function<core::Status()>;

  AuditWriter(AuditStore& store, const core::Clock& clock, core::Random& random,
              size_t max_batch = 512, size_t max_pending = 100'000, SyncFn sync = nullptr);
  ~AuditWriter();
  AuditWriter(const AuditWriter&) = delete;
  AuditWriter& operator=(const AuditWriter&) = delete;

  // Asynchronous: `done` runs on the writer (or sync) thread once the batch holding the event
  // is durable (or failed). Refuses (Unavailable) immediately when the queue is full or after
  // a failed sync.
  void Submit(AuditRecord record, Done done);
  // Blocking convenience for non-hot paths.
  core::Status Write(AuditRecord record);
  // Fire-and-forget for records whose durability no response depends on.
  void Post(AuditRecord record) { Submit(std::move(record), nullptr); }

  // Stops after committing, syncing and completing everything queued.
  void Shutdown();
  uint64_t batches_committed() const { return batches_.load(); }
  uint64_t events_committed() const { return events_.load(); }
  uint64_t syncs() const { return syncs_.load(); }
  // True once a sync failed: every audit write is refused until the process restarts.
  bool failed() const { return failed_flag_.load(); }

 private:
  struct Pending {
    AuditEvent event;
    Done done;
  };
  // A committed batch waiting for its sync.
  struct Committed {
    std::vector<Done> done;
    size_t events = 0;
  };
  void Run();
  void RunSync();
  void Complete(std::vector<Done>& done, const core::Status& status);

  AuditStore& store_;
  const core::Clock& clock_;
  core::Random& random_;
  const size_t max_batch_;
  const size_t max_pending_;
  const bool pipelined_;
  SyncFn sync_;
  std::mutex mu_;
  std::condition_variable cv_;       // the writer waits on it
  std::condition_variable sync_cv_;  // the sync thread waits on it
  std::deque<Pending> queue_;
  bool stopping_ = false;
  bool writer_idle_ = false;     // the writer waits for events: only then does Submit notify
  bool writer_waiting_ = false;  // the writer waits on cv_ (for events or for the sync thread)
  bool writer_exited_ = false;
  std::vector<Committed> committed_;      // committed, waiting for the next sync to begin
  std::optional<core::Error> failed_;     // the first failed sync's error (sticky)
  std::atomic<bool> failed_flag_{false};  // failed_.has_value(), readable without mu_
  size_t last_batch_ = 0;                 // writer thread only
  static constexpr size_t kGatherMinBatch = 2;
  static constexpr size_t kGatherMaxBatch = 8;
  static constexpr std::chrono::microseconds kGatherDelay{1500};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> events_{0};
  std::atomic<uint64_t> syncs_{0};
  std::thread thread_;
  std::thread sync_thread_;
};

struct ChainVerification {
  bool verified = true;
  int64_t checked_count = 0;
  std::optional<std::string> broken_at_event_id;
  std::optional<int64_t> from_ms;
  std::optional<int64_t> to_ms;
};

// Recomputes every hash in [from, to] and checks every link. Without a lower bound the first
// event must chain to the store's retention anchor.
core::Result<ChainVerification> VerifyAuditChain(AuditStore& store, std::optional<int64_t> from_ms,
                                                 std::optional<int64_t> to_ms);

// Deletes events older than the retention period (90 days by default).
core::Result<int64_t> ApplyAuditRetention(AuditStore& store, const core::Clock& clock,
                                          int retention_days);

}  // namespace agentidp::domain
