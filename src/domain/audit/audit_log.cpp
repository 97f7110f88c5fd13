#include "domain/audit/audit_log.hpp"

#include "crypto/hash.hpp"

#include <algorithm>
#include <chrono>

namespace agentidp::domain {

std::string AuditEventHash(const AuditEvent& ev) {
  char timestamp[core::kIso8601MaxSize];
  const size_t timestamp_size = core::FormatIso8601To(ev.timestamp, timestamp);
  // One buffer per thread: the writer hashes every event of every batch.
  thread_local std::string input;
  input.clear();
  input.append(ev.event_id).push_back('|');
  input.append(timestamp, timestamp_size).push_back('|');
  input.append(ev.action).push_back('|');
  input.append(ev.outcome).push_back('|');
  input.append(ev.agent_id).push_back('|');
  input.append(ev.organization_id).push_back('|');
  input.append(ev.previous_hash);
  return crypto::Sha256Hex(input);
}

AuditWriter::AuditWriter(AuditStore& store, const core::Clock& clock, core::Random& random,
                         size_t max_batch, size_t max_pending, AuditGather gather)
    : store_(store),
      clock_(clock),
      random_(random),
      max_batch_(max_batch),
      max_pending_(max_pending),
      gather_(gather),
      thread_([this] { Run(); }) {}

AuditWriter::~AuditWriter() {
  Shutdown();
}

void AuditWriter::Submit(AuditRecord record, Done done) {
  Pending p;
  p.event.timestamp = clock_.NowMs();
  p.event.event_id = random_.UuidV7(p.event.timestamp);
  p.event.agent_id = std::move(record.agent_id);
  p.event.organization_id = std::move(record.organization_id);
  p.event.action = std::move(record.action);
  p.event.outcome = std::move(record.outcome);
  p.event.ip_address = std::move(record.ip_address);
  p.event.user_agent = std::move(record.user_agent);
  p.event.metadata_json = std::move(record.metadata_json);
  p.done = std::move(done);
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && queue_.size() < max_pending_) {
      queue_.push_back(std::move(p));
      if (writer_idle_) cv_.notify_one();
      return;
    }
  }
  if (p.done) p.done(core::Error::Unavailable("Audit log is overloaded", 1));
}

core::Status AuditWriter::Write(AuditRecord record) {
  std::mutex m;
  std::condition_variable cv;
  std::optional<core::Status> result;
  Submit(std::move(record), [&](const core::Status& s) {
    std::lock_guard lock(m);
    result = s;
    cv.notify_one();
  });
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return result.has_value(); });
  return *result;
}

void AuditWriter::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void AuditWriter::Run() {
  std::vector<AuditEvent> events;
  std::vector<Done> done;
  events.reserve(max_batch_);
  done.reserve(max_batch_);
  for (;;) {
    {
      std::unique_lock lock(mu_);
      writer_idle_ = true;
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      writer_idle_ = false;
      if (queue_.empty() && stopping_) return;
      // A small batch while events keep coming (AuditGather): wait for company, step by step,
      // for as long as every step brings someone new.
      if (!stopping_ && queue_.size() < gather_.below && (queue_.size() >= 2 || last_batch_ >= 2)) {
        const auto deadline = std::chrono::steady_clock::now() + gather_.cap;
        size_t seen = queue_.size();
        while (!stopping_ && seen < gather_.target) {
          const auto now = std::chrono::steady_clock::now();
          if (now >= deadline) break;
          // Shutdown wakes it; a Submit does not (it notifies only an idle writer).
          cv_.wait_for(lock,
                       std::min<std::chrono::steady_clock::duration>(gather_.step, deadline - now),
                       [&] { return stopping_; });
          if (queue_.size() == seen) break;  // a quiet step: whoever was coming is here
          seen = queue_.size();
        }
      }
      while (!queue_.empty() && events.size() < max_batch_) {
        events.push_back(std::move(queue_.front().event));
        done.push_back(std::move(queue_.front().done));
        queue_.pop_front();
      }
    }
    core::Status status = store_.AppendBatch(events, AuditEventHash);
    // A transient failure (busy store) gets one more try before the waiters are failed.
    if (!status.ok() && status.error().kind == core::Errc::kUnavailable) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      status = store_.AppendBatch(events, AuditEventHash);
    }
    last_batch_ = events.size();
    if (status.ok()) {
      batches_.fetch_add(1, std::memory_order_relaxed);
      events_.fetch_add(events.size(), std::memory_order_relaxed);
      if (core::Counter* c = batches_metric_.load(std::memory_order_relaxed)) c->Inc();
      if (core::Counter* c = events_metric_.load(std::memory_order_relaxed)) c->Inc(events.size());
    }
    for (auto& d : done)
      if (d) d(status);
    done.clear();
    events.clear();
  }
}

core::Result<ChainVerification> VerifyAuditChain(AuditStore& store, std::optional<int64_t> from_ms,
                                                 std::optional<int64_t> to_ms) {
  ChainVerification result;
  result.from_ms = from_ms;
  result.to_ms = to_ms;
  std::optional<std::string> expected_previous;
  if (!from_ms) {
    TRY_ASSIGN(std::string anchor, store.ChainAnchor());
    expected_previous = std::move(anchor);
  }
  TRY(store.Scan(from_ms, to_ms, [&](const AuditEvent& ev) {
    ++result.checked_count;
    bool ok = (!expected_previous || ev.previous_hash == *expected_previous) &&
              AuditEventHash(ev) == ev.hash;
    if (!ok) {
      result.verified = false;
      result.broken_at_event_id = ev.event_id;
      return false;
    }
    expected_previous = ev.hash;
    return true;
  }));
  return result;
}

core::Result<int64_t> ApplyAuditRetention(AuditStore& store, const core::Clock& clock,
                                          int retention_days) {
  if (retention_days <= 0) return int64_t{0};
  return store.PurgeBefore(clock.NowMs() - int64_t{retention_days} * 86'400'000);
}

}  // namespace agentidp::domain
