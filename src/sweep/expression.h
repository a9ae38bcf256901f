// The sweep file's small expression language, for `derive` and `exclude`:
//   numbers (3e12), strings ("masked"), names (budget, model.d_model,
//   flops_per_token_md), + - * / % ^, comparisons == != < <= > >=, && || !,
//   and the functions min max floor ceil round abs sqrt exp log log2 log10
//   pow round_to(x, m) floor_to(x, m) round_pow2(x) if(cond, a, b).
// No assignment, no loops, no I/O: an expression can only compute a value
// from the names it is given.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

namespace scalebed {

struct ExprValue {
  bool is_string = false;
  double number = 0;
  std::string text;
  static ExprValue of(double v) { return {false, v, ""}; }
  static ExprValue of(std::string s) { return {true, 0, std::move(s)}; }
};

class ExpressionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Resolves a name to its value, or nullopt when the name is unknown.
using NameLookup = std::function<std::optional<ExprValue>(const std::string& name)>;

class Expression {
 public:
  // Parses; throws ExpressionError naming the column of a syntax error.
  explicit Expression(const std::string& source);
  ~Expression();
  Expression(Expression&&) noexcept;
  Expression& operator=(Expression&&) noexcept;

  // Evaluates; throws ExpressionError for unknown names, type errors
  // (arithmetic on a string) and non-finite results.
  ExprValue evaluate(const NameLookup& lookup) const;

  const std::string& source() const { return source_; }
  const std::set<std::string>& names() const { return names_; }  // every name it reads

  struct Node;

 private:
  std::string source_;
  std::unique_ptr<Node> root_;
  std::set<std::string> names_;
};

// A number as the shortest text that reads back to the same double
// (integers without a decimal point: 4096, 3e+12 -> 3000000000000).
std::string format_number(double v);

}  // namespace scalebed
