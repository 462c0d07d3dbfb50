#include "tokenizer/jinja/budget.h"

#include <algorithm>

#include "tokenizer/jinja/value_error.h"

namespace tide::jinja {

void Budget::charge(uint64_t units) {
  work_ += units;
  if (work_ > limits_.max_work) {
    value_fail("template exceeded its work limit ({} units): runaway loop or string growth?",
               limits_.max_work);
  }
}

void Budget::check_size(uint64_t units) const {
  if (units > limits_.max_output_bytes || units > limits_.max_work - std::min(work_, limits_.max_work)) {
    value_fail("value of {} bytes or items exceeds the template size limit", units);
  }
}

void Budget::count_loop_iteration() {
  if (++loop_iterations_ > limits_.max_loop_iterations) {
    value_fail("template ran more than {} loop iterations", limits_.max_loop_iterations);
  }
  charge(1);
}

}  // namespace tide::jinja
