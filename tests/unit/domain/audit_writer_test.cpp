// The audit writer's commit-then-sync pipeline (src/domain/audit/audit_log.*): a completion
// is only ever reported after a sync that began after its batch's commit returned; a failed
// sync fails its waiters and every later one; shutdown drains.

#include "domain/audit/audit_log.hpp"
#include "memory_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace agentidp::domain {
namespace {

using namespace std::chrono_literals;

class FixedClock final : public core::Clock {
 public:
  int64_t NowMs() const override { return 1'700'000'000'000; }
};

// A store that commits without syncing: every commit gets the next commit number, and the
// events of a batch remember theirs (by event id).
class DeferringStore final : public AuditStore {
 public:
  bool DefersSync() const override { return true; }
  Status AppendBatch(std::vector<AuditEvent>& events, const Hasher& hasher) override {
    return AppendBatchUnsynced(events, hasher);
  }
  Status AppendBatchUnsynced(std::vector<AuditEvent>& events, const Hasher& hasher) override {
    std::lock_guard lock(mu);
    const int64_t commit = ++commits;
    for (auto& e : events) {
      e.previous_hash = head;
      e.hash = hasher(e);
      head = e.hash;
      commit_of[e.agent_id] = commit;
    }
    return core::Ok();
  }
  Status SyncAppended() override { return core::Ok(); }
  Result<std::optional<AuditEvent>> Get(const TenantScope&, const std::string&) override {
    return std::optional<AuditEvent>();
  }
  Result<PageOf<AuditEvent>> List(const TenantScope&, const AuditFilter&, const Page&) override {
    return PageOf<AuditEvent>{};
  }
  Status Scan(std::optional<int64_t>, std::optional<int64_t>,
              const std::function<bool(const AuditEvent&)>&) override {
    return core::Ok();
  }
  Result<std::string> ChainAnchor() override { return std::string(); }
  Result<int64_t> PurgeBefore(int64_t) override { return int64_t{0}; }

  int64_t Commits() {
    std::lock_guard lock(mu);
    return commits;
  }
  int64_t CommitOf(const std::string& id) {
    std::lock_guard lock(mu);
    auto it = commit_of.find(id);
    return it == commit_of.end() ? 0 : it->second;
  }

  std::mutex mu;
  int64_t commits = 0;
  std::string head;
  std::map<std::string, int64_t> commit_of;
};

// A sync function the test drives: each call records how many commits had returned when it
// began, then waits until the test releases it (or returns at once in free-running mode).
class ScriptedSync {
 public:
  explicit ScriptedSync(DeferringStore& store) : store_(store) {}

  Status operator()() {
    std::unique_lock lock(mu_);
    const int64_t covered = store_.Commits();
    ++started_;
    started_cv_.notify_all();
    cv_.wait(lock, [&] { return free_running_ || released_ >= started_; });
    Status result = fail_from_ > 0 && started_ >= fail_from_
                        ? Status(core::Error::Internal("Store error"))
                        : core::Ok();
    if (result.ok()) synced_through_ = std::max(synced_through_, covered);
    return result;
  }

  // Lets the oldest blocked sync finish.
  void ReleaseOne() {
    std::lock_guard lock(mu_);
    ++released_;
    cv_.notify_all();
  }
  void RunFree() {
    std::lock_guard lock(mu_);
    free_running_ = true;
    cv_.notify_all();
  }
  void FailFrom(int call) {
    std::lock_guard lock(mu_);
    fail_from_ = call;
  }
  bool WaitStarted(int n) {
    std::unique_lock lock(mu_);
    return started_cv_.wait_for(lock, 5s, [&] { return started_ >= n; });
  }
  int Started() {
    std::lock_guard lock(mu_);
    return started_;
  }
  // Highest commit number that a finished, successful sync began after.
  int64_t SyncedThrough() {
    std::lock_guard lock(mu_);
    return synced_through_;
  }

 private:
  DeferringStore& store_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable started_cv_;
  int started_ = 0;
  int released_ = 0;
  int fail_from_ = 0;
  bool free_running_ = false;
  int64_t synced_through_ = 0;
};

// Collects completions: which event, with what status, and whether it was covered by a
// sync that began after its commit when it fired.
struct Completions {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, core::Status> status;
  std::vector<std::string> premature;

  AuditWriter::Done For(const std::string& id, DeferringStore& store, ScriptedSync& sync) {
    return [this, id, &store, &sync](const core::Status& s) {
      std::lock_guard lock(mu);
      if (s.ok() && store.CommitOf(id) > sync.SyncedThrough()) premature.push_back(id);
      status.emplace(id, s);
      cv.notify_all();
    };
  }
  bool WaitFor(size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 5s, [&] { return status.size() >= n; });
  }
  bool Has(const std::string& id) {
    std::lock_guard lock(mu);
    return status.count(id) != 0;
  }
  size_t Size() {
    std::lock_guard lock(mu);
    return status.size();
  }
};

AuditRecord Record(const std::string& id) {
  AuditRecord r;
  r.agent_id = id;  // the tests' event key
  r.action = "token.issued";
  return r;
}

struct Fixture {
  FixedClock clock;
  core::SecureRandom random;
  DeferringStore store;
  ScriptedSync sync{store};
  Completions completions;
  std::unique_ptr<AuditWriter> writer;

  Fixture() {
    writer = std::make_unique<AuditWriter>(store, clock, random, 512, 100'000,
                                           [this] { return sync(); });
  }
  void Submit(const std::string& id) {
    writer->Submit(Record(id), completions.For(id, store, sync));
  }
  bool WaitCommits(int64_t n) {
    for (int i = 0; i < 500; ++i) {
      if (store.Commits() >= n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};

TEST(AuditWriterPipeline, CompletesOnlyAfterASyncThatBeganAfterTheCommit) {
  Fixture f;
  f.Submit("a");
  ASSERT_TRUE(f.sync.WaitStarted(1));  // sync 1 began after a's commit; it is held
  ASSERT_EQ(f.store.Commits(), 1);

  // b is committed while sync 1 runs: sync 1 cannot vouch for it.
  f.Submit("b");
  ASSERT_TRUE(f.WaitCommits(2));
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(f.completions.Has("a"));  // sync 1 has not finished
  EXPECT_FALSE(f.completions.Has("b"));

  f.sync.ReleaseOne();  // sync 1 ends: a completes, b waits for sync 2
  ASSERT_TRUE(f.completions.WaitFor(1));
  EXPECT_TRUE(f.completions.Has("a"));
  ASSERT_TRUE(f.sync.WaitStarted(2));
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(f.completions.Has("b"));

  f.sync.ReleaseOne();
  ASSERT_TRUE(f.completions.WaitFor(2));
  EXPECT_TRUE(f.completions.status.at("a").ok());
  EXPECT_TRUE(f.completions.status.at("b").ok());
  EXPECT_TRUE(f.completions.premature.empty());
  f.sync.RunFree();
}

TEST(AuditWriterPipeline, OneCommittedBatchWaitsForTheNextSyncTheRestGather) {
  Fixture f;
  f.Submit("a");
  ASSERT_TRUE(f.sync.WaitStarted(1));
  f.Submit("b");
  ASSERT_TRUE(f.WaitCommits(2));  // b committed during sync 1
  // While b waits for sync 2, later events are not committed yet: they gather.
  f.Submit("c");
  f.Submit("d");
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(f.store.Commits(), 2);
  f.sync.RunFree();
  ASSERT_TRUE(f.completions.WaitFor(4));
  EXPECT_EQ(f.store.CommitOf("c"), f.store.CommitOf("d"));  // one commit for both
  EXPECT_TRUE(f.completions.premature.empty());
}

TEST(AuditWriterPipeline, ManyConcurrentWritersNeverCompleteEarly) {
  Fixture f;
  std::thread releaser([&] {
    // Syncs take a little while, like an fdatasync, so commits overlap them.
    for (int i = 0; i < 100000 && f.completions.Size() < 4000; ++i) {
      std::this_thread::sleep_for(200us);
      f.sync.ReleaseOne();
    }
    f.sync.RunFree();
  });
  std::vector<std::thread> submitters;
  for (int t = 0; t < 4; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        f.Submit(std::to_string(t) + "-" + std::to_string(i));
        if (i % 50 == 0) std::this_thread::sleep_for(100us);
      }
    });
  }
  for (auto& s : submitters) s.join();
  ASSERT_TRUE(f.completions.WaitFor(4000));
  releaser.join();
  EXPECT_TRUE(f.completions.premature.empty()) << f.completions.premature.size();
  for (auto& [id, s] : f.completions.status) EXPECT_TRUE(s.ok()) << id;
  EXPECT_LT(f.store.Commits(), 4000);  // batched
}

TEST(AuditWriterPipeline, AFailedSyncFailsItsWaitersAndEveryLaterOne) {
  Fixture f;
  f.sync.FailFrom(2);
  f.Submit("a");
  ASSERT_TRUE(f.sync.WaitStarted(1));
  f.Submit("b");
  ASSERT_TRUE(f.WaitCommits(2));
  f.sync.ReleaseOne();  // sync 1 succeeds: a is durable
  ASSERT_TRUE(f.completions.WaitFor(1));
  ASSERT_TRUE(f.sync.WaitStarted(2));
  f.Submit("c");  // committed during the sync that will fail
  ASSERT_TRUE(f.WaitCommits(3));
  f.sync.ReleaseOne();  // sync 2 fails: b's waiter fails
  ASSERT_TRUE(f.completions.WaitFor(3));
  EXPECT_TRUE(f.completions.status.at("a").ok());
  ASSERT_FALSE(f.completions.status.at("b").ok());
  EXPECT_EQ(f.completions.status.at("b").error().kind, core::Errc::kUnavailable);
  // c was committed after sync 2 began; it is failed too, without another sync.
  ASSERT_FALSE(f.completions.status.at("c").ok());
  EXPECT_TRUE(f.writer->failed());

  // From now on every write is refused at once, and nothing is synced again.
  f.Submit("d");
  ASSERT_TRUE(f.completions.WaitFor(4));
  ASSERT_FALSE(f.completions.status.at("d").ok());
  EXPECT_EQ(f.completions.status.at("d").error().kind, core::Errc::kUnavailable);
  EXPECT_FALSE(f.writer->Write(Record("e")).ok());
  f.sync.RunFree();
  f.writer->Shutdown();
  EXPECT_EQ(f.sync.Started(), 2);
  EXPECT_EQ(f.store.Commits(), 3);
  EXPECT_TRUE(f.completions.premature.empty());
}

TEST(AuditWriterPipeline, ShutdownCommitsSyncsAndCompletesEverythingQueued) {
  Fixture f;
  f.Submit("first");
  ASSERT_TRUE(f.sync.WaitStarted(1));
  for (int i = 0; i < 100; ++i) f.Submit("e" + std::to_string(i));
  std::thread stopper([&] { f.writer->Shutdown(); });
  std::this_thread::sleep_for(20ms);
  EXPECT_LT(f.completions.Size(), 101u);  // held by the sync in progress
  f.sync.RunFree();
  stopper.join();
  // Shutdown returned only after every waiter was completed, by syncs that began after
  // their commits.
  EXPECT_EQ(f.completions.Size(), 101u);
  for (auto& [id, s] : f.completions.status) EXPECT_TRUE(s.ok()) << id;
  EXPECT_TRUE(f.completions.premature.empty());
  EXPECT_GE(f.sync.SyncedThrough(), f.store.Commits());

  // After shutdown, writes are refused, never lost silently.
  EXPECT_FALSE(f.writer->Write(Record("late")).ok());
}

TEST(AuditWriterPipeline, StoreThatSyncsAtCommitIsNotPipelined) {
  FixedClock clock;
  core::SecureRandom random;
  testing::MemoryAuditStore store;  // AppendBatch is durable when it returns: the defaults
  AuditWriter writer(store, clock, random);
  EXPECT_FALSE(store.DefersSync());
  EXPECT_TRUE(writer.Write(Record("x")).ok());
  EXPECT_EQ(writer.syncs(), 0u);
  EXPECT_EQ(store.Events().size(), 1u);
}

}  // namespace
}  // namespace agentidp::domain
