#include "engine/scheduler.h"

#include <algorithm>

namespace tide {
namespace {

// Whether a runs before b: higher priority, then earlier arrival.
bool runs_before(const Sequence* a, const Sequence* b) {
  if (a->request.priority != b->request.priority) return a->request.priority > b->request.priority;
  if (a->arrival != b->arrival) return a->arrival < b->arrival;
  return a->id < b->id;
}

}  // namespace

void Scheduler::remove(Sequence* seq) {
  std::erase(running_, seq);
  std::erase(waiting_, seq);
  blocks_.release(seq->blocks);
  seq->running = false;
}

Sequence* Scheduler::lowest_running(const Sequence* excluding) const {
  Sequence* lowest = nullptr;
  for (Sequence* s : running_)
    if (s != excluding && (!lowest || runs_before(lowest, s))) lowest = s;
  return lowest;
}

void Scheduler::preempt(Sequence* seq, std::vector<ScheduledChunk>& chunks, int64_t& budget) {
  auto chunk = std::find_if(chunks.begin(), chunks.end(), [&](const auto& c) { return c.seq == seq; });
  if (chunk != chunks.end()) {
    budget += chunk->num_tokens;
    chunks.erase(chunk);
  }
  blocks_.release(seq->blocks);
  seq->computed = 0;
  seq->running = false;
  seq->preemptions++;
  std::erase(running_, seq);
  waiting_.push_back(seq);
  preemptions_++;
}

std::vector<ScheduledChunk> Scheduler::schedule() {
  std::vector<ScheduledChunk> chunks;
  int64_t budget = config_.max_batched_tokens;
  bool preempted = false;

  std::sort(running_.begin(), running_.end(), runs_before);
  // Iterate over a snapshot: preemption removes sequences (always lower ones) from running_.
  const std::vector<Sequence*> order = running_;
  for (Sequence* seq : order) {
    if (!seq->running) continue;
    const int64_t n = std::min(seq->remaining_to_compute(), budget);
    if (n <= 0) continue;
    while (!blocks_.ensure_capacity(seq->blocks, seq->computed + n)) {
      Sequence* victim = lowest_running();
      preempt(victim, chunks, budget);
      preempted = true;
      if (victim == seq) break;
    }
    if (!seq->running) continue;
    chunks.push_back({seq, n});
    budget -= n;
  }
  // Admitting while preempting would only thrash: wait for blocks to come back.
  if (preempted) return chunks;

  std::sort(waiting_.begin(), waiting_.end(), runs_before);
  std::vector<Sequence*> still_waiting;
  std::size_t i = 0;
  for (; i < waiting_.size(); ++i) {
    Sequence* seq = waiting_[i];
    if (budget <= 0) break;
    // A full batch yields a seat to a higher-priority arrival: its lowest running sequence is
    // preempted (recomputed later), so priority holds even when blocks are plentiful.
    if (static_cast<int>(running_.size()) >= config_.max_num_seqs) {
      Sequence* victim = lowest_running();
      if (!victim || victim->request.priority >= seq->request.priority) break;
      preempt(victim, chunks, budget);
      still_waiting.push_back(waiting_.back());
      waiting_.pop_back();
    }
    auto alloc = blocks_.allocate_prompt(seq->tokens);
    // A higher-priority arrival may take the blocks of lower-priority running sequences.
    while (!alloc) {
      Sequence* victim = lowest_running();
      if (!victim || victim->request.priority >= seq->request.priority) break;
      preempt(victim, chunks, budget);
      still_waiting.push_back(waiting_.back());
      waiting_.pop_back();
      alloc = blocks_.allocate_prompt(seq->tokens);
    }
    // Strict priority order: a request that does not fit blocks those behind it.
    if (!alloc) break;
    seq->blocks = std::move(alloc->blocks);
    seq->computed = alloc->cached_tokens;
    seq->prefix_cursor = alloc->cursor;
    if (seq->preemptions == 0) seq->cached_prompt_tokens = alloc->cached_tokens;
    seq->running = true;
    running_.push_back(seq);
    const int64_t n = std::min(seq->remaining_to_compute(), budget);
    chunks.push_back({seq, n});
    budget -= n;
  }
  still_waiting.insert(still_waiting.end(), waiting_.begin() + static_cast<std::ptrdiff_t>(std::min(i, waiting_.size())),
                       waiting_.end());
  waiting_ = std::move(still_waiting);
  return chunks;
}

}  // namespace tide
