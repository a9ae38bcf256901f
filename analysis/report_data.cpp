// The guide's numbers for other tools: fit.json (every law, interval, check
// and setting) and allocation.csv (the allocation table, refused losses
// empty with the reason).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "report.h"
#include "util/fs.h"

namespace scalebed::analysis {

FittedRange fitted_range(const std::vector<Point>& points) {
  FittedRange r;
  for (const auto& p : points) {
    r.c_min = std::min(r.c_min, p.flops), r.c_max = std::max(r.c_max, p.flops);
    r.n_min = std::min(r.n_min, p.params), r.n_max = std::max(r.n_max, p.params);
    r.d_min = std::min(r.d_min, p.tokens), r.d_max = std::max(r.d_max, p.tokens);
  }
  return r;
}

double surface_r2(const ReportInput& in) {
  const SurfaceLaw& law = in.fit.law;
  double mean = 0;
  for (const auto& p : in.points) mean += std::log(p.loss) / in.points.size();
  double ss_res = 0, ss_tot = 0;
  for (const auto& p : in.points) {
    ss_res += std::pow(std::log(p.loss) - std::log(law.predict(p.params, p.tokens)), 2);
    ss_tot += std::pow(std::log(p.loss) - mean, 2);
  }
  return 1 - ss_res / ss_tot;
}

void write_report_data(const std::string& dir, const ReportInput& in,
                       const std::vector<Allocation>& rows) {
  const SurfaceLaw& law = in.fit.law;
  const Validity& valid = in.validity;
  const FittedRange range = fitted_range(in.points);
  const double r2 = surface_r2(in);
  std::string not_allocatable;
  law.allocatable(&not_allocatable);
  nlohmann::json j;
  j["input"] = in.source;
  j["points"] = in.points.size();
  j["flops_convention"] = in.convention;
  j["allocation_convention"] = "C = k*N*D";
  j["k_flops_per_param_token"] = law.k;
  j["method"] = in.method;
  j["size"] = in.size_symbol == "M" ? "flops_per_token" : "non_embedding_params";
  j["known_floor"] = valid.floor > 0 ? nlohmann::json(valid.floor) : nlohmann::json();
  j["known_floor_source"] = valid.floor_source;
  j["max_extrapolation_decades"] = valid.max_decades;
  // The robustness refits move E past its interval: the surface's losses then
  // stop max_extrapolation_decades out, like a law without a floor.
  j["surface_e_undetermined"] = valid.surface_e_undetermined;
  auto hyper_json = [](const HyperLaw& h) {
    nlohmann::json o = {{"fitted", h.fitted}, {"note", h.note}, {"refused", h.refused}};
    if (h.fitted) {
      o["k"] = h.law.k, o["exponent"] = h.law.exponent, o["r2"] = h.law.r2;
      o["exponent_ci"] = {h.exponent_ci.low, h.exponent_ci.high};
    }
    nlohmann::json v = nlohmann::json::array();
    for (const auto& p : h.optima) v.push_back({p.x, p.best});
    o["vertices"] = v;
    return o;
  };
  j["hyperparameters"] = {{"batch_vs_tokens", hyper_json(in.hyper.batch_vs_tokens)},
                          {"lr_vs_batch", hyper_json(in.hyper.lr_vs_batch)},
                          {"lr_vs_tokens", hyper_json(in.hyper.lr_vs_tokens)}};
  nlohmann::json sens = nlohmann::json::array();
  for (const auto& x : in.sensitivity) {
    sens.push_back({{"choice", x.choice},
                    {"groups", x.groups},
                    {"median_spread", x.median_spread},
                    {"max_spread", x.max_spread}});
  }
  j["sensitivity"] = sens;
  j["fitted_range"] = {{"flops", {range.c_min, range.c_max}},
                       {"params", {range.n_min, range.n_max}},
                       {"tokens", {range.d_min, range.d_max}}};
  if (!not_allocatable.empty()) j["allocation_refused"] = not_allocatable;
  auto iv = [](const Interval& i) { return nlohmann::json::array({i.low, i.high}); };
  j["approach3"] = {{"E", law.E},
                    {"E_held_at_floor", in.floor_fixed},
                    {"A", law.A},
                    {"B", law.B},
                    {"alpha", law.alpha},
                    {"beta", law.beta},
                    {"r2_log_loss", r2},
                    {"objective", in.fit.objective},
                    {"seed_weights",
                     {{"applied", in.seed_weights.applied},
                      {"settings_with_seeds", in.seed_weights.settings_with_seeds},
                      {"pooled_sd_log_loss", in.seed_weights.pooled_sd},
                      {"min_weight", in.seed_weights.min_weight},
                      {"max_weight", in.seed_weights.max_weight}}},
                    {"gradient_norm", in.fit.gradient_norm},
                    {"optimum_at_grid_edge", in.fit.optimum_at_grid_edge},
                    {"variable_projection",
                     {{"E", in.varpro.law.E},
                      {"A", in.varpro.law.A},
                      {"B", in.varpro.law.B},
                      {"alpha", in.varpro.law.alpha},
                      {"beta", in.varpro.law.beta},
                      {"objective", in.varpro.objective}}},
                    {"bootstrap",
                     {{"resamples", in.resamples},
                      {"level", 0.95},
                      {"E", iv(in.boot.E)},
                      {"A", iv(in.boot.A)},
                      {"B", iv(in.boot.B)},
                      {"alpha", iv(in.boot.alpha)},
                      {"beta", iv(in.boot.beta)},
                      {"n_exponent", iv(in.boot.n_exponent)}}}};
  nlohmann::json profiles = nlohmann::json::array();
  for (const auto& p : in.isoflop.profiles) {
    profiles.push_back({{"flops", p.flops},
                        {"points", p.points},
                        {"accepted", p.accepted},
                        {"refusal", p.refusal},
                        {"n_opt", p.accepted ? std::exp(p.log_n_opt) : 0.0},
                        {"loss_opt", p.accepted ? p.loss_opt : 0.0}});
  }
  j["robustness"] = nlohmann::json::array();
  for (const auto& v : in.robustness.variants) {
    j["robustness"].push_back({{"variant", v.name},
                               {"allocatable", v.allocatable},
                               {"E", v.law.E},
                               {"alpha", v.law.alpha},
                               {"beta", v.law.beta},
                               {"n_exponent", v.n_exponent},
                               {"loss_at_top_flops", v.loss_at_top},
                               {"top_flops", in.robustness.top_flops}});
  }
  j["holdout"] = {{"done", in.holdout.done},
                  {"note", in.holdout.note},
                  {"held_flops", in.holdout.held_flops},
                  {"fitted_max_flops", in.holdout.fitted_max},
                  {"held_points", in.holdout.held_points},
                  {"surface_mean_abs_rel_error", in.holdout.surface_mean_abs},
                  {"surface_max_abs_rel_error", in.holdout.surface_max_abs},
                  {"surface_mean_rel_error", in.holdout.surface_bias}};
  if (in.holdout.isoflop_compared) {
    j["holdout"]["isoflop_held_flops"] = in.holdout.isoflop_held_flops;
    j["holdout"]["isoflop_loss_rel_error"] = in.holdout.isoflop_loss_error;
  }
  j["approach1"] = {{"fitted", in.envelope.fitted},
                    {"note", in.envelope.note},
                    {"frontier_points", in.envelope.frontier.size()}};
  if (in.envelope.fitted) {
    j["approach1"]["loss"] = {
        {"E", in.envelope.E}, {"A", in.envelope.A}, {"alpha", in.envelope.alpha}};
    j["approach1"]["n_opt"] = {{"k", in.envelope.n_opt.k},
                               {"exponent", in.envelope.n_opt.exponent}};
    j["approach1"]["d_opt"] = {{"k", in.envelope.d_opt.k},
                               {"exponent", in.envelope.d_opt.exponent}};
  }
  j["approach2"] = {
      {"profiles", profiles}, {"fitted", in.isoflop.fitted}, {"note", in.isoflop.note}};
  if (in.isoflop.fitted) {
    j["approach2"]["n_opt"] = {{"k", in.isoflop.n_opt.k},
                               {"exponent", in.isoflop.n_opt.exponent},
                               {"r2", in.isoflop.n_opt.r2}};
    j["approach2"]["d_opt"] = {{"k", in.isoflop.d_opt.k}, {"exponent", in.isoflop.d_opt.exponent}};
    j["approach2"]["loss_opt"] = {{"k", in.isoflop.loss_opt.k},
                                  {"exponent", in.isoflop.loss_opt.exponent}};
    j["approach2"]["bootstrap"] = {
        {"refits", in.isoflop_boot.n_opt.size()},
        {"skipped", in.isoflop_boot.skipped},
        {"n_exponent", {in.isoflop_boot.n_exponent_low, in.isoflop_boot.n_exponent_high}},
        {"loss_exponent", {in.isoflop_boot.loss_exponent_low, in.isoflop_boot.loss_exponent_high}}};
  }
  write_file_atomic(dir + "/fit.json", j.dump(2) + "\n");
  std::string csv =
      "flops,gpu_hours,n_opt,n_opt_low,n_opt_high,d_opt,d_opt_low,d_opt_high,tokens_per_param,"
      "tokens_per_param_low,tokens_per_param_high,loss,loss_low,loss_high,extrapolated,"
      "decades_beyond,loss_refused,loss_prediction_low,loss_prediction_high,batch_tokens,lr,"
      "steps,batch_source,lr_source\n";
  for (const auto& a : rows) {
    // A refused loss (below the floor) leaves the loss cells empty and says why.
    const std::string why = valid.refusal(a.flops, a.loss, true);
    char line[512];
    std::snprintf(line, sizeof line, "%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.4g,%.4g,%.4g,",
                  a.flops, a.flops / (in.gpu_tflops * 1e12 * in.mfu) / 3600, a.n_opt,
                  a.n_opt_ci.low, a.n_opt_ci.high, a.d_opt, a.d_opt_ci.low, a.d_opt_ci.high,
                  a.tokens_per_param, a.tokens_per_param_ci.low, a.tokens_per_param_ci.high);
    csv += line;
    if (why.empty()) {
      // Interval ends below the floor are the floor, as in the guide.
      std::snprintf(line, sizeof line, "%.6g,%.6g,%.6g,", a.loss,
                    valid.at_least_floor(a.loss_ci.low), valid.at_least_floor(a.loss_ci.high));
      csv += line;
    } else {
      csv += ",,,";
    }
    std::snprintf(line, sizeof line, "%d,%.3g,", a.extrapolated ? 1 : 0,
                  valid.decades_beyond(a.flops));
    csv += line;
    csv += "\"" + why + "\"";
    if (why.empty()) {
      std::snprintf(line, sizeof line, ",%.6g,%.6g", valid.at_least_floor(a.loss_pi.low),
                    valid.at_least_floor(a.loss_pi.high));
      csv += line;
    } else {
      csv += ",,";
    }
    const Recipe recipe = recipe_for(in.hyper, in.points, a.d_opt);
    std::snprintf(line, sizeof line, ",%.4g,", recipe.batch_tokens);
    csv += line;
    if (recipe.lr > 0) {
      std::snprintf(line, sizeof line, "%.4g", recipe.lr);
      csv += line;
    }
    std::snprintf(line, sizeof line, ",%.4g,", recipe.steps);
    csv += line;
    csv += "\"" + recipe.batch_source + "\",\"" + recipe.lr_source + "\"\n";
  }
  write_file_atomic(dir + "/allocation.csv", csv);
}

}  // namespace scalebed::analysis
