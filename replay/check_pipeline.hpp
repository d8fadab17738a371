#pragma once
// Verify's pipeline: a reader thread fills a fixed ring of batches from the source, worker
// threads run check_lines() on them, and the caller takes the checked batches back in the
// order they were filled, so the fold (single-threaded, in source order) overlaps with
// reading, hashing and decoding the batches after it. The ring bounds memory: `slots`
// batches exist, refilled as the fold releases them; nothing is allocated per batch once the
// buffers have grown. The destructor stops the threads and joins them, wherever they are.
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "replay/line_check.hpp"

namespace ordo::replay {

class CheckPipeline {
 public:
  // Fills a cleared batch from the source; false at its end (or on its error, which the
  // callback keeps). Called on the reader thread only.
  using Fill = std::function<bool(LineBatch&)>;

  // `worker_nice` > 0 runs the workers at that much lower a priority than the caller's
  // thread (see VerifyOptions::worker_nice).
  CheckPipeline(Fill fill, int threads, size_t slots, int worker_nice = 0);
  ~CheckPipeline();
  CheckPipeline(const CheckPipeline&) = delete;
  CheckPipeline& operator=(const CheckPipeline&) = delete;

  // The oldest batch not yet taken, once checked; nullptr when the source is exhausted and
  // every batch has been taken. Give it back with release() before the next take().
  CheckedBatch* take();
  void release();

 private:
  void read();
  void work();

  Fill fill_;
  std::vector<CheckedBatch> ring_;
  std::vector<char> checked_;  // per slot
  // Sequence numbers of batches: filled (submitted), handed to the fold, released by it.
  size_t filled_ = 0, taken_ = 0, released_ = 0;
  size_t next_to_check_ = 0;  // the oldest filled batch no worker has started
  bool source_done_ = false, stop_ = false;
  std::mutex mu_;
  std::condition_variable slot_cv_, work_cv_, checked_cv_;
  std::vector<std::thread> threads_;
};

}  // namespace ordo::replay
