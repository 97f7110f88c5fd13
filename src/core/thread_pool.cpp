#include "core/thread_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <utility>

namespace agentidp::core {

ThreadPool::ThreadPool(size_t threads, size_t max_queue, std::string name)
    : max_queue_(max_queue), name_(std::move(name)) {
  threads = std::max<size_t>(threads, 1);
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
    // Linux limits thread names to 15 characters plus the terminator.
    std::string thread_name = name_.substr(0, 11) + "-" + std::to_string(i);
    pthread_setname_np(workers_.back().native_handle(), thread_name.substr(0, 15).c_str());
  }
}

ThreadPool::~ThreadPool() {
  Shutdown();
}

bool ThreadPool::TrySubmit(std::function<void()> task) {
  if (!task) return false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

size_t ThreadPool::QueueDepth() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void ThreadPool::Shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  std::call_once(join_once_, [this] {
    for (auto& worker : workers_)
      if (worker.joinable()) worker.join();
  });
}

void ThreadPool::WorkerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Drain before exiting: an accepted task usually owns a Responder, and dropping
      // it would turn a request into a 500.
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      task();
    } catch (...) {
      // A task must not take its worker down with it; the task's own guard (for
      // requests, the Responder) reports the failure.
    }
  }
}

}  // namespace agentidp::core
