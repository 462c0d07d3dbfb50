#include "tokenizer/jinja/operators.h"

#include <cmath>
#include <cstdint>

#include "tokenizer/jinja/budget.h"
#include "tokenizer/jinja/value_error.h"
#include "tokenizer/jinja/value_format.h"

namespace tide::jinja {
namespace {

bool is_integral(const Value& v) { return v.is_int() || v.is_bool(); }

[[noreturn]] void fail_operands(BinaryOp op, const Value& left, const Value& right) {
  value_fail("unsupported operand types for {}: '{}' and '{}'", symbol(op), left.type_name(), right.type_name());
}

// Wraps the __builtin_*_overflow calls, whose result is written through `result`.
int64_t checked(bool overflowed, const int64_t& result) {
  if (overflowed) value_fail("integer overflow");
  return result;
}

Value repeat(const Value& sequence, int64_t times, Budget& budget) {
  const uint64_t count = times > 0 ? static_cast<uint64_t>(times) : 0;
  const uint64_t size = sequence.shallow_size();
  budget.check_size(size != 0 && count > UINT64_MAX / size ? UINT64_MAX : count * size);
  if (sequence.is_string()) {
    std::string out;
    out.reserve(size * count);
    for (uint64_t i = 0; size != 0 && i < count; ++i) out += sequence.as_string();
    return Value::string(std::move(out));
  }
  const auto& items = sequence.items();
  std::vector<Value> out;
  out.reserve(size * count);
  for (uint64_t i = 0; size != 0 && i < count; ++i) out.insert(out.end(), items.begin(), items.end());
  return sequence.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

int64_t checked_multiply(int64_t a, int64_t b) {
  int64_t result = 0;
  if (__builtin_mul_overflow(a, b, &result)) value_fail("integer overflow");
  return result;
}

int64_t int_power(int64_t base, int64_t exponent) {
  int64_t result = 1;
  while (exponent > 0) {
    if (exponent & 1) result = checked_multiply(result, base);
    exponent >>= 1;
    if (exponent > 0) base = checked_multiply(base, base);
  }
  return result;
}

int64_t checked_negate(int64_t value) {
  if (value == INT64_MIN) value_fail("integer overflow");
  return -value;
}

// CPython's float floor division and modulo: the remainder takes the divisor's sign.
void float_div_mod(double x, double y, double& floor_quotient, double& remainder) {
  if (y == 0.0) value_fail("float division by zero");
  double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0.0) {
    if ((y < 0) != (mod < 0)) {
      mod += y;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, y);
  }
  if (div != 0.0) {
    floor_quotient = std::floor(div);
    if (div - floor_quotient > 0.5) floor_quotient += 1.0;
  } else {
    floor_quotient = std::copysign(0.0, x / y);
  }
  remainder = mod;
}

Value arithmetic(BinaryOp op, const Value& left, const Value& right) {
  if (is_integral(left) && is_integral(right)) {
    const int64_t a = left.as_int(), b = right.as_int();
    int64_t r = 0;
    switch (op) {
      case BinaryOp::Add: return Value::integer(checked(__builtin_add_overflow(a, b, &r), r));
      case BinaryOp::Subtract: return Value::integer(checked(__builtin_sub_overflow(a, b, &r), r));
      case BinaryOp::Multiply: return Value::integer(checked(__builtin_mul_overflow(a, b, &r), r));
      case BinaryOp::Divide:
        if (b == 0) value_fail("division by zero");
        return Value::floating(static_cast<double>(a) / static_cast<double>(b));
      case BinaryOp::FloorDivide:
      case BinaryOp::Modulo: {
        if (b == 0) value_fail("integer division or modulo by zero");
        if (b == -1) return Value::integer(op == BinaryOp::Modulo ? 0 : checked_negate(a));
        int64_t quotient = a / b, remainder = a % b;
        if (remainder != 0 && ((remainder < 0) != (b < 0))) {
          quotient -= 1;
          remainder += b;
        }
        return Value::integer(op == BinaryOp::Modulo ? remainder : quotient);
      }
      case BinaryOp::Power:
        if (b >= 0) return Value::integer(int_power(a, b));
        if (a == 0) value_fail("0 cannot be raised to a negative power");
        return Value::floating(std::pow(static_cast<double>(a), static_cast<double>(b)));
      case BinaryOp::Concat: break;
    }
  }
  const double a = left.as_float(), b = right.as_float();
  double quotient = 0, remainder = 0;
  switch (op) {
    case BinaryOp::Add: return Value::floating(a + b);
    case BinaryOp::Subtract: return Value::floating(a - b);
    case BinaryOp::Multiply: return Value::floating(a * b);
    case BinaryOp::Divide:
      if (b == 0.0) value_fail("float division by zero");
      return Value::floating(a / b);
    case BinaryOp::FloorDivide: float_div_mod(a, b, quotient, remainder); return Value::floating(quotient);
    case BinaryOp::Modulo: float_div_mod(a, b, quotient, remainder); return Value::floating(remainder);
    case BinaryOp::Power: {
      if (a == 0.0 && b < 0) value_fail("0.0 cannot be raised to a negative power");
      if (a < 0 && b != std::floor(b)) value_fail("negative number cannot be raised to a fractional power");
      const double result = std::pow(a, b);
      if (std::isinf(result) && std::isfinite(a) && std::isfinite(b)) value_fail("numerical result out of range");
      return Value::floating(result);
    }
    case BinaryOp::Concat: break;
  }
  fail_operands(op, left, right);
}

// Lists with lists, tuples with tuples; generators combine with nothing.
bool same_sequence_type(const Value& a, const Value& b) {
  return a.is_list() && b.is_list() && !a.is_generator() && !b.is_generator() && a.is_tuple() == b.is_tuple();
}

bool is_repeatable(const Value& v) { return v.is_string() || (v.is_list() && !v.is_generator()); }

}  // namespace

std::string_view symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "+";
    case BinaryOp::Subtract: return "-";
    case BinaryOp::Multiply: return "*";
    case BinaryOp::Divide: return "/";
    case BinaryOp::FloorDivide: return "//";
    case BinaryOp::Modulo: return "%";
    case BinaryOp::Power: return "**";
    case BinaryOp::Concat: return "~";
  }
  return "?";
}

std::string_view symbol(CompareOp op) {
  switch (op) {
    case CompareOp::Equal: return "==";
    case CompareOp::NotEqual: return "!=";
    case CompareOp::Less: return "<";
    case CompareOp::LessEqual: return "<=";
    case CompareOp::Greater: return ">";
    case CompareOp::GreaterEqual: return ">=";
    case CompareOp::In: return "in";
    case CompareOp::NotIn: return "not in";
  }
  return "?";
}

void fail_undefined(const Value& value) {
  const std::string& hint = value.undefined_hint();
  value_fail("{}", hint.empty() ? "undefined value" : hint);
}

Value apply_binary(BinaryOp op, const Value& left, const Value& right, Budget& budget) {
  budget.charge(left.shallow_size() + right.shallow_size());
  if (op == BinaryOp::Concat) {
    std::string out = to_str(left, budget);
    budget.check_size(out.size() + right.shallow_size());
    append_str(out, right, budget);
    return Value::string(std::move(out));
  }
  if (left.is_undefined()) fail_undefined(left);
  if (right.is_undefined()) fail_undefined(right);
  if (left.is_number() && right.is_number()) return arithmetic(op, left, right);
  if (op == BinaryOp::Add && left.is_string() && right.is_string()) {
    budget.check_size(left.as_string().size() + right.as_string().size());
    return Value::string(left.as_string() + right.as_string());
  }
  if (op == BinaryOp::Add && same_sequence_type(left, right)) {
    budget.check_size(left.items().size() + right.items().size());
    std::vector<Value> items = left.items();
    items.insert(items.end(), right.items().begin(), right.items().end());
    return left.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
  }
  if (op == BinaryOp::Multiply && is_repeatable(left) && is_integral(right)) {
    return repeat(left, right.as_int(), budget);
  }
  if (op == BinaryOp::Multiply && is_integral(left) && is_repeatable(right)) {
    return repeat(right, left.as_int(), budget);
  }
  if (op == BinaryOp::Modulo && left.is_string()) value_fail("string formatting with '%' is not supported");
  fail_operands(op, left, right);
}

Value negate(const Value& value) {
  if (value.is_undefined()) fail_undefined(value);
  if (value.is_float()) return Value::floating(-value.as_float());
  if (is_integral(value)) return Value::integer(checked_negate(value.as_int()));
  value_fail("bad operand type for unary -: '{}'", value.type_name());
}

Value unary_plus(const Value& value) {
  if (value.is_undefined()) fail_undefined(value);
  if (value.is_float()) return value;
  if (is_integral(value)) return Value::integer(value.as_int());
  value_fail("bad operand type for unary +: '{}'", value.type_name());
}

bool equals(const Value& left, const Value& right, Budget& budget) {
  budget.charge(1);
  if (left.identity() != nullptr && left.identity() == right.identity()) return true;
  if (left.is_number() && right.is_number()) {
    if (is_integral(left) && is_integral(right)) return left.as_int() == right.as_int();
    return left.as_float() == right.as_float();
  }
  if (left.kind() != right.kind()) return false;
  switch (left.kind()) {
    case Value::Kind::Undefined:
    case Value::Kind::None: return true;
    case Value::Kind::String:
      budget.charge(std::min(left.shallow_size(), right.shallow_size()));
      return left.as_string() == right.as_string();
    case Value::Kind::List: {
      if (!same_sequence_type(left, right) || left.items().size() != right.items().size()) return false;
      for (size_t i = 0; i < left.items().size(); ++i) {
        if (!equals(left.items()[i], right.items()[i], budget)) return false;
      }
      return true;
    }
    case Value::Kind::Dict: {
      if (left.as_dict().size() != right.as_dict().size()) return false;
      for (const auto& [key, item] : left.as_dict().entries()) {
        const Value* other = right.as_dict().find(key);
        if (other == nullptr || !equals(item, *other, budget)) return false;
      }
      return true;
    }
    default: return false;  // namespaces and callables are equal only to themselves
  }
}

std::partial_ordering compare(const Value& left, const Value& right, std::string_view op, Budget& budget) {
  budget.charge(1);
  if (left.is_undefined()) fail_undefined(left);
  if (right.is_undefined()) fail_undefined(right);
  if (left.is_number() && right.is_number()) {
    if (is_integral(left) && is_integral(right)) return left.as_int() <=> right.as_int();
    return left.as_float() <=> right.as_float();
  }
  if (left.is_string() && right.is_string()) {
    budget.charge(std::min(left.shallow_size(), right.shallow_size()));
    // Byte order of UTF-8 is code point order, which is how Python orders strings.
    return left.as_string().compare(right.as_string()) <=> 0;
  }
  if (same_sequence_type(left, right)) {
    const auto& a = left.items();
    const auto& b = right.items();
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (!equals(a[i], b[i], budget)) return compare(a[i], b[i], op, budget);
    }
    return a.size() <=> b.size();
  }
  value_fail("'{}' not supported between instances of '{}' and '{}'", op, left.type_name(), right.type_name());
}

bool contains(const Value& container, const Value& item, Budget& budget) {
  budget.charge(container.shallow_size());
  switch (container.kind()) {
    case Value::Kind::Undefined: return false;  // undefined iterates as empty
    case Value::Kind::String:
      if (!item.is_string()) value_fail("'in <string>' requires string as left operand, not {}", item.type_name());
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::List:
      for (const Value& element : container.items()) {
        if (equals(element, item, budget)) return true;
      }
      return false;
    case Value::Kind::Dict:
      if (item.is_dict() || (item.is_list() && !item.is_tuple() && !item.is_generator())) {
        value_fail("unhashable type: '{}'", item.type_name());
      }
      return item.is_string() && container.as_dict().find(item.as_string()) != nullptr;
    default: value_fail("argument of type '{}' is not iterable", container.type_name());
  }
}

bool apply_compare(CompareOp op, const Value& left, const Value& right, Budget& budget) {
  switch (op) {
    case CompareOp::Equal: return equals(left, right, budget);
    case CompareOp::NotEqual: return !equals(left, right, budget);
    case CompareOp::Less: return compare(left, right, symbol(op), budget) < 0;
    case CompareOp::LessEqual: return compare(left, right, symbol(op), budget) <= 0;
    case CompareOp::Greater: return compare(left, right, symbol(op), budget) > 0;
    case CompareOp::GreaterEqual: return compare(left, right, symbol(op), budget) >= 0;
    case CompareOp::In: return contains(right, left, budget);
    case CompareOp::NotIn: return !contains(right, left, budget);
  }
  return false;
}

}  // namespace tide::jinja
