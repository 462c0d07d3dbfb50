#pragma once
// The filters that walk lists and dicts (join, map, selectattr, sort, ...); filters.cc holds the
// ones on single values and the combined lookup.
#include <string_view>

#include "tokenizer/jinja/filters.h"

namespace tide::jinja {

FilterFunction find_sequence_filter(std::string_view name);

}  // namespace tide::jinja
