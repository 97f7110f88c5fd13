#pragma once

// The tamper-evident audit log: hash chain definition, group-commit writer, verification.

#include "core/clock.hpp"
#include "core/metrics.hpp"
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

// When the writer gathers a small batch before committing it (AuditWriter::Run). A commit
// costs about the same whatever it carries (its fdatasync dominates), so when events trickle
// in from busy producers (every request spends most of its time signing RS256, say) waiting
// for a few more saves a commit per few tokens; when nobody else is coming it only adds
// latency. So the writer waits only while events keep arriving: a batch that starts with
// fewer than `below` events (and is not a lone client's: one event now and one in the last
// batch) waits in steps of `step` for as long as each step brought a new event, until it holds
// `target` events or `cap` has passed. The first step without an arrival ends the wait.
struct AuditGather {
  size_t below = 8;
  size_t target = 32;
  std::chrono::microseconds step{400};
  std::chrono::microseconds cap{4000};
};

// Group commit (DESIGN §4): callers enqueue events; one thread appends everything pending as
// one transaction and then completes every waiter of that batch. A completion with ok() means
// the event is durable.
class AuditWriter {
 public:
  using Done = std::function<void(const core::Status&)>;

  AuditWriter(AuditStore& store, const core::Clock& clock, core::Random& random,
              size_t max_batch = 512, size_t max_pending = 100'000, AuditGather gather = {});
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
  // Counts committed batches and events into these counters from now on (/metrics: their
  // ratio is the events per commit). Either may be null.
  void AttachMetrics(core::Counter* batches, core::Counter* events) {
    batches_metric_.store(batches);
    events_metric_.store(events);
  }

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
  const AuditGather gather_;
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> events_{0};
  std::atomic<core::Counter*> batches_metric_{nullptr};
  std::atomic<core::Counter*> events_metric_{nullptr};
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
