#pragma once
// A template is a program: a hostile or broken one can loop, recurse or grow strings without
// bound. Every render runs against a Budget so that such a template fails with an error that
// says which limit it hit, instead of hanging or exhausting memory.
#include <cstddef>
#include <cstdint>

namespace tide::jinja {

struct Limits {
  size_t max_output_bytes = size_t{64} << 20;
  // Work is counted in bytes of strings built or scanned and items of lists built or walked;
  // a render of a million-token prompt needs a few tens of millions.
  uint64_t max_work = uint64_t{1} << 30;
  uint64_t max_loop_iterations = 1'000'000;
  int max_call_depth = 32;  // macro calls inside macro calls
};

class Budget {
 public:
  explicit Budget(const Limits& limits) : limits_(limits) {}

  const Limits& limits() const { return limits_; }
  void charge(uint64_t units);
  // Checked before building a string or list whose size comes from template arithmetic
  // ('-' * n, range(n)), so the allocation itself never happens.
  void check_size(uint64_t units) const;
  void count_loop_iteration();

 private:
  Limits limits_;
  uint64_t work_ = 0;
  uint64_t loop_iterations_ = 0;
};

}  // namespace tide::jinja
