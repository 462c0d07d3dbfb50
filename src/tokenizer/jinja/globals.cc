#include "tokenizer/jinja/globals.h"

#include <ctime>

#include "tokenizer/jinja/budget.h"
#include "tokenizer/jinja/value_error.h"

namespace tide::jinja {
namespace {

// The limit Jinja's sandbox puts on range(), which templates may therefore rely on.
constexpr int64_t kMaxRange = 100'000;

int64_t integer_argument(const Value& value, std::string_view callee) {
  if (!value.is_int() && !value.is_bool()) value_fail("{}() arguments must be integers, not {}", callee, value.type_name());
  return value.as_int();
}

Value range(const Arguments& args, Budget& budget) {
  if (!args.named.empty()) value_fail("range() takes no keyword arguments");
  const auto& positional = args.positional;
  if (positional.empty() || positional.size() > 3) value_fail("range() takes 1 to 3 arguments ({} given)", positional.size());
  int64_t start = 0, stop = 0, step = 1;
  if (positional.size() == 1) {
    stop = integer_argument(positional[0], "range");
  } else {
    start = integer_argument(positional[0], "range");
    stop = integer_argument(positional[1], "range");
    if (positional.size() == 3) step = integer_argument(positional[2], "range");
  }
  if (step == 0) value_fail("range() step must not be zero");
  // Compared in floating point so that extreme arguments cannot overflow.
  const double span = (static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step);
  if (span > static_cast<double>(kMaxRange)) value_fail("range() of more than {} items", kMaxRange);
  std::vector<Value> items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) items.push_back(Value::integer(i));
  budget.charge(items.size());
  return Value::list(std::move(items));
}

// dict(mapping, key=value, ...) and namespace(...) take the same arguments.
Dict dict_from_arguments(const Arguments& args, std::string_view callee) {
  if (args.positional.size() > 1) value_fail("{}() takes at most 1 positional argument", callee);
  Dict dict;
  if (!args.positional.empty()) {
    if (!args.positional[0].is_dict()) value_fail("{}() argument must be a dict, not {}", callee, args.positional[0].type_name());
    dict = args.positional[0].as_dict();
  }
  for (const auto& [name, value] : args.named) dict.set(name, value);
  return dict;
}

Value make_dict(const Arguments& args, Budget&) { return Value::dict(dict_from_arguments(args, "dict")); }

Value make_namespace(const Arguments& args, Budget&) {
  return Value::namespace_object(dict_from_arguments(args, "namespace"));
}

Value raise_exception(const Arguments& args, Budget&) {
  const auto bound = bind_arguments("raise_exception", args, {"message"}, 1);
  value_fail("template raised an exception: {}", bound[0].is_string() ? bound[0].as_string() : "(no message)");
}

Value strftime_now(const Arguments& args, Budget&) {
  const auto bound = bind_arguments("strftime_now", args, {"format"}, 1);
  const std::string& format = bound[0].as_string();
  if (format.size() > 256) value_fail("strftime_now() format longer than 256 characters");
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  // No strftime field expands to more than a few dozen bytes.
  std::string out(format.size() * 64 + 1, '\0');
  out.resize(std::strftime(out.data(), out.size(), format.c_str(), &local));
  return Value::string(std::move(out));
}

Value function(std::string name, Callable::Function function) {
  return Value::callable(std::make_shared<const Callable>(Callable{std::move(name), std::move(function), false}));
}

}  // namespace

const Dict& builtin_globals() {
  static const Dict globals = [] {
    Dict dict;
    dict.set("range", function("range", range));
    dict.set("dict", function("dict", make_dict));
    dict.set("namespace", function("namespace", make_namespace));
    dict.set("raise_exception", function("raise_exception", raise_exception));
    dict.set("strftime_now", function("strftime_now", strftime_now));
    return dict;
  }();
  return globals;
}

}  // namespace tide::jinja
