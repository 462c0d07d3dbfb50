#include "engine/output_processor.h"

#include <algorithm>

namespace tide {

OutputProcessor::OutputProcessor(const tokenizer::Tokenizer& tokenizer, std::vector<std::string> stop,
                                 bool include_stop)
    : detok_(tokenizer, true), stop_(std::move(stop)), include_stop_(include_stop) {
  std::erase_if(stop_, [](const std::string& s) { return s.empty(); });
  for (const auto& s : stop_) longest_stop_ = std::max(longest_stop_, s.size());
}

OutputProcessor::Delta OutputProcessor::push(int32_t token) {
  pending_ += detok_.push(token);
  return scan();
}

OutputProcessor::Delta OutputProcessor::scan() {
  Delta delta;
  if (stop_.empty()) {
    delta.text = std::move(pending_);
    pending_.clear();
    return delta;
  }
  // Earliest match of any stop string.
  std::size_t best = std::string::npos, best_len = 0;
  for (const auto& s : stop_) {
    const std::size_t at = pending_.find(s);
    if (at < best) {
      best = at;
      best_len = s.size();
    }
  }
  if (best != std::string::npos) {
    delta.text = pending_.substr(0, include_stop_ ? best + best_len : best);
    delta.stopped = true;
    pending_.clear();
    return delta;
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  std::size_t hold = 0;
  for (const auto& s : stop_)
    for (std::size_t k = std::min(s.size() - 1, pending_.size()); k > hold; --k)
      if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  delta.text = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return delta;
}

std::string OutputProcessor::finish() {
  pending_ += detok_.finish();
  Delta last = scan();
  std::string rest = std::move(last.text);
  if (!last.stopped) rest += pending_;
  pending_.clear();
  return rest;
}

}  // namespace tide
