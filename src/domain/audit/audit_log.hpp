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
class AuditWriter {
 public:
  using Done = std::function<void(const core::Status&)>;

  AuditWriter(AuditStore& store, const core::Clock& clock, core::Random& random,
              size_t max_batch = 512, size_t max_pending = 100'000);
  ~AuditWriter();
  AuditWriter(const AuditWriter&) = delete;
  AuditWriter& operator=(const AuditWriter&) = delete;

  // Asynchronous: `done` runs on the writer thread once the batch holding the event commits
  // (or fails). Refuses (Unavailable) immediately when the queue is full.
  void Submit(AuditRecord record, Done done);
  // Blocking convenience for non-hot paths.
  core::Status Write(AuditRecord record);
  // Fire-and-forget for records whose durability no response depends on.
  void Post(AuditRecord record) { Submit(std::move(record), nullptr); }

  // Stops after flushing everything queued.
  void Shutdown();
  uint64_t batches_committed() const { return batches_.load(); }
  uint64_t events_committed() const { return events_.load(); }

 private:
  struct Pending {
    AuditEvent event;
    Done done;
  };
  void Run();

  AuditStore& store_;
  const core::Clock& clock_;
  core::Random& random_;
  const size_t max_batch_;
  const size_t max_pending_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  bool writer_idle_ = false;  // the writer waits on cv_: only then does Submit notify
  size_t last_batch_ = 0;     // writer thread only
  static constexpr size_t kGatherMinBatch = 2;
  static constexpr size_t kGatherMaxBatch = 8;
  static constexpr std::chrono::microseconds kGatherDelay{1500};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> events_{0};
  std::thread thread_;
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
