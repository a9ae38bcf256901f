// Fuzz target: the sweep expression language (src/sweep/expression.h), parsed
// and evaluated with a few names bound. Only ExpressionError may come out.
#include <cstdint>
#include <string>

#include "fuzz_input.h"
#include "sweep/expression.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source(reinterpret_cast<const char*>(data), size);
  try {
    scalebed::Expression e(source);
    e.evaluate([](const std::string& name) -> std::optional<scalebed::ExprValue> {
      if (name == "budget") return scalebed::ExprValue::of(3e12);
      if (name == "model.d_model") return scalebed::ExprValue::of(64.0);
      if (name == "objective.kind") return scalebed::ExprValue::of(std::string("diffusion"));
      return std::nullopt;
    });
    (void)scalebed::format_number(static_cast<double>(size) / 7.0);
  } catch (const scalebed::ExpressionError&) {
  } catch (const std::exception& e) {
    scalebed::fuzz::unexpected_exception(e);
  }
  return 0;
}
