// graft: the command line.
//   graft info MODEL
//   graft run MODEL [--input NAME=FILE.npy]... [--dims SYMBOL=N,...] [--output-dir DIR]
//   graft bench MODEL [--input ...] [--dims ...] [--threads N] [--warmup W] [--runs R] [--json]
//   graft ops [--markdown]
//   graft embed --model ID_OR_DIR [--revision R] [--normalize] [--batch N] [--format json|npy] [--output FILE]
//               [TEXT... | --input FILE]                                        (embed.cpp)
//   graft tokenize --tokenizer FILE [--pair] [--jsonl] [--no-special] < lines   (tokenize.cpp)
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <random>

#include "commands.h"
#include "graft/backend/backend.h"
#include "graft/onnx/model.h"
#include "graft/onnx/session.h"

namespace {

using namespace graft;
namespace gonnx = graft::onnx;
using graft::onnx::Model;
namespace fs = std::filesystem;

// "NAME=FILE.npy"
std::map<std::string, Tensor> read_inputs(const std::vector<std::string>& specs) {
  std::map<std::string, Tensor> out;
  for (const auto& s : specs) {
    auto eq = s.find('=');
    GRAFT_CHECK(eq != std::string::npos && eq > 0, "--input '", s, "': expected NAME=FILE.npy");
    out[s.substr(0, eq)] = read_npy(s.substr(eq + 1));
  }
  return out;
}

// "batch=2,sequence=128" (may be repeated)
std::map<std::string, int64_t> parse_dims(const std::vector<std::string>& specs) {
  std::map<std::string, int64_t> out;
  for (const auto& spec : specs) {
    size_t start = 0;
    while (start <= spec.size()) {
      size_t end = spec.find(',', start);
      if (end == std::string::npos) end = spec.size();
      std::string item = spec.substr(start, end - start);
      start = end + 1;
      if (item.empty()) continue;
      auto eq = item.find('=');
      GRAFT_CHECK(eq != std::string::npos && eq > 0, "--dims '", item, "': expected SYMBOL=N");
      try {
        size_t used = 0;
        int64_t v = std::stoll(item.substr(eq + 1), &used);
        GRAFT_CHECK(used == item.size() - eq - 1 && v >= 0, "bad extent");
        out[item.substr(0, eq)] = v;
      } catch (const std::exception&) {
        fail("--dims '", item, "': the extent must be a non-negative integer");
      }
    }
  }
  return out;
}

// Seeded random values for inputs not given on the command line: floats in [-1, 1), token ids in
// [0, 100), masks all ones, type ids zeros.
Tensor random_input(const gonnx::ValueInfo& in, const std::map<std::string, int64_t>& dims, uint32_t seed,
                    std::vector<std::string>& notes) {
  GRAFT_CHECK(in.dtype.has_value(), "input '", in.name, "' has type ", in.type, ", which graft cannot fill");
  std::vector<int64_t> shape;
  if (in.dims)
    for (const auto& d : *in.dims) {
      if (d.is_fixed()) {
        shape.push_back(d.value);
      } else if (!d.symbol.empty() && dims.count(d.symbol)) {
        shape.push_back(dims.at(d.symbol));
      } else {
        shape.push_back(1);
        notes.push_back("input '" + in.name + "': " + (d.symbol.empty() ? "unnamed axis" : "'" + d.symbol + "'") +
                        " set to 1 (use --dims " + (d.symbol.empty() ? "" : d.symbol) + "=N)");
      }
    }
  Shape s(shape);
  std::mt19937 rng(seed);
  DType t = *in.dtype;
  std::string lname = in.name;
  std::transform(lname.begin(), lname.end(), lname.begin(), ::tolower);
  std::vector<double> v(static_cast<size_t>(s.size()));
  if (is_floating(t)) {
    std::uniform_real_distribution<double> u(-1, 1);
    for (auto& x : v) x = u(rng);
  } else if (t == DType::Bool) {
    std::bernoulli_distribution u(0.5);
    for (auto& x : v) x = u(rng);
  } else if (lname.find("mask") != std::string::npos) {
    std::fill(v.begin(), v.end(), 1.0);
  } else if (lname.find("type") != std::string::npos || lname.find("position") != std::string::npos) {
    std::fill(v.begin(), v.end(), 0.0);
  } else {
    std::uniform_int_distribution<int> u(0, 99);
    for (auto& x : v) x = u(rng);
  }
  return Tensor::from_vector(v, s).cast(t);
}

std::map<std::string, Tensor> complete_inputs(const Model& m, std::map<std::string, Tensor> given,
                                              const std::map<std::string, int64_t>& dims, bool quiet) {
  std::vector<std::string> notes;
  uint32_t seed = 0;
  for (const auto& in : m.inputs()) {
    ++seed;
    if (auto it = given.find(in.name); it != given.end()) {
      // NumPy has no bfloat16: .npy files (ONNX's test data, write_npy) hold its bit patterns as uint16.
      if (in.dtype == DType::BF16 && it->second.dtype() == DType::U16)
        it->second = Tensor::from_bytes(DType::BF16, it->second.shape(), it->second.raw(), it->second.nbytes());
      continue;
    }
    given[in.name] = random_input(in, dims, seed, notes);
    if (!quiet) std::cerr << "note: input '" << in.name << "' filled with seeded random values " << given[in.name].shape() << "\n";
  }
  if (!quiet)
    for (const auto& n : notes) std::cerr << "note: " << n << "\n";
  return given;
}

std::string sanitize(const std::string& name) {
  std::string s = name;
  for (char& ch : s)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-')) ch = '_';
  return s.empty() ? "_" : s;
}

std::string summary(const Tensor& t) {
  std::ostringstream os;
  os << dtype_name(t.dtype()) << t.shape();
  if (t.size() > 0 && t.dtype() != DType::Bool) {
    auto v = t.to_vector<double>();
    double lo = v[0], hi = v[0], sum = 0;
    for (double x : v) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
      sum += x;
    }
    os << "  min " << lo << "  max " << hi << "  mean " << sum / double(v.size());
  }
  os << "\n    " << t.str(3);
  return os.str();
}

int cmd_info(const std::string& path) {
  Model m = Model::load(path);
  std::cout << "model: " << path << "\n";
  std::cout << "producer: " << m.producer() << "  ir_version: " << m.ir_version() << "\n";
  std::cout << "opsets:";
  for (const auto& o : m.opsets()) std::cout << " " << (o.domain.empty() ? "ai.onnx" : o.domain) << "=" << o.version;
  std::cout << "\ninputs:\n";
  for (const auto& i : m.inputs()) std::cout << "  " << (i.dtype ? i.str() : i.name + ": " + i.type) << "\n";
  std::cout << "outputs:\n";
  for (const auto& o : m.outputs()) std::cout << "  " << (o.dtype ? o.str() : o.name + ": " + o.type) << "\n";
  auto names = m.initializer_names();
  std::cout << "parameters: " << m.parameter_count() << " (in " << names.size() << " initializers)\n";
  for (const auto& [k, v] : m.metadata()) std::cout << "metadata: " << k << " = " << v << "\n";
  std::cout << "ops:\n";
  auto hist = m.op_histogram();
  std::vector<std::pair<std::string, int>> ops(hist.begin(), hist.end());
  std::sort(ops.begin(), ops.end(), [](auto& a, auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  for (const auto& [op, n] : ops) std::printf("  %6d  %s\n", n, op.c_str());
  auto unsupported = m.unsupported_ops();
  if (unsupported.empty()) {
    std::cout << "unsupported ops: none\n";
  } else {
    std::cout << "unsupported ops (" << unsupported.size() << "):\n";
    for (const auto& u : unsupported) std::cout << "  " << u.str() << "\n";
  }
  return 0;
}

int cmd_run(const std::string& path, const std::vector<std::string>& input_specs, const std::vector<std::string>& dim_specs,
            const std::string& out_dir) {
  Model m = Model::load(path);
  auto inputs = complete_inputs(m, read_inputs(input_specs), parse_dims(dim_specs), false);
  gonnx::InferenceSession s(m);
  std::map<std::string, gonnx::IoValue> in;
  for (auto& [name, t] : inputs) in[name] = gonnx::IoValue::of(t);
  auto outs = s.run_values(in);
  if (!out_dir.empty()) fs::create_directories(out_dir);
  auto write = [&](const std::string& label, const std::string& file, const Tensor& t) {
    std::cout << label << ": " << summary(t) << "\n";
    if (!out_dir.empty()) {
      fs::path p = fs::path(out_dir) / (sanitize(file) + ".npy");
      write_npy(p, t);
      std::cout << "  -> " << p.string() << "\n";
    }
  };
  for (const auto& o : m.outputs()) {
    auto it = outs.find(o.name);
    if (it == outs.end()) continue;
    const gonnx::IoValue& v = it->second;
    if (v.kind == gonnx::IoValue::Kind::Tensor) {
      write(o.name, o.name, v.tensor);
    } else if (v.kind == gonnx::IoValue::Kind::None) {
      std::cout << o.name << ": absent (empty optional)\n";
    } else {
      // A sequence: one file per element, <name>_<index>.npy.
      std::cout << o.name << ": sequence of " << v.sequence.size() << " tensors\n";
      for (size_t k = 0; k < v.sequence.size(); ++k)
        write(o.name + "[" + std::to_string(k) + "]", o.name + "_" + std::to_string(k), v.sequence[k]);
    }
  }
  return 0;
}

int cmd_bench(const std::string& path, const std::vector<std::string>& input_specs, const std::vector<std::string>& dim_specs,
              int threads, int warmup, int runs, bool json) {
  if (threads > 0) set_num_threads(threads);
  GRAFT_CHECK(runs >= 1 && warmup >= 0, "--runs must be >= 1 and --warmup >= 0");
  Model m = Model::load(path);
  auto inputs = complete_inputs(m, read_inputs(input_specs), parse_dims(dim_specs), json);
  gonnx::InferenceSession s(m);
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  s.run(inputs);
  double first_total = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  double compile_ms = s.stats().last_trace_ms + s.stats().last_compile_ms;
  for (int i = 0; i < warmup; ++i) s.run(inputs);
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    auto t = clock::now();
    s.run(inputs);
    times.push_back(std::chrono::duration<double, std::milli>(clock::now() - t).count());
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) {
    size_t i = size_t(std::ceil(p * double(sorted.size()))) - 1;
    return sorted[std::min(i, sorted.size() - 1)];
  };
  double mean = 0;
  for (double t : times) mean += t / double(times.size());
  double median = sorted.size() % 2 ? sorted[sorted.size() / 2]
                                    : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);
  if (json) {
    nlohmann::json j;
    j["model"] = path;
    j["threads"] = num_threads();
    nlohmann::json ins = nlohmann::json::object();
    for (const auto& [n, t] : inputs) ins[n] = t.shape().dims();
    j["inputs"] = ins;
    j["trace_ms"] = s.stats().last_trace_ms;
    j["compile_ms"] = compile_ms;
    j["first_run_ms"] = first_total - compile_ms;
    j["warmup"] = warmup;
    j["runs"] = runs;
    j["min_ms"] = sorted.front();
    j["median_ms"] = median;
    j["p90_ms"] = pct(0.9);
    j["mean_ms"] = mean;
    j["max_ms"] = sorted.back();
    std::cout << j.dump() << "\n";
  } else {
    std::printf("model: %s  threads: %d\n", path.c_str(), num_threads());
    for (const auto& [n, t] : inputs) std::cout << "input " << n << ": " << dtype_name(t.dtype()) << t.shape() << "\n";
    std::printf("compile (trace + compile): %.3f ms (trace %.3f ms)\n", compile_ms, s.stats().last_trace_ms);
    std::printf("first run:                 %.3f ms\n", first_total - compile_ms);
    std::printf("latency over %d runs:      min %.3f  median %.3f  p90 %.3f  mean %.3f ms\n", runs, sorted.front(),
                median, pct(0.9), mean);
  }
  return 0;
}

std::string range_str(const gonnx::SupportedOp& o) {
  if (!o.domain.empty()) return std::to_string(o.since) + "+";
  int until = o.until ? o.until : gonnx::kMaxOpset;
  return std::to_string(std::max(o.since, 7)) + "-" + std::to_string(until);
}

int cmd_ops(bool markdown) {
  auto ops = gonnx::supported_ops();
  // Merge rows of the same op (several since-versions) into one range.
  std::vector<gonnx::SupportedOp> merged;
  for (const auto& o : ops) {
    if (!merged.empty() && merged.back().domain == o.domain && merged.back().op_type == o.op_type) {
      merged.back().until = o.until;
      if (!o.note.empty()) merged.back().note = o.note;
      continue;
    }
    if (o.domain.empty() && o.until && o.until < 7) continue;  // only before opset 7
    merged.push_back(o);
  }
  if (markdown) {
    std::cout << "| domain | op | opsets | notes |\n|---|---|---|---|\n";
    for (const auto& o : merged)
      std::cout << "| " << (o.domain.empty() ? "ai.onnx" : o.domain) << " | " << o.op_type << " | " << range_str(o)
                << " | " << o.note << " |\n";
  } else {
    std::printf("%-14s %-34s %-8s %s\n", "domain", "op", "opsets", "notes");
    for (const auto& o : merged)
      std::printf("%-14s %-34s %-8s %s\n", o.domain.empty() ? "ai.onnx" : o.domain.c_str(), o.op_type.c_str(),
                  range_str(o).c_str(), o.note.c_str());
    std::printf("%zu ops\n", merged.size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"graft: ONNX models into a C++ machine-learning framework"};
  app.require_subcommand(1);

  std::string model, out_dir;
  std::vector<std::string> inputs, dims;
  int threads = 0, warmup = 3, runs = 20;
  bool json = false, markdown = false;

  auto* info = app.add_subcommand("info", "opsets, inputs/outputs, op histogram, parameters, unsupported ops");
  info->add_option("MODEL", model, "the .onnx file")->required();

  auto* run = app.add_subcommand("run", "run a model; missing inputs get seeded random values");
  run->add_option("MODEL", model, "the .onnx file")->required();
  run->add_option("--input", inputs, "NAME=FILE.npy (repeatable)");
  run->add_option("--dims", dims, "SYMBOL=N,... extents of symbolic dimensions for generated inputs");
  run->add_option("--output-dir", out_dir, "write each output to DIR/<name>.npy");

  auto* bench = app.add_subcommand("bench", "compile time, first-run time and latency percentiles");
  bench->add_option("MODEL", model, "the .onnx file")->required();
  bench->add_option("--input", inputs, "NAME=FILE.npy (repeatable)");
  bench->add_option("--dims", dims, "SYMBOL=N,...");
  bench->add_option("--threads", threads, "threads (0: all cores)");
  bench->add_option("--warmup", warmup, "untimed runs before measuring");
  bench->add_option("--runs", runs, "timed runs");
  bench->add_flag("--json", json, "print one JSON object");

  auto* ops = app.add_subcommand("ops", "the supported ONNX ops with their opset ranges");
  ops->add_flag("--markdown", markdown, "print a Markdown table");

  graft::cli::EmbedArgs embed_args;
  auto* embed = graft::cli::add_embed_command(app, embed_args);
  graft::cli::TokenizeArgs tokenize_args;
  auto* tokenize = graft::cli::add_tokenize_command(app, tokenize_args);

  CLI11_PARSE(app, argc, argv);
  try {
    if (*info) return cmd_info(model);
    if (*run) return cmd_run(model, inputs, dims, out_dir);
    if (*bench) return cmd_bench(model, inputs, dims, threads, warmup, runs, json);
    if (*ops) return cmd_ops(markdown);
    if (*embed) return graft::cli::run_embed(embed_args);
    if (*tokenize) {
      std::ios::sync_with_stdio(false);
      return graft::cli::run_tokenize(tokenize_args, std::cin, std::cout);
    }
  } catch (const std::exception& e) {
    std::cerr << "graft: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
