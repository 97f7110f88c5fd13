#include "core/thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>

namespace agentidp::core {
namespace {

TEST(ThreadPoolTest, RunsSubmittedTasksOnWorkerThreads) {
  ThreadPool pool(2, 16, "test");
  EXPECT_EQ(pool.ThreadCount(), 2u);
  std::promise<std::thread::id> ran;
  ASSERT_TRUE(pool.TrySubmit([&] { ran.set_value(std::this_thread::get_id()); }));
  EXPECT_NE(ran.get_future().get(), std::this_thread::get_id());
}

TEST(ThreadPoolTest, TrySubmitFailsWhenTheQueueIsFull) {
  ThreadPool pool(1, 2, "full");
  std::promise<void> started, release;
  auto release_future = release.get_future().share();
  ASSERT_TRUE(pool.TrySubmit([&, release_future] {
    started.set_value();
    release_future.wait();
  }));
  started.get_future().wait();  // the only worker is busy, the queue is empty
  EXPECT_EQ(pool.QueueDepth(), 0u);

  std::atomic<int> ran{0};
  EXPECT_TRUE(pool.TrySubmit([&] { ran++; }));
  EXPECT_TRUE(pool.TrySubmit([&] { ran++; }));
  EXPECT_EQ(pool.QueueDepth(), 2u);
  EXPECT_FALSE(pool.TrySubmit([&] { ran += 100; }));  // shed, never runs
  EXPECT_EQ(pool.QueueDepth(), 2u);

  release.set_value();
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 2);
  EXPECT_EQ(pool.QueueDepth(), 0u);
}

TEST(ThreadPoolTest, ShutdownDrainsQueuedTasksAndRefusesNewOnes) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(2, 1000, "drain");
    for (int i = 0; i < 500; ++i) ASSERT_TRUE(pool.TrySubmit([&] { ran++; }));
    pool.Shutdown();
    EXPECT_EQ(ran.load(), 500);
    EXPECT_FALSE(pool.TrySubmit([&] { ran++; }));
    pool.Shutdown();  // idempotent
  }
  EXPECT_EQ(ran.load(), 500);
}

TEST(ThreadPoolTest, DestructorDrainsLikeShutdown) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(1, 100, "dtor");
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool.TrySubmit([&] { ran++; }));
  }
  EXPECT_EQ(ran.load(), 50);
}

TEST(ThreadPoolTest, ATaskThatThrowsDoesNotKillItsWorker) {
  ThreadPool pool(1, 10, "throw");
  ASSERT_TRUE(pool.TrySubmit([] { throw std::runtime_error("boom"); }));
  std::promise<void> after;
  ASSERT_TRUE(pool.TrySubmit([&] { after.set_value(); }));
  EXPECT_EQ(after.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

TEST(ThreadPoolTest, EmptyTaskIsRefused) {
  ThreadPool pool(1, 10, "empty");
  EXPECT_FALSE(pool.TrySubmit(nullptr));
}

TEST(ThreadPoolTest, UsesAllItsThreads) {
  ThreadPool pool(3, 10, "all");
  std::mutex mu;
  std::set<std::thread::id> ids;
  std::atomic<int> arrived{0};
  std::promise<void> go;
  auto go_future = go.get_future().share();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(pool.TrySubmit([&, go_future] {
      {
        std::lock_guard lock(mu);
        ids.insert(std::this_thread::get_id());
      }
      arrived++;
      go_future.wait();  // all three block at once: only possible on three threads
    }));
  }
  while (arrived.load() < 3) std::this_thread::yield();
  go.set_value();
  pool.Shutdown();
  EXPECT_EQ(ids.size(), 3u);
}

}  // namespace
}  // namespace agentidp::core
