// Atomic checkpoint directories with tensors in a torch archive.
#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "util/error.h"
#include "util/file_crc32.h"
#include "util/fs.h"

namespace scalebed {
namespace fs = std::filesystem;

nlohmann::json TrainState::to_json() const {
  return {{"step", step},
          {"tokens", tokens},
          {"elapsed_s", elapsed_s},
          {"metrics_bytes", metrics_bytes},
          {"flops_executed", flops_executed},
          {"best_val_loss", best_val_loss},
          {"last_val_loss", last_val_loss},
          {"metric_since_log", metric_since_log},
          {"steps_since_log", steps_since_log}};
}

TrainState TrainState::from_json(const nlohmann::json& j) {
  TrainState s;
  s.step = j.at("step").get<int64_t>();
  s.tokens = j.at("tokens").get<int64_t>();
  s.elapsed_s = j.at("elapsed_s").get<double>();
  s.metrics_bytes = j.at("metrics_bytes").get<int64_t>();
  s.flops_executed = j.value("flops_executed", 0.0);  // absent in checkpoints before it existed
  s.best_val_loss = j.at("best_val_loss").get<double>();
  s.last_val_loss = j.at("last_val_loss").get<double>();
  s.metric_since_log = j.value("metric_since_log", 0.0);  // absent in older checkpoints
  s.steps_since_log = j.value("steps_since_log", int64_t{0});
  return s;
}

namespace {

// CRC32 of state.json's fields other than state_crc32 itself, as dumped
// compactly (nlohmann round-trips every value, so a re-read dumps the same).
uint32_t state_crc32(nlohmann::json meta) {
  meta.erase("state_crc32");
  const std::string text = meta.dump();
  return static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0),
                                     reinterpret_cast<const Bytef*>(text.data()),
                                     static_cast<uInt>(text.size())));
}

// Writes an archive through our own write(2) calls and fsyncs it: a failed
// write (a full disk) is recorded and returned. Through save_to(filename) it
// surfaced in the zip writer's destructor, where LibTorch can only abort.
struct ArchiveWrite {
  int error = 0;  // errno of the first failure, 0 when the file is complete
  uint32_t crc = 0;
  int64_t bytes = 0;
};

ArchiveWrite write_archive(torch::serialize::OutputArchive& archive, const std::string& path) {
  ArchiveWrite w;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    w.error = errno;
    return w;
  }
  uLong crc = crc32(0L, Z_NULL, 0);
  archive.save_to([&](const void* data, size_t n) -> size_t {
    const char* p = static_cast<const char*>(data);
    for (size_t done = 0; done < n && w.error == 0;) {
      const ssize_t written = ::write(fd, p + done, n - done);
      if (written < 0 && errno == EINTR) continue;
      if (written < 0) w.error = errno;
      if (written > 0) done += static_cast<size_t>(written);
    }
    crc = crc32(crc, static_cast<const Bytef*>(data), static_cast<uInt>(n));
    w.bytes += static_cast<int64_t>(n);
    return n;  // a failure is ours to report, not the zip writer's
  });
  if (w.error == 0 && ::fsync(fd) != 0) w.error = errno;
  if (::close(fd) != 0 && w.error == 0) w.error = errno;
  w.crc = static_cast<uint32_t>(crc);
  return w;
}

// Renames `dir` out of the step_* namespace, then deletes it.
void discard(const fs::path& dir) {
  const fs::path trash = dir.parent_path() / (".trash-" + dir.filename().string());
  fs::remove_all(trash);
  fs::rename(dir, trash);
  fs::remove_all(trash);
}

}  // namespace

std::string checkpoint_name(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step_%08lld", static_cast<long long>(step));
  return name;
}

std::string checkpoint_problem(const std::string& dir, int64_t metrics_bytes) {
  const std::string tensors = dir + "/tensors.pt", meta_path = dir + "/state.json";
  for (const auto& f : {tensors, meta_path}) {
    if (!fs::exists(f)) return f + ": missing (incomplete checkpoint)";
  }
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(read_file(meta_path));
  } catch (const std::exception& e) {
    return meta_path + ": corrupt: " + e.what();
  }
  if (meta.contains("state_crc32") && meta["state_crc32"] != state_crc32(meta)) {
    return meta_path + ": CRC32 differs from the one it records (corrupted data)";
  }
  if (meta.contains("tensors_crc32")) {
    const auto [crc, bytes] = file_crc32(tensors);
    if (bytes != meta.value("tensors_bytes", int64_t{-1})) {
      return tensors + ": " + std::to_string(bytes) + " bytes, state.json records " +
             meta.value("tensors_bytes", nlohmann::json()).dump();
    }
    if (crc != meta["tensors_crc32"].get<uint32_t>()) {
      return tensors + ": CRC32 differs from the one state.json records (corrupted data)";
    }
  }
  for (const auto& shard : meta.value("optimizer_shards", nlohmann::json::array())) {
    const std::string file = dir + "/" + shard.value("file", std::string("?"));
    if (!fs::exists(file)) return file + ": missing (incomplete checkpoint)";
    const auto [crc, bytes] = file_crc32(file);
    if (bytes != shard.value("bytes", int64_t{-1}) || crc != shard.value("crc32", uint32_t{0})) {
      return file + ": size or CRC32 differs from the one state.json records (corrupted data)";
    }
  }
  const int64_t recorded = meta.value("metrics_bytes", int64_t{0});
  if (recorded > metrics_bytes) {
    return meta_path + ": records " + std::to_string(recorded) +
           " bytes of metrics.jsonl, which holds " + std::to_string(metrics_bytes) +
           " (lines lost after a crash)";
  }
  return "";
}

void save_checkpoint(const RunDirectory& run, TransformerImpl& model, const Optimizer& optimizer,
                     const TrainState& state, int64_t keep, DataParallel* dp) {
  const bool main = !dp || dp->is_main();
  const std::string name = checkpoint_name(state.step);
  const fs::path final_dir = fs::path(run.checkpoints_dir()) / name;
  const fs::path tmp_dir = fs::path(run.checkpoints_dir()) / (std::string(".tmp-") + name);
  // The same step twice (a signal during the periodic checkpoint, a finished
  // run resumed without DONE) holds the same state: keep the one on disk.
  // Rank 0 decides, and prepares the directory the ranks write into.
  double keep_existing = 0;
  if (main) {
    keep_existing = fs::exists(final_dir) &&
                    checkpoint_problem(final_dir.string(), state.metrics_bytes).empty();
    if (keep_existing == 0) {
      fs::remove_all(tmp_dir);
      fs::create_directories(tmp_dir);
    }
  }
  if (dp) keep_existing = dp->sum({keep_existing})[0];  // also: the directory exists now
  if (keep_existing != 0) return;
  std::vector<std::string> param_names;
  for (const auto& item : model.named_parameters()) param_names.push_back(item.key());

  // Under sharding each rank writes its optimizer chunks to its own file in
  // the temporary directory, and rank 0 records them all in state.json.
  nlohmann::json shard_files = nlohmann::json::array();
  if (dp) {
    torch::serialize::OutputArchive mine;
    for (const auto& [key, tensor] : optimizer.state()) mine.write("optim." + key, tensor);
    const std::string file = "optim.rank" + std::to_string(dp->rank()) + ".pt";
    const ArchiveWrite w = write_archive(mine, (tmp_dir / file).string());
    // Every rank learns every rank's outcome: all fail together or none.
    std::vector<double> outcome(3 * dp->world(), 0.0);
    outcome[3 * dp->rank()] = w.error;
    outcome[3 * dp->rank() + 1] = static_cast<double>(w.crc);
    outcome[3 * dp->rank() + 2] = static_cast<double>(w.bytes);
    outcome = dp->sum(outcome);
    for (int r = 0; r < dp->world(); ++r) {
      if (outcome[3 * r] != 0) {
        if (main) {
          std::error_code ec;
          fs::remove_all(tmp_dir, ec);
        }
        fail_at((tmp_dir / ("optim.rank" + std::to_string(r) + ".pt")).string(),
                std::strerror(static_cast<int>(outcome[3 * r])),
                " while writing the checkpoint; the last complete checkpoint is kept");
      }
      nlohmann::json slices = nlohmann::json::array();
      for (const auto& range : dp->ranges_of(r)) {
        slices.push_back({param_names[range.param], range.offset, range.numel});
      }
      shard_files.push_back({{"file", "optim.rank" + std::to_string(r) + ".pt"},
                             {"crc32", static_cast<uint32_t>(outcome[3 * r + 1])},
                             {"bytes", static_cast<int64_t>(outcome[3 * r + 2])},
                             {"slices", slices}});
    }
    if (!main) return;
  }

  const std::string tensors = (tmp_dir / "tensors.pt").string();
  torch::serialize::OutputArchive archive;
  for (const auto& item : model.named_parameters())
    archive.write("model." + item.key(), item.value());
  for (const auto& item : model.named_buffers())
    archive.write("buffer." + item.key(), item.value());
  if (!dp) {
    for (const auto& [key, tensor] : optimizer.state()) archive.write("optim." + key, tensor);
  }
  const ArchiveWrite w = write_archive(archive, tensors);
  if (w.error != 0) {
    std::error_code ec;
    fs::remove_all(tmp_dir, ec);
    fail_at(tensors, std::strerror(w.error),
            " while writing the checkpoint; the last complete checkpoint is kept");
  }
  nlohmann::json meta = state.to_json();
  meta["optimizer_steps"] = optimizer.steps_done();
  meta["tensors_bytes"] = w.bytes;
  meta["tensors_crc32"] = w.crc;
  if (dp) meta["optimizer_shards"] = shard_files;
  meta["state_crc32"] = state_crc32(meta);
  write_file_atomic((tmp_dir / "state.json").string(), meta.dump(2) + "\n");
  sync_directory(tmp_dir.string());

  // The rename is what makes a checkpoint complete. A step_N that failed its
  // check moves aside first, and goes only once the new one is in place.
  const fs::path stale = fs::path(run.checkpoints_dir()) / (std::string(".trash-") + name);
  const bool replacing = fs::exists(final_dir);
  if (replacing) {
    fs::remove_all(stale);
    fs::rename(final_dir, stale);
  }
  fs::rename(tmp_dir, final_dir);
  sync_directory(run.checkpoints_dir());
  if (replacing) fs::remove_all(stale);

  auto all = run.checkpoints();
  for (size_t i = static_cast<size_t>(keep); i < all.size(); ++i) discard(all[i]);
}

void remove_leftovers(const RunDirectory& run) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run.checkpoints_dir(), ec)) {
    const std::string n = entry.path().filename().string();
    if (n.rfind(".tmp-", 0) == 0 || n.rfind(".trash-", 0) == 0) fs::remove_all(entry.path());
  }
  for (const auto& entry : fs::directory_iterator(run.path(), ec)) {
    if (entry.path().filename().string().find(".tmp.") != std::string::npos)
      fs::remove(entry.path());
  }
}

TrainState load_checkpoint(const std::string& dir, TransformerImpl& model, Optimizer& optimizer) {
  const std::string tensors = dir + "/tensors.pt", meta_path = dir + "/state.json";
  for (const auto& f : {tensors, meta_path}) {
    if (!fs::exists(f)) fail_at(f, "checkpoint file missing (incomplete checkpoint?)");
  }
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(read_file(meta_path));
  } catch (const nlohmann::json::exception& e) {
    fail_at(meta_path, "corrupt checkpoint metadata: ", e.what());
  }
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(tensors);
  } catch (const c10::Error& e) {
    fail_at(tensors, "cannot read checkpoint tensors: ", e.what_without_backtrace());
  }
  torch::NoGradGuard no_grad;
  auto read = [&](const std::string& key, torch::Tensor& target) {
    torch::Tensor t;
    if (!archive.try_read(key, t)) fail_at(tensors, "checkpoint lacks '", key, "'");
    if (!t.sizes().equals(target.sizes())) {
      fail_at(tensors, "'", key, "' has shape ", t.sizes(), ", the model expects ", target.sizes(),
              " (different model config?)");
    }
    target.copy_(t);
  };
  for (auto& item : model.named_parameters()) read("model." + item.key(), item.value());
  for (auto& item : model.named_buffers()) read("buffer." + item.key(), item.value());

  // Where the optimizer state lives: whole tensors in tensors.pt, or chunks of
  // them in one file per rank of the run that wrote it. This rank's entries
  // (whole, or its own chunks under another world size) are cut and pasted
  // from whichever of those cover them.
  struct Source {
    std::string file, param;
    int64_t offset, numel;
  };
  std::vector<Source> sources;
  std::map<std::string, std::unique_ptr<torch::serialize::InputArchive>> archives;
  try {
    if (meta.contains("optimizer_shards")) {
      for (const auto& shard : meta.at("optimizer_shards")) {
        for (const auto& slice : shard.at("slices")) {
          sources.push_back({dir + "/" + shard.at("file").get<std::string>(),
                             slice.at(0).get<std::string>(), slice.at(1).get<int64_t>(),
                             slice.at(2).get<int64_t>()});
        }
      }
    } else {
      for (const auto& item : model.named_parameters())
        sources.push_back({tensors, item.key(), 0, item.value().numel()});
    }
  } catch (const nlohmann::json::exception& e) {
    fail_at(meta_path, "corrupt optimizer_shards: ", e.what());
  }
  auto archive_of = [&](const std::string& file) -> torch::serialize::InputArchive& {
    if (file == tensors) return archive;
    auto& a = archives[file];
    if (!a) {
      a = std::make_unique<torch::serialize::InputArchive>();
      try {
        a->load_from(file);
      } catch (const c10::Error& e) {
        fail_at(file, "cannot read checkpoint tensors: ", e.what_without_backtrace());
      }
    }
    return *a;
  };
  std::vector<std::pair<std::string, torch::Tensor>> state;
  for (const OptimParam& p : optimizer.params()) {
    const int64_t numel = p.param.numel();
    for (const std::string suffix : {".exp_avg", ".exp_avg_sq"}) {
      torch::Tensor target = torch::empty({numel}, p.exp_avg.options());
      int64_t covered = 0;
      for (const Source& src : sources) {
        const int64_t begin = std::max(src.offset, p.offset);
        const int64_t end = std::min(src.offset + src.numel, p.offset + numel);
        if (src.param != p.name || begin >= end) continue;
        torch::Tensor t;
        const std::string key = "optim." + p.name + suffix;
        if (!archive_of(src.file).try_read(key, t))
          fail_at(src.file, "checkpoint lacks '", key, "'");
        if (t.numel() != src.numel) {
          fail_at(src.file, "'", key, "' has ", t.numel(), " elements, state.json records ",
                  src.numel, " (different model config?)");
        }
        target.narrow(0, begin - p.offset, end - begin)
            .copy_(t.reshape({-1}).narrow(0, begin - src.offset, end - begin));
        covered += end - begin;
      }
      if (covered != numel) {
        fail_at(dir, "the optimizer state of '", p.name, "' covers ", covered, " of the ", numel,
                " elements this rank needs (different model config?)");
      }
      state.emplace_back(p.name + suffix, target.view(p.exp_avg.sizes()));
    }
  }
  try {
    optimizer.load_state(state, meta.at("optimizer_steps").get<int64_t>());
    return TrainState::from_json(meta);
  } catch (const nlohmann::json::exception& e) {
    fail_at(meta_path, "corrupt checkpoint metadata: ", e.what());
  }
}

}  // namespace scalebed
