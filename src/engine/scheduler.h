#pragma once
// Decides, each step, which tokens of which sequences the model computes. Policy:
//  - running sequences first, in priority order (higher priority, then earlier arrival): each
//    gets its next decode token or its next prefill chunk, within the step's token budget, so
//    a long prompt is spread over steps and never stalls running decodes;
//  - when the cache runs out of blocks, the lowest-priority, latest-arriving running sequence
//    is preempted: its blocks are released and it returns to the queue to be recomputed (its
//    full blocks usually come straight back from the prefix cache);
//  - then waiting sequences are admitted in priority order while blocks, budget and the
//    sequence limit allow; a waiting sequence may preempt running ones of lower priority.
// The scheduler never touches tensors; the engine runs what it returns.
#include <cstdint>
#include <utility>
#include <vector>

#include "engine/block_manager.h"
#include "engine/sequence.h"

namespace tide {

struct SchedulerConfig {
  int max_num_seqs = 256;
  int64_t max_batched_tokens = 2048;
};

struct ScheduledChunk {
  Sequence* seq;
  int64_t num_tokens;  // tokens [seq->computed, seq->computed + num_tokens)
};

class Scheduler {
 public:
  Scheduler(SchedulerConfig config, BlockManager& blocks) : config_(config), blocks_(blocks) {}

  void add(Sequence* seq) { waiting_.push_back(seq); }
  // Forgets a sequence (finished or cancelled) and releases its blocks.
  void remove(Sequence* seq);

  std::vector<ScheduledChunk> schedule();

  int num_running() const { return static_cast<int>(running_.size()); }
  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  // Preemptions performed since the last call.
  int take_preemptions() { return std::exchange(preemptions_, 0); }

 private:
  void preempt(Sequence* seq, std::vector<ScheduledChunk>& chunks, int64_t& budget);
  Sequence* lowest_running(const Sequence* excluding = nullptr) const;

  SchedulerConfig config_;
  BlockManager& blocks_;
  std::vector<Sequence*> running_;
  std::vector<Sequence*> waiting_;
  int preemptions_ = 0;
};

}  // namespace tide
