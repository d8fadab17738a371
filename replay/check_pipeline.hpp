#pragma once
// Runs check_lines() on worker threads over a fixed ring of batches and hands the checked
// batches back in the order they were filled, so the fold (single-threaded, in source order)
// overlaps with reading, hashing and decoding the batches after it. The ring bounds memory:
// `slots` batches exist, refilled as the fold frees them; nothing is allocated per batch once
// the buffers have grown. The workers stop and are joined by the destructor.
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "replay/line_check.hpp"

namespace ordo::replay {

class CheckPipeline {
 public:
  CheckPipeline(int threads, size_t slots);
  ~CheckPipeline();
  CheckPipeline(const CheckPipeline&) = delete;
  CheckPipeline& operator=(const CheckPipeline&) = delete;

  // The next batch to fill (cleared), or nullptr when every slot is filled and not yet folded.
  CheckedBatch* free_slot();
  // Queues the batch free_slot() returned for checking.
  void submit(CheckedBatch* b);
  // Whether a submitted batch is waiting to be taken.
  bool pending() const { return taken_ != filled_; }
  // Blocks until the oldest submitted batch is checked and returns it; pending() must hold.
  CheckedBatch& take();
  // Gives the batch take() returned back to the ring.
  void release();

 private:
  void work();

  std::vector<CheckedBatch> ring_;
  std::vector<char> done_;          // per slot, under mu_
  size_t filled_ = 0, taken_ = 0;   // slot sequence numbers: submitted, handed to the fold
  size_t released_ = 0;             // handed back by the fold
  size_t next_to_check_ = 0;        // the oldest submitted batch no worker has started
  bool stop_ = false;
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::vector<std::thread> workers_;
};

}  // namespace ordo::replay
