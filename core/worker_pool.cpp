#include "core/worker_pool.hpp"

#include <pthread.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "core/log.hpp"

namespace sockgate {
namespace {

// Blocking connects need little stack; 256 KiB keeps hundreds of waiting workers cheap.
constexpr std::size_t kWorkerStackBytes = 256 * 1024;

void* start_worker(void* pool) {
  static_cast<std::function<void()>*>(pool)->operator()();
  delete static_cast<std::function<void()>*>(pool);
  return nullptr;
}

}  // namespace

WorkerPool::WorkerPool(std::size_t max_workers, int idle_seconds)
    : max_workers_(max_workers), idle_seconds_(idle_seconds) {}

WorkerPool::~WorkerPool() { shutdown(); }

void WorkerPool::submit(std::function<void()> task) {
  std::unique_lock lock(mutex_);
  tasks_.push_back(std::move(task));
  if (idle_ > 0 || workers_ >= max_workers_) {
    work_ready_.notify_one();
    return;
  }
  ++workers_;
  lock.unlock();

  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setstacksize(&attributes, kWorkerStackBytes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  auto* body = new std::function<void()>([this] { run_worker(); });
  pthread_t thread;
  int error = pthread_create(&thread, &attributes, start_worker, body);
  pthread_attr_destroy(&attributes);
  if (error != 0) {
    delete body;
    log().error("cannot start a worker thread: {}; the task waits for a busy one",
                std::strerror(error));
    std::lock_guard relock(mutex_);
    --workers_;
    if (workers_ == 0) {
      // Nobody would ever run the queue: run the task here rather than lose the call.
      auto orphan = std::move(tasks_.back());
      tasks_.pop_back();
      orphan();
    }
  }
}

void WorkerPool::run_worker() {
  std::unique_lock lock(mutex_);
  for (;;) {
    while (tasks_.empty() && !stopping_) {
      ++idle_;
      bool woken = work_ready_.wait_for(lock, std::chrono::seconds(idle_seconds_),
                                        [this] { return !tasks_.empty() || stopping_; });
      --idle_;
      if (!woken) {
        break;
      }
    }
    if (tasks_.empty()) {
      break;
    }
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
  --workers_;
  workers_done_.notify_all();
}

void WorkerPool::shutdown() {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  work_ready_.notify_all();
  workers_done_.wait(lock, [this] { return workers_ == 0; });
}

}  // namespace sockgate
