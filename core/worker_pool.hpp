// Threads for the work that may block: connects on blocking sockets, which can take minutes
// against a black-holed address. The notification loops never wait on them.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

namespace sockgate {

// An elastic pool: a task runs on an idle worker when there is one, else on a new worker, up
// to `max_workers`; past that tasks queue. Workers idle for `idle_seconds` exit.
class WorkerPool {
 public:
  explicit WorkerPool(std::size_t max_workers = 512, int idle_seconds = 30);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void submit(std::function<void()> task);
  // Waits for queued and running tasks to finish and for every worker to exit.
  void shutdown();

 private:
  void run_worker();

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable workers_done_;
  std::deque<std::function<void()>> tasks_;
  std::size_t workers_ = 0;
  std::size_t idle_ = 0;
  std::size_t max_workers_;
  int idle_seconds_;
  bool stopping_ = false;
};

}  // namespace sockgate
