#include "tokenizer/jinja/sequence_filters.h"

#include <algorithm>
#include <optional>

#include "tokenizer/jinja/access.h"
#include "tokenizer/jinja/budget.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/predicates.h"
#include "tokenizer/jinja/unicode.h"
#include "tokenizer/jinja/value_error.h"
#include "tokenizer/jinja/value_format.h"

namespace tide::jinja {
namespace {

bool is_absent(const Value& value) { return value.is_undefined() || value.is_none(); }

// Jinja's sort, unique, min and max ignore case unless told otherwise, and can compare by an
// attribute path of each item.
Value sort_key(const Value& item, const Value& attribute, bool case_sensitive) {
  const Value key = is_absent(attribute) ? item : get_path(item, attribute.as_string());
  if (!case_sensitive && key.is_string()) return Value::string(to_lower(key.as_string()));
  return key;
}

Value length_filter(const Value& input, const Arguments& args, Budget&) {
  bind_arguments("length", args, {});
  return Value::integer(static_cast<int64_t>(length_of(input)));
}

Value first_filter(const Value& input, const Arguments& args, Budget& budget) {
  bind_arguments("first", args, {});
  const std::vector<Value> items = iterate(input, budget);
  return items.empty() ? Value::undefined("no first item, sequence was empty") : items.front();
}

Value last_filter(const Value& input, const Arguments& args, Budget& budget) {
  bind_arguments("last", args, {});
  const std::vector<Value> items = iterate(input, budget);
  return items.empty() ? Value::undefined("no last item, sequence was empty") : items.back();
}

Value join_filter(const Value& input, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("join", args, {"d", "attribute"});
  const std::string separator = bound[0].is_undefined() ? "" : to_str(bound[0], budget);
  std::string out;
  bool first = true;
  for (const Value& item : iterate(input, budget)) {
    if (!first) out += separator;
    first = false;
    append_str(out, is_absent(bound[1]) ? item : get_path(item, bound[1].as_string()), budget);
    budget.check_size(out.size());
  }
  return Value::string(std::move(out));
}

Value list_filter(const Value& input, const Arguments& args, Budget& budget) {
  bind_arguments("list", args, {});
  return Value::list(iterate(input, budget));
}

Value reverse_filter(const Value& input, const Arguments& args, Budget& budget) {
  bind_arguments("reverse", args, {});
  std::vector<Value> items = iterate(input, budget);
  std::reverse(items.begin(), items.end());
  if (!input.is_string()) return Value::generator(std::move(items));  // Python's reversed() iterator
  std::string out;
  for (const Value& character : items) out += character.as_string();
  return Value::string(std::move(out));
}

Value sort_filter(const Value& input, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("sort", args, {"reverse", "case_sensitive", "attribute"});
  std::vector<std::pair<Value, Value>> keyed;  // (key, item)
  for (const Value& item : iterate(input, budget)) keyed.emplace_back(sort_key(item, bound[2], bound[1].truthy()), item);
  const bool descending = bound[0].truthy();
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    return descending ? compare(b.first, a.first, "<", budget) < 0 : compare(a.first, b.first, "<", budget) < 0;
  });
  std::vector<Value> items;
  for (auto& entry : keyed) items.push_back(std::move(entry.second));
  return Value::list(std::move(items));
}

Value unique_filter(const Value& input, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("unique", args, {"case_sensitive", "attribute"});
  std::vector<Value> seen, items;
  for (const Value& item : iterate(input, budget)) {
    Value key = sort_key(item, bound[1], bound[0].truthy());
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& other) { return equals(other, key, budget); })) {
      seen.push_back(std::move(key));
      items.push_back(item);
    }
  }
  return Value::generator(std::move(items));
}

Value extreme(const Value& input, const Arguments& args, Budget& budget, bool want_max) {
  const auto bound = bind_arguments(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  std::optional<Value> best, best_key;
  for (const Value& item : iterate(input, budget)) {
    Value key = sort_key(item, bound[1], bound[0].truthy());
    const bool better = !best || (want_max ? compare(key, *best_key, ">", budget) > 0 : compare(key, *best_key, "<", budget) < 0);
    if (better) {
      best = item;
      best_key = std::move(key);
    }
  }
  return best ? *best : Value::undefined("no aggregated item, sequence was empty");
}

Value max_filter(const Value& input, const Arguments& args, Budget& budget) { return extreme(input, args, budget, true); }
Value min_filter(const Value& input, const Arguments& args, Budget& budget) { return extreme(input, args, budget, false); }

Value sum_filter(const Value& input, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("sum", args, {"attribute", "start"});
  Value total = bound[1].is_undefined() ? Value::integer(0) : bound[1];
  for (const Value& item : iterate(input, budget)) {
    total = apply_binary(BinaryOp::Add, total, is_absent(bound[0]) ? item : get_path(item, bound[0].as_string()), budget);
  }
  return total;
}

std::vector<Value> item_pairs(const Value& input, std::string_view callee) {
  if (input.is_undefined() && callee == "items") return {};  // |items accepts undefined, |dictsort does not
  if (input.is_undefined()) fail_undefined(input);
  if (!input.is_dict()) value_fail("{}() can only get item pairs from a mapping, not {}", callee, input.type_name());
  std::vector<Value> pairs;
  for (const auto& [key, value] : input.as_dict().entries()) pairs.push_back(Value::tuple({Value::string(key), value}));
  return pairs;
}

Value items_filter(const Value& input, const Arguments& args, Budget& budget) {
  bind_arguments("items", args, {});
  budget.charge(input.shallow_size());
  return Value::generator(item_pairs(input, "items"));
}

Value dictsort_filter(const Value& input, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("dictsort", args, {"case_sensitive", "by", "reverse"});
  const std::string by = bound[1].is_undefined() ? "key" : bound[1].as_string();
  if (by != "key" && by != "value") value_fail("dictsort() can only sort by 'key' or 'value'");
  const size_t position = by == "key" ? 0 : 1;
  std::vector<Value> pairs = item_pairs(input, "dictsort");
  const bool case_sensitive = bound[0].truthy(), descending = bound[2].truthy();
  std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& a, const Value& b) {
    const Value key_a = sort_key(a.items()[position], Value(), case_sensitive);
    const Value key_b = sort_key(b.items()[position], Value(), case_sensitive);
    return descending ? compare(key_b, key_a, "<", budget) < 0 : compare(key_a, key_b, "<", budget) < 0;
  });
  return Value::list(std::move(pairs));
}

// select/reject(test, args...) and selectattr/rejectattr(attribute, test, args...); without a
// test they keep items that are (or are not) truthy.
Value select_items(const Value& input, const Arguments& args, Budget& budget, bool by_attribute, bool keep_matching) {
  size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    if (args.positional.empty()) value_fail("{}() needs an attribute name", keep_matching ? "selectattr" : "rejectattr");
    attribute = args.positional[0].as_string();
    next = 1;
  }
  TestFunction test = nullptr;
  Arguments test_args{{}, args.named};
  if (args.positional.size() > next) {
    const std::string& name = args.positional[next].as_string();
    test = find_test(name);
    if (test == nullptr) value_fail("unknown test '{}'", name);
    test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(next) + 1, args.positional.end());
  }
  std::vector<Value> items;
  for (const Value& item : iterate(input, budget)) {
    const Value subject = by_attribute ? get_path(item, attribute) : item;
    const bool passes = test ? test(subject, test_args, budget) : subject.truthy();
    if (passes == keep_matching) items.push_back(item);
  }
  return Value::generator(std::move(items));
}

Value select_filter(const Value& input, const Arguments& args, Budget& budget) {
  return select_items(input, args, budget, false, true);
}
Value reject_filter(const Value& input, const Arguments& args, Budget& budget) {
  return select_items(input, args, budget, false, false);
}
Value selectattr_filter(const Value& input, const Arguments& args, Budget& budget) {
  return select_items(input, args, budget, true, true);
}
Value rejectattr_filter(const Value& input, const Arguments& args, Budget& budget) {
  return select_items(input, args, budget, true, false);
}

// map('filter', args...) applies a filter to each item; map(attribute='a', default=x) reads an attribute.
Value map_filter(const Value& input, const Arguments& args, Budget& budget) {
  std::vector<Value> items = iterate(input, budget);
  if (args.positional.empty()) {
    const auto bound = bind_arguments("map", args, {"attribute", "default"});
    if (bound[0].is_undefined()) value_fail("map() needs a filter name or attribute=");
    for (Value& item : items) {
      item = get_path(item, bound[0].as_string());
      if (item.is_undefined() && !bound[1].is_undefined()) item = bound[1];
    }
    return Value::generator(std::move(items));
  }
  const std::string& name = args.positional[0].as_string();
  const FilterFunction filter = find_filter(name);
  if (filter == nullptr) value_fail("unknown filter '{}'", name);
  const Arguments filter_args{{args.positional.begin() + 1, args.positional.end()}, args.named};
  for (Value& item : items) item = filter(item, filter_args, budget);
  return Value::generator(std::move(items));
}

struct FilterEntry {
  std::string_view name;
  FilterFunction function;
};

constexpr FilterEntry kFilters[] = {
    {"count", length_filter},       {"dictsort", dictsort_filter},     {"first", first_filter},
    {"items", items_filter},        {"join", join_filter},             {"last", last_filter},
    {"length", length_filter},      {"list", list_filter},             {"map", map_filter},
    {"max", max_filter},            {"min", min_filter},               {"reject", reject_filter},
    {"rejectattr", rejectattr_filter}, {"reverse", reverse_filter},    {"select", select_filter},
    {"selectattr", selectattr_filter}, {"sort", sort_filter},          {"sum", sum_filter},
    {"unique", unique_filter},
};

}  // namespace

FilterFunction find_sequence_filter(std::string_view name) {
  for (const FilterEntry& entry : kFilters) {
    if (entry.name == name) return entry.function;
  }
  return nullptr;
}

}  // namespace tide::jinja
