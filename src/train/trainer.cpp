// The training loop: resume, accumulate, clip, step, log, evaluate,
// checkpoint, and stop cleanly on signals or non-finite values.
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <optional>
#include <ostream>

#include "train/build_info.h"
#include "train/checkpoint.h"
#include "train/device.h"
#include "train/export.h"
#include "train/run_dir.h"
#include "train/tensorboard.h"
#include "train/train.h"
#include "util/claim.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/signals.h"

namespace scalebed {
namespace {

using Clock = std::chrono::steady_clock;

// Keys that may differ between a run directory's config and a resumed run:
// they change where and how often things happen, not what is computed.
bool may_change_on_resume(const std::string& key) {
  // out_dir too: a run directory moved elsewhere (normal on clusters) resumes.
  // The memory budget only sizes micro-batches, which do not change the result.
  return key == "threads" || key == "device" || key == "out_dir" || key == "train.log_every" ||
         key == "train.memory_budget_gib" || key == "train.eval_every" ||
         key == "train.checkpoint_every" || key == "train.keep_checkpoints" ||
         key.rfind("distributed.", 0) == 0 || key.rfind("logging.", 0) == 0;
}

void check_same_config(const RunDirectory& run, const RunConfig& cfg) {
  const std::string path = run.file("config.yaml");
  if (!std::filesystem::exists(path)) return;
  FlatConfig old = parse_yaml_text(read_file(path), path);
  std::string diffs;
  for (const auto& [key, value] : cfg.resolved) {
    auto it = old.find(key);
    // A key that this version added, at its default, computes what the older run did.
    if (it == old.end() && value.text == schema_by_key().at(key)->default_text) continue;
    const std::string before = it == old.end() ? "(absent)" : it->second.text;
    if (before != value.text && !may_change_on_resume(key)) {
      diffs += "\n  " + key + ": " + before + " -> " + value.text;
    }
  }
  if (!diffs.empty()) {
    fail_at(path,
            "the run directory holds a run with a different config; use another name or "
            "out_dir, or delete the directory to start over:",
            diffs);
  }
}

torch::Tensor to_device(std::vector<int64_t> rows, int64_t width, const torch::Device& device) {
  const int64_t n = static_cast<int64_t>(rows.size()) / width;
  return torch::from_blob(rows.data(), {n, width}, torch::kLong)
      .to(device, /*non_blocking=*/false,
          /*copy=*/true);
}

RankLayout layout_with(const RunConfig& c, int64_t world, const std::string& shard) {
  RankLayout l;
  l.world = world;
  l.shard_optimizer = shard != "none";
  l.shard_gradients = shard == "gradients";
  l.bucket_bytes = c.distributed.bucket_mb * 1024 * 1024;
  return l;
}

}  // namespace

RankLayout rank_layout(const Training& t) {
  return layout_with(t.cfg, t.ranks.world, t.cfg.distributed.shard);
}

std::unique_ptr<Training> build_training(const RunConfig& cfg, BuildMode mode,
                                         int64_t planned_world) {
  const bool dry_run = mode == BuildMode::kDryRun;
  auto t = std::make_unique<Training>();
  t->cfg = cfg;
  if (cfg.threads > 0) torch::set_num_threads(static_cast<int>(cfg.threads));
  t->ranks = dry_run ? RankInfo{} : discover_ranks();
  if (dry_run && planned_world > 0) t->ranks.world = static_cast<int>(planned_world);
  t->device = select_device(cfg.device, t->ranks.distributed() ? t->ranks.local_rank : 0);
  // TF32 tensor cores for the fp32 matmuls that remain (all of them in an
  // fp32 run); the CPU has no such mode.
  if (t->device.is_cuda()) {
    at::globalContext().setFloat32MatmulPrecision(cfg.train.tf32 ? "high" : "highest");
  }
  if (t->ranks.distributed()) {
    // The global batch splits evenly over the ranks; micro-batches split each rank's share.
    const int64_t world = t->ranks.world, batch = cfg.train.batch_size;
    if (batch % world != 0) {
      fail_at(cfg.resolved.at("train.batch_size").location, "train.batch_size ", batch,
              " does not split over ", world, " ranks");
    }
    if (!cfg.train.micro_batch_auto) {
      int64_t& micro = t->cfg.train.micro_batch;
      if (micro == batch) micro = batch / world;  // "the whole batch" means each rank's share
      if ((batch / world) % micro != 0) {
        fail_at(cfg.resolved.at("train.micro_batch").location, "train.micro_batch ", micro,
                " does not divide the per-rank batch of ", batch / world, " sequences");
      }
    }
  }
  t->objective = make_objective(cfg.objective);
  try {
    t->data = open_dataset(cfg.data, cfg.model.vocab, cfg.model.context);
  } catch (const Error& e) {
    if (!dry_run || cfg.model.vocab == 0) throw;
    t->data.vocab = cfg.model.vocab;
    t->data.description = std::string("NOT OPENED (") + e.what() + ")";
  }
  t->objective->check_data(t->data);
  if (cfg.model.vocab == 0) {
    t->cfg.model.vocab = t->data.vocab;
    t->cfg.resolved["model.vocab"] = ConfigValue{std::to_string(t->data.vocab), "data"};
  }
  t->parameterization =
      std::make_unique<Parameterization>(cfg.parameterization, t->cfg.model, cfg.optim);
  t->model_options = make_transformer_options(
      t->cfg.model, *t->parameterization, t->objective->causal(),
      t->objective->input_vocab(t->data.vocab), t->objective->output_vocab(t->data.vocab));
  t->model_options.bf16 = cfg.train.precision == "bf16";
  t->model_options.checkpoint_blocks = cfg.train.activation_checkpointing == "blocks";
  t->params = count_params(t->model_options);
  if (cfg.train.micro_batch_auto) {
    const double gib = 1024.0 * 1024.0 * 1024.0;
    const double budget =
        cfg.train.memory_budget_gib > 0 ? cfg.train.memory_budget_gib * gib
        : t->device.is_cuda()
            ? kDeviceMemoryShare * static_cast<double>(total_device_memory(t->device))
            : 8 * gib;
    const int64_t m =
        largest_fitting_micro_batch(t->model_options, t->rank_batch(), budget, rank_layout(*t));
    if (m == 0 && dry_run) {
      // --dry-run reports it (and what would fit where) instead of failing.
      t->micro_batch_budget_missed = budget;
      t->cfg.train.micro_batch = 1;
    } else if (m == 0) {
      fail_at(cfg.resolved.at("train.micro_batch").location,
              "train.micro_batch: auto: not even one sequence fits the memory budget of ",
              human_bytes(budget), " (estimate for one: ",
              human_bytes(estimate_memory(t->model_options, 1, rank_layout(*t)).total()), ")");
    }
    if (m > 0) t->cfg.train.micro_batch = m;
  }
  t->flops = flops_per_token(t->model_options);
  if (dry_run) return t;
  torch::manual_seed(static_cast<uint64_t>(cfg.seed));
  t->model = Transformer(t->model_options);
  t->model->initialize(*t->parameterization);
  t->model->to(t->device);
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& item : t->model->named_parameters()) {
    named.emplace_back(item.key(), item.value());
  }
  if (t->ranks.distributed()) {
    std::vector<torch::Tensor> params;
    for (const auto& item : named) params.push_back(item.second);
    t->dp = std::make_unique<DataParallel>(
        t->ranks, t->device, params, cfg.distributed.bucket_mb,
        std::chrono::milliseconds(static_cast<int64_t>(cfg.distributed.timeout_s * 1000)),
        parse_shard_mode(cfg.distributed.shard));
    t->dp->broadcast_parameters();
  }
  if (t->dp && t->dp->sharded()) {
    // This rank's optimizer holds state for, and updates, its chunks only.
    std::vector<std::string> names;
    for (const auto& item : named) names.push_back(item.first);
    t->optimizer =
        Optimizer::over_shards(t->dp->owned_shards(names), *t->parameterization, cfg.optim);
  } else {
    t->optimizer = std::make_unique<Optimizer>(named, *t->parameterization, cfg.optim);
  }
  return t;
}

void print_dry_run(const Training& t, std::ostream& out) {
  const RunConfig& c = t.cfg;
  const int64_t tokens = c.train.steps * c.tokens_per_step();
  char buf[512];
  out << "# resolved config (" << c.source_path << ")\n" << c.resolved_yaml() << "\n";
  out << "run directory: " << c.run_dir() << "\n";
  if (t.data.generator) {
    out << "data: " << t.data.description << ": windows generated on the fly (none repeats), vocab "
        << t.data.vocab << "\n";
  } else {
    out << "data: " << t.data.description << ": " << human_count(t.data.train_tokens())
        << " train / " << human_count(t.data.val_tokens()) << " held-out tokens, vocab "
        << t.data.vocab << "\n";
  }
  out << "objective: " << t.objective->kind() << " (" << t.objective->loss_kind() << ")\n";
  std::snprintf(buf, sizeof buf,
                "params: embedding %s (%lld), non-embedding %s (%lld), total %s (%lld); "
                "per layer %lld\n",
                human_count(t.params.embedding).c_str(), static_cast<long long>(t.params.embedding),
                human_count(t.params.non_embedding).c_str(),
                static_cast<long long>(t.params.non_embedding), human_count(t.params.total).c_str(),
                static_cast<long long>(t.params.total), static_cast<long long>(t.params.per_layer));
  out << buf;
  if (t.params.paper_table_non_embedding > 0) {
    out << "  as model.md's size table labels this shape, L*(12d^2 + 14d): "
        << human_count(t.params.paper_table_non_embedding) << " ("
        << t.params.paper_table_non_embedding << "; the count above is what the model holds)\n";
  }
  std::snprintf(buf, sizeof buf,
                "FLOPs per token: 6N %.4g | PaLM 6N+12LdT %.4g | M=72Ld^2+12LdT %.4g\n",
                t.flops.c6nd, t.flops.palm, t.flops.md);
  out << buf;
  std::snprintf(buf, sizeof buf,
                "training: %lld steps x %lld sequences x %lld tokens = %s tokens "
                "(%.1f tokens/param); micro-batch %lld (%lld accumulation steps)\n",
                static_cast<long long>(c.train.steps), static_cast<long long>(c.train.batch_size),
                static_cast<long long>(c.model.context), human_count(tokens).c_str(),
                static_cast<double>(tokens) / t.params.non_embedding,
                static_cast<long long>(c.train.micro_batch),
                static_cast<long long>(c.train.batch_size / c.train.micro_batch));
  out << buf;
  std::snprintf(buf, sizeof buf, "total FLOPs: 6ND %.4g | PaLM %.4g | M*D %.4g\n",
                t.flops.c6nd * tokens, t.flops.palm * tokens, t.flops.md * tokens);
  out << buf;
  out << t.parameterization->describe(c.optim.lr);
  if (c.train.micro_batch_auto && t.micro_batch_budget_missed == 0) {
    out << "micro-batch: auto -> " << c.train.micro_batch << " (largest divisor of the batch whose "
        << "estimate fits the budget)\n";
  } else if (c.train.micro_batch_auto) {
    out << "micro-batch: auto -> nothing fits this device's budget; shown at 1\n";
  }
  out << "precision: " << c.train.precision
      << (c.train.precision == "bf16"
              ? " (matmuls and attention in bf16; fp32 weights, optimizer state, gradients and "
                "their all-reduce, norm statistics, softmax and loss)"
              : " (everything fp32)")
      << "; TF32 for fp32 matmuls on CUDA: " << (c.train.tf32 ? "on" : "off")
      << (t.device.is_cuda() ? "" : " (no effect on this CPU run)") << "\n";
  out << "attention kernel: " << attention_kernel_name(t.model_options.kernel)
      << (t.model_options.kernel == AttentionKernel::kBlockwise
              ? " (blocks of " + std::to_string(t.model_options.attention_block) + " keys)"
              : std::string())
      << "\n";
  const RankLayout layout = rank_layout(t);
  const std::string per_rank =
      t.ranks.world > 1
          ? ", per rank of " + std::to_string(t.ranks.world) + ", shard " + c.distributed.shard
          : std::string();
  out << "memory estimate (" << c.train.precision << ", micro-batch " << c.train.micro_batch
      << per_rank
      << "): " << estimate_memory(t.model_options, c.train.micro_batch, layout).describe() << "\n";
  if (t.micro_batch_budget_missed > 0) {
    out << "NOTHING FITS: not even one sequence per micro-batch fits the memory budget of "
        << human_bytes(t.micro_batch_budget_missed) << " (estimate for one: "
        << human_bytes(estimate_memory(t.model_options, 1, layout).total()) << ")\n";
  }
  // What the same run needs on common cards, with the auto budget's headroom:
  // this layout, then the fewest ranks (dividing the batch) that fit with
  // each shard mode.
  const std::pair<const char*, double> cards[] = {{"80 GB cards (79.6 GiB)", 79.6},
                                                  {"141 GB cards (140.4 GiB)", 140.4}};
  const int64_t batch = c.train.batch_size;
  for (const auto& [card, card_gib] : cards) {
    const double budget = kDeviceMemoryShare * card_gib * 1024.0 * 1024.0 * 1024.0;
    const int64_t m = largest_fitting_micro_batch(t.model_options, t.rank_batch(), budget, layout);
    out << "  on " << card << ", budget " << human_bytes(budget) << " per rank: ";
    if (m > 0) {
      out << "micro-batch " << m << " ("
          << human_bytes(estimate_memory(t.model_options, m, layout).total()) << ")";
    } else {
      const auto one = estimate_memory(t.model_options, 1, layout);
      out << "nothing fits: one sequence needs " << human_bytes(one.total()) << ", of which "
          << human_bytes(one.params_bytes + one.grads_bytes + one.optimizer_bytes)
          << " are fp32 weights, gradients and optimizer state per rank";
    }
    out << "\n    fewest ranks that fit:";
    for (const std::string shard : {"none", "optimizer", "gradients"}) {
      out << " shard " << shard << ": ";
      int64_t fewest = 0, micro = 0;
      for (int64_t w = 1; w <= batch && fewest == 0; ++w) {
        if (batch % w != 0) continue;
        micro = largest_fitting_micro_batch(t.model_options, batch / w, budget,
                                            layout_with(c, w, shard));
        if (micro > 0) fewest = w;
      }
      if (fewest > 0) {
        out << fewest << " (micro-batch " << micro << ")";
      } else {
        out << "none up to " << batch << " ranks";
      }
      out << (shard == "gradients" ? "\n" : ";");
    }
  }
  out << "device: " << describe_device(t.device) << "\n";
}

namespace {

struct Evaluation {
  double loss = 0;
  int64_t tokens = 0;
};

Evaluation evaluate(Training& t, const BatchSource& batches) {
  torch::NoGradGuard no_grad;
  t.model->eval();
  const int64_t rows = t.cfg.train.micro_batch, total = t.cfg.train.eval_rows();
  const int64_t chunks = (total + rows - 1) / rows;
  double sum = 0;
  int64_t count = 0;
  // Rank r evaluates chunks r, r + world, ...; the sums are added up.
  for (int64_t b = t.ranks.rank; b < chunks; b += t.ranks.world) {
    const int64_t n = std::min(rows, total - b * rows);
    auto windows = to_device(batches.val_rows(b * rows, n, total), batches.window(), t.device);
    auto out = t.objective->eval_loss(*t.model, windows, b * rows);
    sum += out.metric_sum.item<double>();
    count += out.metric_count;
  }
  t.model->train();
  if (t.dp) {
    const auto totals = t.dp->sum({sum, static_cast<double>(count)});
    sum = totals[0], count = static_cast<int64_t>(totals[1]);
  }
  return {sum / count, count};
}

nlohmann::json make_summary(const Training& t, const TrainState& s, const std::string& status,
                            double wall_s, const std::optional<double>& floor,
                            const std::string& reason) {
  const RunConfig& c = t.cfg;
  nlohmann::json j = {
      {"format", kRunFormat},
      {"name", c.name},
      {"status", status},
      {"objective", t.objective->kind()},
      {"loss_kind", t.objective->loss_kind()},
      {"model",
       {{"layers", c.model.layers},
        {"d_model", c.model.d_model},
        {"heads", c.model.heads},
        {"context", c.model.context},
        {"vocab", c.model.vocab}}},
      {"params",
       {{"embedding", t.params.embedding},
        {"non_embedding", t.params.non_embedding},
        {"total", t.params.total}}},
      {"batch_tokens", c.tokens_per_step()},
      {"batch_size", c.train.batch_size},
      {"base_lr", c.optim.lr},
      // Only a constant-LR run's intermediate losses are those of shorter runs
      // (the analysis reads IsoFLOP budgets off such curves).
      {"schedule", {{"kind", c.schedule.kind}, {"warmup_steps", c.schedule.warmup_steps}}},
      {"steps", s.step},
      {"planned_steps", c.train.steps},
      {"tokens", s.tokens},
      {"flops",
       {{"6nd", t.flops.c6nd * s.tokens},
        {"palm", t.flops.palm * s.tokens},
        {"md", t.flops.md * s.tokens},
        {"executed", s.flops_executed}}},
      {"flops_per_token", {{"6nd", t.flops.c6nd}, {"palm", t.flops.palm}, {"md", t.flops.md}}},
      {"final_val_loss", s.last_val_loss >= 0 ? nlohmann::json(s.last_val_loss) : nlohmann::json()},
      {"best_val_loss", s.best_val_loss >= 0 ? nlohmann::json(s.best_val_loss) : nlohmann::json()},
      {"wall_s", wall_s},
      {"device", describe_device(t.device)},
      {"commit", build_commit()},
      {"data", t.data.description},
      {"seed", c.seed},
      {"world_size", t.ranks.world},
  };
  if (floor) j["optimal_val_loss"] = *floor;
  if (t.data.nll_to_bpb > 0) {
    j["nll_to_bpb"] = {{"factor", t.data.nll_to_bpb}, {"source", t.data.nll_to_bpb_source}};
    if (s.last_val_loss >= 0) j["final_val_bpb"] = s.last_val_loss * t.data.nll_to_bpb;
  }
  j.update(t.objective->summary_fields());
  if (!reason.empty()) j["reason"] = reason;
  return j;
}

}  // namespace

// Under sharding a rank sees the gradients of its chunks only.
static std::string nonfinite_gradient_name(const Training& t) {
  const std::string name = first_nonfinite_gradient(t.optimizer->params());
  return name.empty() && t.dp && t.dp->sharded() ? "(a chunk another rank holds)" : name;
}

StepResult training_step(Training& t, const BatchSource& batches, int64_t step, double lr) {
  const RunConfig& c = t.cfg;
  // This rank's share of the global batch: rows [rank·share, (rank+1)·share)
  // in micro-batches; the objective seeds its noise by the global row. So K
  // ranks, or any micro-batch size, see exactly the rows and noise that one
  // rank with the same global batch sees.
  const int64_t accum = t.rank_batch() / c.train.micro_batch;
  const int64_t first_row = t.ranks.rank * t.rank_batch();
  // objective.loss_reduction sum: the gradient of the step's summed loss, the
  // mean's times the global batch's scored tokens (ranks average their means).
  const auto [scored_begin, scored_end] = t.objective->scored_span(c.model.context);
  const double reduction =
      c.objective.loss_reduction == "sum"
          ? static_cast<double>(c.train.batch_size) * static_cast<double>(scored_end - scored_begin)
          : 1.0;
  t.optimizer->zero_grad();
  auto loss_sum = torch::zeros({}, torch::TensorOptions().device(t.device));
  auto metric_sum =
      torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(t.device));
  int64_t metric_count = 0;
  for (int64_t a = 0; a < accum; ++a) {
    auto windows = to_device(
        batches.train_rows(step, first_row + a * c.train.micro_batch, c.train.micro_batch),
        batches.window(), t.device);
    auto out =
        t.objective->train_loss(*t.model, windows, mix_seed(static_cast<uint64_t>(c.seed), step, 0),
                                first_row + a * c.train.micro_batch);
    if (t.dp) t.dp->set_final_micro_step(a == accum - 1);
    // (The mean keeps its division, so its gradients stay bit-identical to
    // before the option existed.)
    (reduction == 1.0 ? out.loss / static_cast<double>(accum)
                      : out.loss * (reduction / static_cast<double>(accum)))
        .backward();
    loss_sum += out.loss.detach();
    metric_sum += out.metric_sum.to(torch::kFloat64);
    metric_count += out.metric_count;
  }
  if (t.dp) t.dp->finish_gradient_sync();  // every rank now holds the averaged gradients
  auto grad_norm = global_grad_norm(t.optimizer->params());
  if (t.dp && t.dp->sharded())
    grad_norm = t.dp->global_norm(grad_norm);  // over every rank's shards
  // One host sync per step for the finiteness check and the logged values.
  // The metric stays in float64, as the data-parallel sum below keeps it.
  auto host =
      torch::stack({(loss_sum / static_cast<double>(accum)).to(torch::kFloat64),
                    grad_norm.to(torch::kFloat64), metric_sum / static_cast<double>(metric_count)})
          .to(torch::kCPU);
  StepResult r;
  r.loss = host[0].item<double>();
  r.grad_norm = host[1].item<double>();
  r.metric = host[2].item<double>();
  if (t.dp) {  // the global batch's loss and metric
    const auto totals =
        t.dp->sum({r.loss, metric_sum.item<double>(), static_cast<double>(metric_count)});
    r.loss = totals[0] / t.ranks.world;
    r.metric = totals[1] / totals[2];
  }
  if (!std::isfinite(r.loss)) {
    r.failure = strprintf("non-finite training loss (%g) at step %lld", r.loss,
                          static_cast<long long>(step + 1));
    return r;
  }
  if (!std::isfinite(r.grad_norm)) {
    r.failure =
        strprintf("non-finite gradient in '%s' at step %lld (loss %g)",
                  nonfinite_gradient_name(t).c_str(), static_cast<long long>(step + 1), r.loss);
    return r;
  }
  apply_update(t, grad_norm, lr);
  return r;
}

void apply_update(Training& t, const torch::Tensor& grad_norm, double lr) {
  clip_gradients(t.optimizer->params(), grad_norm, t.cfg.optim.grad_clip);
  t.optimizer->step(lr);
  if (t.dp && t.dp->sharded()) t.dp->gather_parameters();  // each rank updated its chunks
}

static int run_training_impl(Training& t) {
  const RunConfig& c = t.cfg;
  RunDirectory run(c.run_dir());
  if (run.is_done()) {
    check_same_config(run, c);  // a finished run asked for with another config is a mistake
    Logger().info(run.path() + ": already done (DONE exists); nothing to do");
    return kExitOk;
  }
  // A fresh run's starting weights, before anything is written: an export
  // that does not fit leaves no run directory behind (a checkpoint, when there
  // is one, replaces these weights below).
  const bool initialized = !c.model.init_from.empty() && run.checkpoints().empty();
  if (initialized) load_exported_weights(*t.model, c.model.init_from);
  // Rank 0 owns and writes the run directory; every rank reads its checkpoints.
  const bool main = t.is_main();
  std::optional<RunOwner> owner;
  if (main) {
    run.create();
    owner.emplace(run.path());  // before anything else is written or read
  }
  check_same_config(run, c);
  if (main) {
    if (!std::filesystem::exists(run.file("config.yaml"))) {
      write_file_atomic(run.file("config.yaml"), c.resolved_yaml());
    }
  }
  const Logger log(main ? run.file("log.txt") : "");
  auto info = [&](const std::string& message) {
    if (main) log.info(message);
  };

  if (main) remove_leftovers(run);

  // The newest checkpoint that verifies; newer ones that do not are named.
  TrainState state;
  const auto checkpoints = run.checkpoints();
  std::string skipped;
  bool resumed = false;
  for (const auto& dir : checkpoints) {
    const std::string why = checkpoint_problem(dir, run.metrics_bytes());
    if (!why.empty()) {
      log.warn("not resuming from " + dir + ": " + why);
      skipped += "\n  " + why;
      continue;
    }
    try {
      state = load_checkpoint(dir, *t.model, *t.optimizer);
    } catch (const Error& e) {
      log.error(std::string(e.what()) +
                " (delete that checkpoint directory to resume from an older one)");
      throw;
    }
    info(strprintf("resumed from %s (step %lld)%s", dir.c_str(), static_cast<long long>(state.step),
                   skipped.empty() ? "" : ", skipping newer incomplete checkpoints"));
    resumed = true;
    break;
  }
  if (!resumed && !skipped.empty()) {
    // Starting over would cut metrics.jsonl to nothing: leave that to a person.
    fail_at(run.checkpoints_dir(),
            "no checkpoint can be resumed from (delete the run directory to start over):", skipped);
  }
  if (initialized && !resumed) {
    // Every rank read the same file, so the replicas start identical.
    info("initialized the weights from " + c.model.init_from + " (model.init_from)");
  }
  if (main) run.truncate_metrics(state.metrics_bytes);  // drop lines logged after the checkpoint
  // TensorBoard's events follow the metrics that the checkpoint kept.
  std::optional<TensorBoardLog> tensorboard;
  if (main && c.tensorboard) {
    tensorboard.emplace(run.file("tb"), read_metrics(run.file("metrics.jsonl")));
  }

  BatchSource batches(t.data, c.model.context, static_cast<uint64_t>(c.seed));
  const int64_t eval_rows = c.train.eval_rows();
  const auto [scored_begin, scored_end] = t.objective->scored_span(c.model.context);
  const auto floor = batches.optimal_val_loss(eval_rows, scored_begin, scored_end);
  const int64_t total = c.train.steps;
  const int64_t step_tokens = c.tokens_per_step();

  info(strprintf("run %s | %s | %s params (%s non-embedding) | %lld steps x %lld tokens | %s",
                 c.name.c_str(), t.data.description.c_str(), human_count(t.params.total).c_str(),
                 human_count(t.params.non_embedding).c_str(), static_cast<long long>(total),
                 static_cast<long long>(step_tokens), describe_device(t.device).c_str()));
  if (t.dp) {
    info(strprintf(
        "data parallel: %d rank%s (%s), %s, %lld sequences per rank in micro-batches of "
        "%lld, %d gradient buckets%s",
        t.ranks.world, t.ranks.world == 1 ? "" : "s", t.ranks.source.c_str(),
        t.dp->transport().c_str(), static_cast<long long>(t.rank_batch()),
        static_cast<long long>(c.train.micro_batch), t.dp->buckets(),
        t.dp->sharded()
            ? strprintf(", sharding %s (each rank keeps 1/%d of the %s)",
                        shard_mode_name(t.dp->shard()), t.ranks.world,
                        t.dp->shard() == ShardMode::kOptimizer ? "optimizer state"
                                                               : "optimizer state and gradients")
                  .c_str()
            : ""));
  }
  if (floor) {
    info(strprintf("optimal held-out loss of the synthetic source: %.4f nats/token", *floor));
  }

  const auto segment_start = Clock::now();
  const double earlier_segments_s = state.elapsed_s;
  auto wall = [&] { return earlier_segments_s + seconds_since(segment_start); };
  auto last_log_time = Clock::now();
  int64_t last_log_tokens = state.tokens;
  auto checkpoint = [&] {
    state.elapsed_s = wall();
    check_claim("the checkpoint at step " + std::to_string(state.step));
    if (main) {
      // The lines that the checkpoint counts reach the disk before it does.
      run.sync_metrics();
      state.metrics_bytes = run.metrics_bytes();
    }
    if (t.dp && t.dp->sharded()) {
      // Every rank writes its optimizer chunks; rank 0 the rest, and publishes.
      save_checkpoint(run, *t.model, *t.optimizer, state, c.train.keep_checkpoints, t.dp.get());
    } else if (main) {
      save_checkpoint(run, *t.model, *t.optimizer, state, c.train.keep_checkpoints);
    }
    if (main) run.write_summary(make_summary(t, state, "running", state.elapsed_s, floor, ""));
    if (t.dp) t.dp->barrier();  // no rank runs ahead of a checkpoint in progress
  };
  auto fail = [&](const std::string& reason) {
    log.error(reason);
    if (main) run.write_summary(make_summary(t, state, "failed", wall(), floor, reason));
    return kExitNonFinite;
  };

  // A write that fails (a full disk, an I/O error) ends the run with its
  // message in log.txt and, where the disk still takes it, in summary.json.
  try {
    t.model->train();
    while (state.step < total) {
      int sig = stop_signal();
      // Every rank stops at the same step when any of them got a signal.
      if (t.dp && t.dp->sum({sig != 0 ? 1.0 : 0.0})[0] > 0 && sig == 0) sig = SIGTERM;
      if (sig) {
        checkpoint();
        if (main)
          log.warn(strprintf(
              "signal %d received: checkpointed at step %lld; exiting with code %d to "
              "be requeued",
              sig, static_cast<long long>(state.step), static_cast<int>(kExitInterrupted)));
        return kExitInterrupted;
      }
      const double lr = c.optim.lr * lr_multiplier(c.schedule, state.step, total);
      const StepResult r = training_step(t, batches, state.step, lr);
      if (!r.failure.empty()) return fail(r.failure + "; the last good checkpoint is kept");
      const double loss = r.loss, gnorm = r.grad_norm;
      state.step += 1;
      state.tokens += step_tokens;
      state.flops_executed += t.flops.palm * step_tokens;
      state.metric_since_log += r.metric;
      state.steps_since_log += 1;

      const bool last = state.step == total;
      const bool eval_now =
          last || (c.train.eval_every > 0 && state.step % c.train.eval_every == 0);
      const bool log_now = eval_now || state.step % c.train.log_every == 0;
      if (log_now) {
        const double interval = seconds_since(last_log_time);
        const double tokens_per_s = (state.tokens - last_log_tokens) / std::max(interval, 1e-9);
        nlohmann::json line = {
            {"step", state.step},
            {"tokens", state.tokens},
            {"flops_6nd", t.flops.c6nd * state.tokens},
            {"flops_palm", t.flops.palm * state.tokens},
            {"flops_md", t.flops.md * state.tokens},
            {"train_loss", loss},
            {"train_metric", r.metric},
            // The mean over every step since the previous line: what the
            // analysis reads curves from (one step's batch is a noisy estimate).
            {"train_metric_mean",
             state.metric_since_log / static_cast<double>(state.steps_since_log)},
            {"lr", lr},
            {"grad_norm", gnorm},
            {"tokens_per_s", tokens_per_s},
            {"elapsed_s", wall()},
        };
        std::string val_text;
        if (eval_now) {
          const Evaluation e = evaluate(t, batches);
          // A forward pass costs a third of forward + backward.
          state.flops_executed +=
              t.flops.palm / 3.0 *
              static_cast<double>(e.tokens * t.objective->eval_forward_passes());
          line["val_loss"] = e.loss;
          state.last_val_loss = e.loss;
          if (state.best_val_loss < 0 || e.loss < state.best_val_loss) state.best_val_loss = e.loss;
          char buf[64];
          std::snprintf(buf, sizeof buf, " | val %.4f", e.loss);
          val_text = buf;
          if (t.data.nll_to_bpb > 0) {  // bits per byte, as the paper plots it
            line["val_bpb"] = e.loss * t.data.nll_to_bpb;
            val_text += strprintf(" (%.4f bpb)", e.loss * t.data.nll_to_bpb);
          }
        }
        line["flops_executed"] = state.flops_executed;  // training and evaluation so far
        check_claim("the metrics line of step " + std::to_string(state.step));
        line["time"] =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                .count();  // wall-clock (Unix seconds), for TensorBoard
        if (main) run.append_metrics(line);
        if (tensorboard) tensorboard->append(line);
        const double eta = (total - state.step) * step_tokens / std::max(tokens_per_s, 1e-9);
        // Diffusion trains on a weighted loss; the ELBO (what is compared and
        // fitted) differs from it, a lot early in training: print both.
        const std::string elbo_text =
            t.objective->loss_kind() == "elbo"
                ? strprintf(" (ELBO %.4f)", line.at("train_metric_mean").get<double>())
                : std::string();
        info(strprintf(
            "step %lld/%lld (%.1f%%) | loss %.4f%s%s | lr %.2e | gnorm %.3f | "
            "%.1fk tok/s | elapsed %s | ETA %s",
            static_cast<long long>(state.step), static_cast<long long>(total),
            100.0 * state.step / total, loss, elbo_text.c_str(), val_text.c_str(), lr, gnorm,
            tokens_per_s / 1e3, format_duration(wall()).c_str(), format_duration(eta).c_str()));
        last_log_time = Clock::now();
        last_log_tokens = state.tokens;
        state.metric_since_log = 0, state.steps_since_log = 0;
      }
      if (!last && c.train.checkpoint_every > 0 && state.step % c.train.checkpoint_every == 0) {
        checkpoint();
      }
    }

    checkpoint();
    check_claim("marking the run done");
    if (main) {
      run.write_summary(make_summary(t, state, "done", state.elapsed_s, floor, ""));
      run.mark_done();
    }
  } catch (const ClaimLostError&) {
    throw;  // another worker owns the run now: nothing more is written here
  } catch (const Error& e) {
    log.error(e.what());
    if (main) {
      try {
        run.write_summary(make_summary(t, state, "failed", wall(), floor, e.what()));
      } catch (const Error&) {
        // the disk refused this too: the message above and the exit code remain
      }
    }
    throw;
  }
  info(strprintf("done: %lld steps, %s tokens, final val %.4f (best %.4f) in %s",
                 static_cast<long long>(state.step), human_count(state.tokens).c_str(),
                 state.last_val_loss, state.best_val_loss,
                 format_duration(state.elapsed_s).c_str()));
  return kExitOk;
}

int run_training(Training& t) {
  if (!t.dp) return run_training_impl(t);
  // A collective that fails means another rank died, was killed, or stopped
  // answering (c10d and Gloo report it with their own exception types).
  auto lost = [&](const std::string& what) {
    fail_at("rank " + std::to_string(t.ranks.rank) + " of " + std::to_string(t.ranks.world),
            "lost contact with the other ranks (one died, was killed, or hung longer than "
            "distributed.timeout_s = ",
            t.cfg.distributed.timeout_s, " s): ", what);
  };
  try {
    return run_training_impl(t);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    lost(e.what_without_backtrace());
  } catch (const std::exception& e) {
    lost(e.what());
  }
  return kExitError;
}

}  // namespace scalebed
