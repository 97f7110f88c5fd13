// The audit writer's group commit: every event completed once, in chain order, and the
// gather rule (AuditGather): a trickle from busy producers is gathered into few commits, a lone
// client is never held back, and a quiet step ends the wait.

#include "domain/audit/audit_log.hpp"
#include "memory_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace agentidp::domain {
namespace {

using namespace std::chrono_literals;
using testing::MemoryAuditStore;

AuditRecord Record(int i) {
  AuditRecord r;
  r.agent_id = "agent-" + std::to_string(i);
  r.organization_id = "org";
  r.action = "token.issued";
  return r;
}

// Long steps make the gather rule independent of this machine's scheduling: a producer that
// submits every few milliseconds always arrives within a step.
AuditGather SlowSteps(std::chrono::microseconds step, std::chrono::microseconds cap) {
  AuditGather g;
  g.below = 8;
  g.target = 16;
  g.step = step;
  g.cap = cap;
  return g;
}

// A store whose commits take a while, as a real one's fdatasync does.
class SlowAuditStore final : public AuditStore {
 public:
  SlowAuditStore(MemoryAuditStore& inner, std::chrono::milliseconds delay)
      : inner_(inner), delay_(delay) {}
  core::Status AppendBatch(std::vector<AuditEvent>& events, const Hasher& hasher) override {
    std::this_thread::sleep_for(delay_);
    return inner_.AppendBatch(events, hasher);
  }
  core::Result<std::optional<AuditEvent>> Get(const TenantScope& scope,
                                              const std::string& id) override {
    return inner_.Get(scope, id);
  }
  core::Result<PageOf<AuditEvent>> List(const TenantScope& scope, const AuditFilter& filter,
                                        const Page& page) override {
    return inner_.List(scope, filter, page);
  }
  core::Status Scan(std::optional<int64_t> from, std::optional<int64_t> to,
                    const std::function<bool(const AuditEvent&)>& visit) override {
    return inner_.Scan(from, to, visit);
  }
  core::Result<std::string> ChainAnchor() override { return inner_.ChainAnchor(); }
  core::Result<int64_t> PurgeBefore(int64_t before) override { return inner_.PurgeBefore(before); }

 private:
  MemoryAuditStore& inner_;
  std::chrono::milliseconds delay_;
};

class AuditWriterTest : public ::testing::Test {
 protected:
  core::SystemClock clock_;
  core::SecureRandom random_;
  MemoryAuditStore store_;
};

TEST_F(AuditWriterTest, EveryEventCompletesOnceAndTheChainLinks) {
  AuditWriter writer(store_, clock_, random_);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  std::atomic<int> ok{0};
  std::atomic<int> calls{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t)
    producers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i)
        writer.Submit(Record(t * kPerThread + i), [&](const core::Status& s) {
          calls.fetch_add(1);
          if (s.ok()) ok.fetch_add(1);
        });
    });
  for (auto& p : producers) p.join();
  writer.Shutdown();  // flushes everything queued
  EXPECT_EQ(calls.load(), kThreads * kPerThread);
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(writer.events_committed(), static_cast<uint64_t>(kThreads * kPerThread));
  auto events = store_.Events();
  ASSERT_EQ(events.size(), static_cast<size_t>(kThreads * kPerThread));
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].previous_hash, events[i - 1].hash) << i;
    EXPECT_EQ(events[i].hash, AuditEventHash(events[i])) << i;
  }
}

TEST_F(AuditWriterTest, CountsBatchesAndEventsIntoAttachedCounters) {
  core::Metrics metrics;
  core::Counter& batches = metrics.GetCounter("t_batches_total", "b");
  core::Counter& events = metrics.GetCounter("t_events_total", "e");
  AuditWriter writer(store_, clock_, random_);
  writer.AttachMetrics(&batches, &events);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(writer.Write(Record(i)).ok());
  writer.Shutdown();
  EXPECT_EQ(events.Value(), 5u);
  EXPECT_EQ(batches.Value(), writer.batches_committed());
  EXPECT_GE(batches.Value(), 1u);
}

TEST_F(AuditWriterTest, ATrickleFromBusyProducersIsGatheredIntoFewCommits) {
  // 48 events, one every 2 ms from a producer that does not wait for its events, and commits
  // that take 5 ms: a commit ends with a few events queued, and with steps of 200 ms every
  // step brings new ones, so batches fill up to the target (16). Without the gather a batch
  // would be what queued during one commit (2-3 events: 16 batches or more).
  SlowAuditStore slow(store_, 5ms);
  AuditWriter writer(slow, clock_, random_, 512, 100'000, SlowSteps(200ms, 5s));
  std::atomic<int> ok{0};
  for (int i = 0; i < 48; ++i) {
    writer.Submit(Record(i), [&](const core::Status& s) {
      if (s.ok()) ok.fetch_add(1);
    });
    std::this_thread::sleep_for(2ms);
  }
  writer.Shutdown();
  EXPECT_EQ(ok.load(), 48);
  EXPECT_EQ(writer.events_committed(), 48u);
  EXPECT_LE(writer.batches_committed(), 8u);
}

TEST_F(AuditWriterTest, ALoneClientIsNeverHeldBack) {
  // One event at a time, each waiting for its commit: never a batch of two, so never a
  // gather. With 10 s steps, a single gather would make this test take 10 s.
  AuditWriter writer(store_, clock_, random_, 512, 100'000, SlowSteps(10s, 10s));
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(writer.Write(Record(i)).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(writer.batches_committed(), 20u);
}

TEST_F(AuditWriterTest, AQuietStepEndsTheGather) {
  // Rounds of two concurrent clients, each waiting for its commit: after the two events of a
  // round nobody else comes, so a gather ends after one quiet step (100 ms), not at the cap
  // (30 s).
  AuditWriter writer(store_, clock_, random_, 512, 100'000, SlowSteps(100ms, 30s));
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < 5; ++round) {
    std::thread other([&] { EXPECT_TRUE(writer.Write(Record(2 * round)).ok()); });
    EXPECT_TRUE(writer.Write(Record(2 * round + 1)).ok());
    other.join();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  EXPECT_EQ(writer.events_committed(), 10u);
}

TEST_F(AuditWriterTest, ShutdownDuringAGatherCommitsWhatWasGathered) {
  AuditWriter writer(store_, clock_, random_, 512, 100'000, SlowSteps(10s, 60s));
  std::atomic<int> ok{0};
  auto count = [&](const core::Status& s) {
    if (s.ok()) ok.fetch_add(1);
  };
  // Two batches of two (the second batch gathers: the last one held two events).
  writer.Submit(Record(0), count);
  writer.Submit(Record(1), count);
  std::this_thread::sleep_for(50ms);
  writer.Submit(Record(2), count);
  writer.Submit(Record(3), count);
  const auto start = std::chrono::steady_clock::now();
  writer.Shutdown();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(writer.events_committed(), 4u);
  // Shutdown ends the gather's step at once (10 s steps otherwise).
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

}  // namespace
}  // namespace agentidp::domain
