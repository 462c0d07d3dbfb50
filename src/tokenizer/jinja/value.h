#pragma once
// Values of the template language. They follow the Python data model that Jinja exposes,
// because chat templates are written against it: undefined is distinct from none, bool counts
// as a number, dicts keep insertion order, strings are immutable. Strings, lists and dicts are
// shared immutable payloads, so copying a Value (every variable lookup does) is cheap. The only
// mutable object is the namespace(), which templates use to carry state out of loops.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace tide::jinja {

class Budget;
class Dict;
class Namespace;
struct Arguments;
struct Callable;
struct Sequence;
struct DictBox;

enum class SequenceKind : uint8_t { List, Tuple, Generator };

class Value {
 public:
  enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Callable };

  Value() : Value(undefined("")) {}
  // `hint` says why the value is undefined ("'x' is undefined"); it becomes the error message
  // when a template uses the value in a way Jinja does not allow for undefined.
  static Value undefined(std::string hint);
  static Value none();
  static Value boolean(bool value);
  static Value integer(int64_t value);
  static Value floating(double value);
  static Value string(std::string value);
  static Value list(std::vector<Value> items);
  static Value tuple(std::vector<Value> items);
  // What Jinja's select, map, items and similar filters return: a Python generator, which can
  // be iterated but has no length or index and is true even when it yields nothing.
  static Value generator(std::vector<Value> items);
  static Value dict(Dict entries);
  static Value namespace_object(Dict attributes);
  static Value callable(std::shared_ptr<const Callable> callable);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return is_bool() || is_int() || is_float(); }  // as in Python
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List; }  // lists, tuples and generators
  bool is_tuple() const;
  bool is_generator() const;
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return kind_ == Kind::Namespace; }
  bool is_callable() const { return kind_ == Kind::Callable; }

  // The accessors fail with a ValueError naming both types when the value is of another kind.
  bool as_bool() const;
  int64_t as_int() const;  // also for bools
  double as_float() const;  // also for ints and bools
  const std::string& as_string() const;
  const std::vector<Value>& items() const;
  const Dict& as_dict() const;
  Namespace& as_namespace() const;
  const Callable& as_callable() const;
  const std::string& undefined_hint() const;

  bool truthy() const;                 // Python's bool()
  std::string_view type_name() const;  // Python's type name, for error messages
  // Lists and dicts nest at most kMaxNesting deep, so that printing, comparing and destroying
  // values never recurse deeply enough to exhaust the stack.
  static constexpr int kMaxNesting = 256;
  int nesting_depth() const;
  // Namespaces may not be stored inside namespaces: that is the only way to build a
  // reference cycle, which would leak and make printing loop forever.
  bool holds_namespace() const;
  // Bytes of a string or items of a container: the work to copy or scan it once.
  uint64_t shallow_size() const;
  const void* identity() const;  // the shared payload, for 'is sameas'

 private:
  using Data = std::variant<std::monostate, bool, int64_t, double, std::shared_ptr<const std::string>,
                            std::shared_ptr<const Sequence>, std::shared_ptr<const DictBox>,
                            std::shared_ptr<Namespace>, std::shared_ptr<const Callable>>;
  template <typename Payload>
  Value(Kind kind, Payload payload) : kind_(kind), data_(std::in_place_type<Payload>, std::move(payload)) {}
  template <typename Payload>
  const Payload& payload(Kind kind, std::string_view expected) const;
  static Value sequence(std::vector<Value> items, SequenceKind kind);

  Kind kind_;
  Data data_;
};

// A Python dict with string keys, in insertion order.
class Dict {
 public:
  using Entry = std::pair<std::string, Value>;

  const Value* find(std::string_view key) const;
  // Replaces the value of an existing key in place, or appends a new key.
  void set(std::string key, Value value);
  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };

  std::vector<Entry> entries_;
  // Key to position in entries_: objects in requests can be large, so lookups must not scan.
  std::unordered_map<std::string, size_t, KeyHash, std::equal_to<>> positions_;
};

struct Sequence {
  std::vector<Value> items;
  SequenceKind kind = SequenceKind::List;
  int depth = 1;
  bool holds_namespace = false;
};

struct DictBox {
  Dict dict;
  int depth = 1;
  bool holds_namespace = false;
};

class Namespace {
 public:
  explicit Namespace(Dict attributes);
  const Dict& attributes() const { return attributes_; }
  void set(std::string name, Value value);

 private:
  Dict attributes_;
};

struct Arguments {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;
};

// Functions, bound methods and macros.
struct Callable {
  using Function = std::function<Value(const Arguments&, Budget&)>;
  std::string name;
  Function function;
  bool holds_namespace = false;  // whether `function` captured a value that holds one
};

// Binds call arguments to a fixed parameter list the way Python does (positional first, then by
// keyword) and returns one Value per parameter, undefined where the caller gave none. Fails,
// naming `callee`, on too many arguments, unknown keywords or a missing required argument.
std::vector<Value> bind_arguments(std::string_view callee, const Arguments& args,
                                  std::initializer_list<std::string_view> parameters,
                                  size_t required = 0);

}  // namespace tide::jinja
