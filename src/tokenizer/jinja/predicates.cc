#include "tokenizer/jinja/predicates.h"

#include "tokenizer/jinja/budget.h"
#include "tokenizer/jinja/filters.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/unicode.h"
#include "tokenizer/jinja/value_format.h"

namespace tide::jinja {
namespace {

// Tests without arguments.
template <bool (*Check)(const Value&)>
bool simple(const Value& input, const Arguments& args, Budget&) {
  bind_arguments("test", args, {});
  return Check(input);
}

bool is_defined(const Value& v) { return !v.is_undefined(); }
bool is_undefined(const Value& v) { return v.is_undefined(); }
bool is_none(const Value& v) { return v.is_none(); }
bool is_boolean(const Value& v) { return v.is_bool(); }
bool is_true(const Value& v) { return v.is_bool() && v.as_bool(); }
bool is_false(const Value& v) { return v.is_bool() && !v.as_bool(); }
bool is_integer(const Value& v) { return v.is_int(); }  // bool is not an integer here, as in Jinja
bool is_float(const Value& v) { return v.is_float(); }
bool is_number(const Value& v) { return v.is_number(); }
bool is_string(const Value& v) { return v.is_string(); }
bool is_mapping(const Value& v) { return v.is_dict(); }
// Jinja's Undefined defines __call__, __len__ and __getitem__ (to raise), so it passes these.
bool is_callable(const Value& v) { return v.is_callable() || v.is_undefined(); }
// Undefined iterates as empty in Jinja, so it counts as iterable.
bool is_iterable(const Value& v) { return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined(); }
bool is_sequence(const Value& v) {
  return v.is_string() || (v.is_list() && !v.is_generator()) || v.is_dict() || v.is_undefined();
}

// Jinja computes value % 2, so floats are accepted: 3.0 is odd, 0.5 is neither.
bool is_odd(const Value& input, const Arguments& args, Budget& budget) {
  bind_arguments("odd", args, {});
  return equals(apply_binary(BinaryOp::Modulo, input, Value::integer(2), budget), Value::integer(1), budget);
}

bool is_even(const Value& input, const Arguments& args, Budget& budget) {
  bind_arguments("even", args, {});
  return equals(apply_binary(BinaryOp::Modulo, input, Value::integer(2), budget), Value::integer(0), budget);
}

bool is_divisible_by(const Value& input, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("divisibleby", args, {"num"}, 1);
  return apply_compare(CompareOp::Equal, apply_binary(BinaryOp::Modulo, input, bound[0], budget), Value::integer(0), budget);
}

template <CompareOp Op>
bool comparison(const Value& input, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments(symbol(Op), args, {"other"}, 1);
  return apply_compare(Op, input, bound[0], budget);
}

bool is_in(const Value& input, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("in", args, {"seq"}, 1);
  return contains(bound[0], input, budget);
}

// Python's `is`: scalars compare by value (as small ints and singletons do), objects by identity.
bool is_same_as(const Value& input, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("sameas", args, {"other"}, 1);
  const Value& other = bound[0];
  if (input.kind() != other.kind()) return false;
  if (input.identity() != nullptr) return input.identity() == other.identity();
  return equals(input, other, budget);
}

bool is_lower(const Value& input, const Arguments& args, Budget& budget) {
  bind_arguments("lower", args, {});
  return is_cased_lower(to_str(input, budget));
}

bool is_upper(const Value& input, const Arguments& args, Budget& budget) {
  bind_arguments("upper", args, {});
  return is_cased_upper(to_str(input, budget));
}

bool names_filter(const Value& input, const Arguments& args, Budget&) {
  bind_arguments("filter", args, {});
  return input.is_string() && find_filter(input.as_string()) != nullptr;
}

bool names_test(const Value& input, const Arguments& args, Budget&) {
  bind_arguments("test", args, {});
  return input.is_string() && find_test(input.as_string()) != nullptr;
}

struct TestEntry {
  std::string_view name;
  TestFunction function;
};

constexpr TestEntry kTests[] = {
    {"boolean", simple<is_boolean>},
    {"callable", simple<is_callable>},
    {"defined", simple<is_defined>},
    {"divisibleby", is_divisible_by},
    {"eq", comparison<CompareOp::Equal>},
    {"equalto", comparison<CompareOp::Equal>},
    {"==", comparison<CompareOp::Equal>},
    {"even", is_even},
    {"false", simple<is_false>},
    {"filter", names_filter},
    {"float", simple<is_float>},
    {"ge", comparison<CompareOp::GreaterEqual>},
    {">=", comparison<CompareOp::GreaterEqual>},
    {"gt", comparison<CompareOp::Greater>},
    {"greaterthan", comparison<CompareOp::Greater>},
    {">", comparison<CompareOp::Greater>},
    {"in", is_in},
    {"integer", simple<is_integer>},
    {"iterable", simple<is_iterable>},
    {"le", comparison<CompareOp::LessEqual>},
    {"<=", comparison<CompareOp::LessEqual>},
    {"lower", is_lower},
    {"lt", comparison<CompareOp::Less>},
    {"lessthan", comparison<CompareOp::Less>},
    {"<", comparison<CompareOp::Less>},
    {"mapping", simple<is_mapping>},
    {"ne", comparison<CompareOp::NotEqual>},
    {"!=", comparison<CompareOp::NotEqual>},
    {"none", simple<is_none>},
    {"number", simple<is_number>},
    {"odd", is_odd},
    {"sameas", is_same_as},
    {"sequence", simple<is_sequence>},
    {"string", simple<is_string>},
    {"test", names_test},
    {"true", simple<is_true>},
    {"undefined", simple<is_undefined>},
    {"upper", is_upper},
};

}  // namespace

TestFunction find_test(std::string_view name) {
  for (const TestEntry& entry : kTests) {
    if (entry.name == name) return entry.function;
  }
  return nullptr;
}

}  // namespace tide::jinja
