#include "tokenizer/jinja/value.h"

#include <algorithm>

#include "tokenizer/jinja/value_error.h"

namespace tide::jinja {
namespace {

const std::string kEmpty;

struct Shape {
  int depth = 1;
  bool holds_namespace = false;
};

void include_child(Shape& shape, const Value& child) {
  shape.depth = std::max(shape.depth, child.nesting_depth() + 1);
  shape.holds_namespace = shape.holds_namespace || child.holds_namespace();
  if (shape.depth > Value::kMaxNesting) {
    value_fail("value nested more than {} levels deep", Value::kMaxNesting);
  }
}

}  // namespace

Value Value::undefined(std::string hint) {
  if (hint.empty()) return Value(Kind::Undefined, std::shared_ptr<const std::string>());
  return Value(Kind::Undefined, std::make_shared<const std::string>(std::move(hint)));
}

Value Value::none() { return Value(Kind::None, std::monostate()); }
Value Value::boolean(bool value) { return Value(Kind::Bool, value); }
Value Value::integer(int64_t value) { return Value(Kind::Int, value); }
Value Value::floating(double value) { return Value(Kind::Float, value); }

Value Value::string(std::string value) {
  return Value(Kind::String, std::make_shared<const std::string>(std::move(value)));
}

Value Value::sequence(std::vector<Value> items, SequenceKind kind) {
  Shape shape;
  for (const Value& item : items) include_child(shape, item);
  return Value(Kind::List, std::make_shared<const Sequence>(
                               Sequence{std::move(items), kind, shape.depth, shape.holds_namespace}));
}

Value Value::list(std::vector<Value> items) { return sequence(std::move(items), SequenceKind::List); }
Value Value::tuple(std::vector<Value> items) { return sequence(std::move(items), SequenceKind::Tuple); }
Value Value::generator(std::vector<Value> items) { return sequence(std::move(items), SequenceKind::Generator); }

Value Value::dict(Dict entries) {
  Shape shape;
  for (const auto& [key, value] : entries.entries()) include_child(shape, value);
  return Value(Kind::Dict,
               std::make_shared<const DictBox>(DictBox{std::move(entries), shape.depth, shape.holds_namespace}));
}

Value Value::namespace_object(Dict attributes) {
  return Value(Kind::Namespace, std::make_shared<Namespace>(std::move(attributes)));
}

Value Value::callable(std::shared_ptr<const Callable> callable) {
  return Value(Kind::Callable, std::move(callable));
}

bool Value::is_tuple() const {
  return is_list() && std::get<std::shared_ptr<const Sequence>>(data_)->kind == SequenceKind::Tuple;
}

bool Value::is_generator() const {
  return is_list() && std::get<std::shared_ptr<const Sequence>>(data_)->kind == SequenceKind::Generator;
}


template <typename Payload>
const Payload& Value::payload(Kind kind, std::string_view expected) const {
  if (kind_ != kind) value_fail("expected {}, not {}", expected, type_name());
  return std::get<Payload>(data_);
}

bool Value::as_bool() const { return payload<bool>(Kind::Bool, "a bool"); }

int64_t Value::as_int() const {
  if (is_bool()) return as_bool();
  return payload<int64_t>(Kind::Int, "an integer");
}

double Value::as_float() const {
  if (is_float()) return std::get<double>(data_);
  if (!is_int() && !is_bool()) value_fail("expected a number, not {}", type_name());
  return static_cast<double>(as_int());
}

const std::string& Value::as_string() const {
  return *payload<std::shared_ptr<const std::string>>(Kind::String, "a string");
}

const std::vector<Value>& Value::items() const {
  return payload<std::shared_ptr<const Sequence>>(Kind::List, "a list")->items;
}

const Dict& Value::as_dict() const { return payload<std::shared_ptr<const DictBox>>(Kind::Dict, "a dict")->dict; }
Namespace& Value::as_namespace() const { return *payload<std::shared_ptr<Namespace>>(Kind::Namespace, "a namespace"); }
const Callable& Value::as_callable() const {
  return *payload<std::shared_ptr<const Callable>>(Kind::Callable, "a callable");
}

const std::string& Value::undefined_hint() const {
  if (!is_undefined()) return kEmpty;
  const auto& hint = std::get<std::shared_ptr<const std::string>>(data_);
  return hint ? *hint : kEmpty;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return as_bool();
    case Kind::Int: return as_int() != 0;
    case Kind::Float: return as_float() != 0.0;
    case Kind::String: return !as_string().empty();
    case Kind::List: return is_generator() || !items().empty();
    case Kind::Dict: return !as_dict().empty();
    case Kind::Namespace:
    case Kind::Callable: return true;
  }
  return false;
}

std::string_view Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return is_tuple() ? "tuple" : is_generator() ? "generator" : "list";
    case Kind::Dict: return "dict";
    case Kind::Namespace: return "Namespace";
    case Kind::Callable: return "function";
  }
  return "?";
}

int Value::nesting_depth() const {
  if (is_list()) return std::get<std::shared_ptr<const Sequence>>(data_)->depth;
  if (is_dict()) return std::get<std::shared_ptr<const DictBox>>(data_)->depth;
  return 0;
}

bool Value::holds_namespace() const {
  switch (kind_) {
    case Kind::Namespace: return true;
    case Kind::List: return std::get<std::shared_ptr<const Sequence>>(data_)->holds_namespace;
    case Kind::Dict: return std::get<std::shared_ptr<const DictBox>>(data_)->holds_namespace;
    case Kind::Callable: return as_callable().holds_namespace;
    default: return false;
  }
}

uint64_t Value::shallow_size() const {
  switch (kind_) {
    case Kind::String: return as_string().size();
    case Kind::List: return items().size();
    case Kind::Dict: return as_dict().size();
    default: return 1;
  }
}

const void* Value::identity() const {
  return std::visit(
      [](const auto& payload) -> const void* {
        if constexpr (requires { payload.get(); }) {
          return payload.get();
        } else {
          return nullptr;
        }
      },
      data_);
}

const Value* Dict::find(std::string_view key) const {
  const auto it = positions_.find(key);
  return it == positions_.end() ? nullptr : &entries_[it->second].second;
}

void Dict::set(std::string key, Value value) {
  const auto [it, inserted] = positions_.try_emplace(key, entries_.size());
  if (inserted) {
    entries_.emplace_back(std::move(key), std::move(value));
  } else {
    entries_[it->second].second = std::move(value);
  }
}

Namespace::Namespace(Dict attributes) {
  for (const auto& [name, value] : attributes.entries()) set(name, value);
}

void Namespace::set(std::string name, Value value) {
  if (value.holds_namespace()) value_fail("a namespace attribute cannot hold a namespace");
  if (value.nesting_depth() >= Value::kMaxNesting) {
    value_fail("value nested more than {} levels deep", Value::kMaxNesting);
  }
  attributes_.set(std::move(name), std::move(value));
}

std::vector<Value> bind_arguments(std::string_view callee, const Arguments& args,
                                  std::initializer_list<std::string_view> parameters, size_t required) {
  if (args.positional.size() > parameters.size()) {
    value_fail("{}() takes at most {} arguments ({} given)", callee, parameters.size(), args.positional.size());
  }
  std::vector<Value> bound(args.positional.begin(), args.positional.end());
  bound.resize(parameters.size());
  std::vector<bool> given(parameters.size(), false);
  std::fill_n(given.begin(), args.positional.size(), true);
  for (const auto& [name, value] : args.named) {
    const auto it = std::find(parameters.begin(), parameters.end(), name);
    if (it == parameters.end()) value_fail("{}() got an unexpected keyword argument '{}'", callee, name);
    const size_t index = static_cast<size_t>(it - parameters.begin());
    if (given[index]) value_fail("{}() got multiple values for argument '{}'", callee, name);
    bound[index] = value;
    given[index] = true;
  }
  for (size_t i = 0; i < required; ++i) {
    if (!given[i]) value_fail("{}() missing required argument '{}'", callee, *(parameters.begin() + i));
  }
  return bound;
}

}  // namespace tide::jinja
