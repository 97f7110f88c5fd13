#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace agentidp::core {

// A fixed set of worker threads with a bounded queue. Blocking work (store calls,
// slow hashing) runs here so that I/O threads never block (DESIGN §4). The queue is
// bounded on purpose: when it is full TrySubmit() fails and the caller sheds load
// (503 + Retry-After) instead of queueing without bound.
class ThreadPool {
 public:
  // `threads` >= 1 (0 is taken as 1); `max_queue` counts tasks waiting for a worker,
  // not the ones already running. `name` prefixes the OS thread names (Linux keeps 15
  // characters).
  ThreadPool(size_t threads, size_t max_queue, std::string name);
  // Drains the queue (every accepted task runs) and joins the workers.
  ~ThreadPool();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // False when the queue is full or the pool is shut down; the task is then not run
  // (and is destroyed before TrySubmit returns).
  bool TrySubmit(std::function<void()> task);

  // Tasks accepted but not yet picked up by a worker.
  size_t QueueDepth() const;
  size_t ThreadCount() const { return workers_.size(); }
  size_t MaxQueue() const { return max_queue_; }
  const std::string& Name() const { return name_; }

  // Stops accepting tasks, runs the ones already queued, joins the workers. Idempotent.
  // Must not be called from one of the pool's own workers.
  void Shutdown();

 private:
  void WorkerLoop();

  const size_t max_queue_;
  const std::string name_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::once_flag join_once_;
};

}  // namespace agentidp::core
