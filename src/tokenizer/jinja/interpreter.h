#pragma once
// Runs a parsed template against a context and returns the text it prints. Scoping follows
// Jinja: `set` at the top level is visible to the rest of the template, `set` inside a loop
// body lasts for that iteration only (templates carry state out through namespace()), and a
// macro sees its parameters, the scope it was defined in and the template's top-level names.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/budget.h"
#include "tokenizer/jinja/source.h"

namespace tide::jinja {

class Interpreter {
 public:
  // Evaluation depth: expression nesting plus statement nesting plus macro calls. Parsing caps
  // one template's nesting well below this; the rest is headroom for macro calls.
  static constexpr int kMaxDepth = 500;

  Interpreter(const Source& source, const Limits& limits);
  std::string render(const Body& body, const Dict& context);

 private:
  enum class Flow { Normal, Break, Continue };
  struct Frame {
    std::vector<std::pair<std::string, Value>> variables;
    int parent;  // next frame to search, -1 for none
  };

  Flow execute(const Body& body);
  Flow execute(const Stmt& stmt);
  Flow run(const TextOutput& node, const Stmt& stmt);
  Flow run(const ExprOutput& node, const Stmt& stmt);
  Flow run(const IfStmt& node, const Stmt& stmt);
  Flow run(const ForStmt& node, const Stmt& stmt);
  Flow run(const SetStmt& node, const Stmt& stmt);
  Flow run(const SetBlockStmt& node, const Stmt& stmt);
  Flow run(const MacroStmt& node, const Stmt& stmt);
  Flow run(const CallBlockStmt& node, const Stmt& stmt);
  Flow run(const FilterBlockStmt& node, const Stmt& stmt);
  Flow run(const WithStmt& node, const Stmt& stmt);
  Flow run(const LoopControl& node, const Stmt& stmt);

  Value evaluate(const Expr& expr);
  Value eval(const Literal& node, const Expr& expr);
  Value eval(const Name& node, const Expr& expr);
  Value eval(const ListLiteral& node, const Expr& expr);
  Value eval(const DictLiteral& node, const Expr& expr);
  Value eval(const Attribute& node, const Expr& expr);
  Value eval(const Subscript& node, const Expr& expr);
  Value eval(const Slice& node, const Expr& expr);
  Value eval(const Call& node, const Expr& expr);
  Value eval(const FilterExpr& node, const Expr& expr);
  Value eval(const TestExpr& node, const Expr& expr);
  Value eval(const Unary& node, const Expr& expr);
  Value eval(const Binary& node, const Expr& expr);
  Value eval(const Logical& node, const Expr& expr);
  Value eval(const Compare& node, const Expr& expr);
  Value eval(const Conditional& node, const Expr& expr);

  Arguments evaluate_arguments(const CallArguments& arguments);
  Value apply_filter(const FilterCall& filter, const Value& input);
  Value apply_filters(const std::vector<FilterCall>& filters, Value value);
  Value make_loop_object(const std::vector<Value>& items, size_t index);
  Value make_macro(std::string name, const std::vector<Parameter>& parameters, const Body& body);
  Value call_macro(const std::string& name, const std::vector<Parameter>& parameters, const Body& body,
                   int visible_frames, const Arguments& args);

  Value lookup(const std::string& name) const;
  void define(std::string name, Value value);
  void assign(const Target& target, const Value& value);
  void push_frame(int parent);
  void pop_frame() { frames_.pop_back(); }

  void write(std::string_view text);
  std::string capture(const Body& body);
  void enter(uint32_t offset);
  void leave() { --depth_; }

  const Source& source_;
  Budget budget_;
  std::vector<Frame> frames_;
  std::string* out_ = nullptr;
  int depth_ = 0;
  int call_depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace tide::jinja
