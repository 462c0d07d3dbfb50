#pragma once
// Operators with Python's semantics, which chat templates silently rely on: 7 // -2 is -4,
// 'ab' * 2 is 'abab', 1 == 1.0 == true, [1, 2] < [1, 3], and 'a' + 1 is an error rather than
// 'a1'. Integers are 64-bit; where Python would grow a big integer we fail instead.
#include <compare>
#include <string_view>

#include "tokenizer/jinja/value.h"

namespace tide::jinja {

enum class BinaryOp { Add, Subtract, Multiply, Divide, FloorDivide, Modulo, Power, Concat };
enum class CompareOp { Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual, In, NotIn };

std::string_view symbol(BinaryOp op);
std::string_view symbol(CompareOp op);

Value apply_binary(BinaryOp op, const Value& left, const Value& right, Budget& budget);
Value negate(const Value& value);
Value unary_plus(const Value& value);
bool apply_compare(CompareOp op, const Value& left, const Value& right, Budget& budget);

bool equals(const Value& left, const Value& right, Budget& budget);
// Fails, naming `op`, for types Python cannot order ('<' between a str and an int).
std::partial_ordering compare(const Value& left, const Value& right, std::string_view op, Budget& budget);
bool contains(const Value& container, const Value& item, Budget& budget);

// Fails with the undefined value's hint; used wherever Jinja refuses to operate on undefined.
[[noreturn]] void fail_undefined(const Value& value);

}  // namespace tide::jinja
