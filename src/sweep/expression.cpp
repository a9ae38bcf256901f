// A recursive-descent parser and tree evaluator for sweep expressions.
#include "sweep/expression.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <vector>

namespace scalebed {

struct Expression::Node {
  enum Kind { kNumber, kString, kName, kUnary, kBinary, kCall } kind;
  double number = 0;
  std::string text;  // string literal, name, operator or function name
  std::vector<std::unique_ptr<Node>> args;
  size_t column = 0;  // 1-based, for error messages
};

namespace {

using Node = Expression::Node;

class Parser {
 public:
  Parser(const std::string& s, std::set<std::string>& names) : s_(s), names_(names) {}

  std::unique_ptr<Node> parse() {
    auto n = parse_or();
    skip_space();
    if (pos_ < s_.size()) error("unexpected '" + std::string(1, s_[pos_]) + "'");
    return n;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    throw ExpressionError(what + " at column " + std::to_string(pos_ + 1) + " of '" + s_ + "'");
  }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool accept(const std::string& token) {
    skip_space();
    if (s_.compare(pos_, token.size(), token) != 0) return false;
    // "=" alone is not an operator: do not read "<" out of "<=" by mistake.
    if ((token == "<" || token == ">" || token == "!") && pos_ + 1 < s_.size() &&
        s_[pos_ + 1] == '=') {
      return false;
    }
    pos_ += token.size();
    return true;
  }
  // Parsing, checking and evaluating recurse over the tree, so its size is
  // bounded: every node and every parenthesis spends one of kMaxElements
  // (sweep expressions use tens), which bounds both the tree's depth and the
  // parser's nesting, and a pathological expression is an error, not a crash.
  static constexpr int kMaxElements = 500;
  void spend() {
    if (++elements_ > kMaxElements) {
      error("expression too long (more than " + std::to_string(kMaxElements) +
            " names, numbers, operators and parentheses)");
    }
  }
  std::unique_ptr<Node> make(Node::Kind kind, std::string text, size_t column) {
    spend();
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->text = std::move(text);
    n->column = column;
    return n;
  }
  std::unique_ptr<Node> binary(std::string op, std::unique_ptr<Node> a, std::unique_ptr<Node> b,
                               size_t column) {
    auto n = make(Node::kBinary, std::move(op), column);
    n->args.push_back(std::move(a));
    n->args.push_back(std::move(b));
    return n;
  }

  std::unique_ptr<Node> parse_or() {
    auto left = parse_and();
    while (true) {
      const size_t at = pos_;
      if (!accept("||")) return left;
      left = binary("||", std::move(left), parse_and(), at);
    }
  }
  std::unique_ptr<Node> parse_and() {
    auto left = parse_comparison();
    while (true) {
      const size_t at = pos_;
      if (!accept("&&")) return left;
      left = binary("&&", std::move(left), parse_comparison(), at);
    }
  }
  std::unique_ptr<Node> parse_comparison() {
    auto left = parse_sum();
    for (const char* op : {"==", "!=", "<=", ">=", "<", ">"}) {
      const size_t at = pos_;
      if (accept(op)) return binary(op, std::move(left), parse_sum(), at);
    }
    return left;
  }
  std::unique_ptr<Node> parse_sum() {
    auto left = parse_product();
    while (true) {
      const size_t at = pos_;
      if (accept("+")) {
        left = binary("+", std::move(left), parse_product(), at);
      } else if (accept("-")) {
        left = binary("-", std::move(left), parse_product(), at);
      } else {
        return left;
      }
    }
  }
  std::unique_ptr<Node> parse_product() {
    auto left = parse_unary();
    while (true) {
      const size_t at = pos_;
      std::string op;
      for (const char* c : {"*", "/", "%"}) {
        if (op.empty() && accept(c)) op = c;
      }
      if (op.empty()) return left;
      left = binary(op, std::move(left), parse_unary(), at);
    }
  }
  std::unique_ptr<Node> parse_unary() {
    const size_t at = pos_;
    for (const char* op : {"-", "+", "!"}) {
      if (accept(op)) {
        auto n = make(Node::kUnary, op, at);
        n->args.push_back(parse_unary());
        return n;
      }
    }
    auto base = parse_primary();
    const size_t at_pow = pos_;
    if (accept("^")) return binary("^", std::move(base), parse_unary(), at_pow);  // right-assoc
    return base;
  }
  std::unique_ptr<Node> parse_primary() {
    skip_space();
    const size_t at = pos_;
    if (pos_ >= s_.size()) error("unexpected end");
    const char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      spend();
      auto n = parse_or();
      if (!accept(")")) error("expected ')'");
      return n;
    }
    if (c == '"' || c == '\'') {
      const size_t close = s_.find(c, pos_ + 1);
      if (close == std::string::npos) error("unterminated string");
      auto n = make(Node::kString, s_.substr(pos_ + 1, close - pos_ - 1), at);
      pos_ = close + 1;
      return n;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      const char* begin = s_.c_str() + pos_;
      char* end = nullptr;
      const double v = std::strtod(begin, &end);
      if (end == begin) error("bad number");
      pos_ += static_cast<size_t>(end - begin);
      auto n = make(Node::kNumber, "", at);
      n->number = v;
      return n;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = pos_;
      while (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) ||
                                 s_[end] == '_' || s_[end] == '.')) {
        ++end;
      }
      std::string name = s_.substr(pos_, end - pos_);
      pos_ = end;
      if (accept("(")) {
        auto n = make(Node::kCall, name, at);
        if (!accept(")")) {
          do {
            n->args.push_back(parse_or());
          } while (accept(","));
          if (!accept(")")) error("expected ')' or ','");
        }
        return n;
      }
      names_.insert(name);
      return make(Node::kName, name, at);
    }
    error("unexpected '" + std::string(1, c) + "'");
  }

  const std::string& s_;
  std::set<std::string>& names_;
  size_t pos_ = 0;
  int elements_ = 0;
};

struct Function {
  int min_args, max_args;  // max -1: any
};
const std::map<std::string, Function> kFunctions = {
    {"min", {1, -1}},  {"max", {1, -1}},     {"floor", {1, 1}},    {"ceil", {1, 1}},
    {"round", {1, 1}}, {"abs", {1, 1}},      {"sqrt", {1, 1}},     {"exp", {1, 1}},
    {"log", {1, 1}},   {"log2", {1, 1}},     {"log10", {1, 1}},    {"pow", {2, 2}},
    {"if", {3, 3}},    {"round_to", {2, 2}}, {"floor_to", {2, 2}}, {"round_pow2", {1, 1}},
};

void check_calls(const Node& n, const std::string& source) {
  if (n.kind == Node::kCall) {
    auto it = kFunctions.find(n.text);
    const std::string at = " at column " + std::to_string(n.column + 1) + " of '" + source + "'";
    if (it == kFunctions.end()) throw ExpressionError("unknown function '" + n.text + "'" + at);
    const int count = static_cast<int>(n.args.size());
    if (count < it->second.min_args || (it->second.max_args >= 0 && count > it->second.max_args)) {
      throw ExpressionError(n.text + "() takes " + std::to_string(it->second.min_args) +
                            (it->second.max_args == it->second.min_args ? "" : " or more") +
                            " arguments, got " + std::to_string(count) + at);
    }
  }
  for (const auto& a : n.args) check_calls(*a, source);
}

class Evaluator {
 public:
  Evaluator(const std::string& source, const NameLookup& lookup)
      : source_(source), lookup_(lookup) {}

  ExprValue eval(const Node& n) const {
    switch (n.kind) {
      case Node::kNumber:
        return ExprValue::of(n.number);
      case Node::kString:
        return ExprValue::of(n.text);
      case Node::kName: {
        auto v = lookup_(n.text);
        if (!v) fail(n, "unknown name '" + n.text + "'");
        return *v;
      }
      case Node::kUnary: {
        const double x = number(n, eval(*n.args[0]));
        if (n.text == "-") return ExprValue::of(-x);
        if (n.text == "!") return ExprValue::of(x == 0 ? 1 : 0);
        return ExprValue::of(x);
      }
      case Node::kBinary:
        return binary(n);
      case Node::kCall:
        return call(n);
    }
    fail(n, "bad expression");
  }

 private:
  [[noreturn]] void fail(const Node& n, const std::string& what) const {
    throw ExpressionError(what + " at column " + std::to_string(n.column + 1) + " of '" + source_ +
                          "'");
  }
  double number(const Node& n, const ExprValue& v) const {
    if (v.is_string) fail(n, "'" + v.text + "' is not a number");
    return v.number;
  }
  ExprValue binary(const Node& n) const {
    const std::string& op = n.text;
    const ExprValue a = eval(*n.args[0]);
    if (op == "&&" && number(n, a) == 0) return ExprValue::of(0);
    if (op == "||" && number(n, a) != 0) return ExprValue::of(1);
    const ExprValue b = eval(*n.args[1]);
    if (op == "==" || op == "!=") {
      bool equal =
          a.is_string == b.is_string && (a.is_string ? a.text == b.text : a.number == b.number);
      if (a.is_string != b.is_string) {
        fail(n, "comparing a string with a number (quote the string: \"" +
                    (a.is_string ? a.text : b.text) + "\")");
      }
      return ExprValue::of(equal == (op == "==") ? 1 : 0);
    }
    const double x = number(n, a), y = number(n, b);
    if (op == "&&" || op == "||") return ExprValue::of(y != 0 ? 1 : 0);
    if (op == "<") return ExprValue::of(x < y);
    if (op == "<=") return ExprValue::of(x <= y);
    if (op == ">") return ExprValue::of(x > y);
    if (op == ">=") return ExprValue::of(x >= y);
    double r = 0;
    if (op == "+") r = x + y;
    if (op == "-") r = x - y;
    if (op == "*") r = x * y;
    if (op == "/") {
      if (y == 0) fail(n, "division by zero");
      r = x / y;
    }
    if (op == "%") {
      if (y == 0) fail(n, "modulo by zero");
      r = std::fmod(x, y);
    }
    if (op == "^") r = std::pow(x, y);
    if (!std::isfinite(r)) fail(n, "the result is not finite");
    return ExprValue::of(r);
  }
  ExprValue call(const Node& n) const {
    const std::string& f = n.text;
    if (f == "if") {
      return number(n, eval(*n.args[0])) != 0 ? eval(*n.args[1]) : eval(*n.args[2]);
    }
    std::vector<double> x;
    for (const auto& a : n.args) x.push_back(number(*a, eval(*a)));
    double r = 0;
    if (f == "min" || f == "max") {
      r = x[0];
      for (double v : x) r = f == "min" ? std::min(r, v) : std::max(r, v);
    } else if (f == "floor") {
      r = std::floor(x[0]);
    } else if (f == "ceil") {
      r = std::ceil(x[0]);
    } else if (f == "round") {
      r = std::round(x[0]);
    } else if (f == "abs") {
      r = std::fabs(x[0]);
    } else if (f == "sqrt" || f == "log" || f == "log2" || f == "log10") {
      if (x[0] < 0 || (f != "sqrt" && x[0] == 0)) fail(n, f + "() of " + format_number(x[0]));
      r = f == "sqrt"   ? std::sqrt(x[0])
          : f == "log"  ? std::log(x[0])
          : f == "log2" ? std::log2(x[0])
                        : std::log10(x[0]);
    } else if (f == "exp") {
      r = std::exp(x[0]);
    } else if (f == "pow") {
      r = std::pow(x[0], x[1]);
    } else if (f == "round_to" || f == "floor_to") {
      if (x[1] <= 0) fail(n, f + "(): the multiple must be > 0");
      r = (f == "round_to" ? std::round(x[0] / x[1]) : std::floor(x[0] / x[1])) * x[1];
    } else if (f == "round_pow2") {
      if (x[0] <= 0) fail(n, "round_pow2() of " + format_number(x[0]));
      r = std::exp2(std::round(std::log2(x[0])));
    }
    if (!std::isfinite(r)) fail(n, f + "(): the result is not finite");
    return ExprValue::of(r);
  }

  const std::string& source_;
  const NameLookup& lookup_;
};

}  // namespace

Expression::Expression(const std::string& source) : source_(source) {
  root_ = Parser(source_, names_).parse();
  check_calls(*root_, source_);
}
Expression::~Expression() = default;
Expression::Expression(Expression&&) noexcept = default;
Expression& Expression::operator=(Expression&&) noexcept = default;

ExprValue Expression::evaluate(const NameLookup& lookup) const {
  return Evaluator(source_, lookup).eval(*root_);
}

std::string format_number(double v) {
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e18) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace scalebed
