// graft info / run / bench / ops: the commands over one ONNX model (or the converter table).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "common.h"
#include "graft/app/benchmark.h"
#include "graft/app/device.h"
#include "graft/app/model_inputs.h"
#include "graft/onnx/model.h"
#include "graft/onnx/session.h"

namespace graft::cli {

namespace {

namespace fs = std::filesystem;
using onnx::Model;

Model load_model(const std::string& path, bool allow_symlinks) {
  std::error_code ec;
  if (!fs::exists(path, ec)) usage_error("MODEL ", path, ": no such file");
  return Model::load(path, {.allow_external_symlinks = allow_symlinks});
}

// "80 B", "90.3 MB": bytes below a megabyte exactly, more in MB.
std::string human_bytes(uint64_t n) {
  char buf[32];
  if (n < 1000000) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  else std::snprintf(buf, sizeof buf, "%.1f MB", double(n) / 1e6);
  return buf;
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

// The model's inputs: those given plus generated ones (app::complete_inputs checks every value given).
app::CompletedInputs model_inputs(const Model& m, const std::vector<std::string>& input_specs,
                                  const std::vector<std::string>& dim_specs) {
  return app::complete_inputs(m, app::read_named_inputs(input_specs), app::parse_dims(dim_specs));
}

void print_notes(const std::vector<std::string>& notes) {
  for (const auto& n : notes) std::cerr << "note: " << n << "\n";
}

nlohmann::ordered_json value_info_json(const onnx::ValueInfo& v) {
  nlohmann::ordered_json j = {{"name", v.name}, {"type", v.type}};
  if (v.dims) {
    nlohmann::ordered_json dims = nlohmann::ordered_json::array();
    for (const auto& d : *v.dims)
      dims.push_back(d.is_fixed() ? nlohmann::ordered_json(d.value) : nlohmann::ordered_json(d.str()));
    j["dims"] = dims;
  }
  return j;
}

}  // namespace

// ---- info ------------------------------------------------------------------------------------------------

CLI::App* add_info_command(CLI::App& app, InfoArgs& a) {
  auto* c = app.add_subcommand("info", "opsets, inputs/outputs, op histogram, parameters, external data, unsupported ops");
  c->add_option("MODEL", a.model, "the .onnx file")->type_name("MODEL")->required();
  add_format_option(c, a.format, {"text", "json"});
  add_symlinks_flag(c, a.allow_symlinks);
  return c;
}

int run_info(const InfoArgs& a) {
  Model m = load_model(a.model, a.allow_symlinks);
  auto hist = m.op_histogram();
  std::vector<std::pair<std::string, int>> ops(hist.begin(), hist.end());
  std::sort(ops.begin(), ops.end(), [](auto& x, auto& y) { return x.second != y.second ? x.second > y.second : x.first < y.first; });
  auto unsupported = m.unsupported_ops();
  auto external = m.external_data_files();
  auto names = m.initializer_names();
  int missing = 0;
  for (const auto& f : external) missing += f.present ? 0 : 1;

  if (a.format == "json") {
    nlohmann::ordered_json j;
    j["model"] = a.model;
    j["producer"] = m.producer();
    j["ir_version"] = m.ir_version();
    nlohmann::ordered_json opsets = nlohmann::ordered_json::object();
    for (const auto& o : m.opsets()) opsets[o.domain.empty() ? "ai.onnx" : o.domain] = o.version;
    j["opsets"] = opsets;
    j["inputs"] = nlohmann::ordered_json::array();
    for (const auto& i : m.inputs()) j["inputs"].push_back(value_info_json(i));
    j["outputs"] = nlohmann::ordered_json::array();
    for (const auto& o : m.outputs()) j["outputs"].push_back(value_info_json(o));
    j["parameters"] = m.parameter_count();
    j["initializers"] = names.size();
    j["metadata"] = m.metadata();
    j["ops"] = hist;
    j["unsupported_ops"] = nlohmann::ordered_json::array();
    for (const auto& u : unsupported)
      j["unsupported_ops"].push_back(
          nlohmann::ordered_json{{"domain", u.domain}, {"op_type", u.op_type}, {"opset", u.opset}, {"nodes", u.nodes}});
    j["external_data"] = nlohmann::ordered_json::array();
    for (const auto& f : external)
      j["external_data"].push_back(nlohmann::ordered_json{{"location", f.location}, {"path", f.path.string()},
                                                          {"tensors", f.tensors}, {"bytes_needed", f.bytes_needed},
                                                          {"present", f.present}, {"size", f.size}});
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "model: " << a.model << "\n";
    std::cout << "producer: " << m.producer() << "  ir_version: " << m.ir_version() << "\n";
    std::cout << "opsets:";
    for (const auto& o : m.opsets()) std::cout << " " << (o.domain.empty() ? "ai.onnx" : o.domain) << "=" << o.version;
    std::cout << "\ninputs:\n";
    for (const auto& i : m.inputs()) std::cout << "  " << (i.dtype ? i.str() : i.name + ": " + i.type) << "\n";
    std::cout << "outputs:\n";
    for (const auto& o : m.outputs()) std::cout << "  " << (o.dtype ? o.str() : o.name + ": " + o.type) << "\n";
    std::cout << "parameters: " << m.parameter_count() << " (in " << names.size() << " initializers)\n";
    if (external.empty()) {
      std::cout << "external data: none (all weights inside the .onnx file)\n";
    } else {
      std::cout << "external data: " << external.size() << " file" << (external.size() > 1 ? "s" : "") << "\n";
      for (const auto& f : external) {
        std::cout << "  " << f.location << "  " << f.tensors << " tensor" << (f.tensors > 1 ? "s" : "") << ", ";
        if (f.present)
          std::cout << human_bytes(f.size) << (f.size < f.bytes_needed ? ", TOO SHORT: needs " + human_bytes(f.bytes_needed) : "")
                    << "\n";
        else
          std::cout << "MISSING (needs " << human_bytes(f.bytes_needed) << " at " << f.path.string() << ")\n";
      }
    }
    for (const auto& [k, v] : m.metadata()) std::cout << "metadata: " << k << " = " << v << "\n";
    std::cout << "ops:\n";
    for (const auto& [op, n] : ops) std::printf("  %6d  %s\n", n, op.c_str());
    if (unsupported.empty()) {
      std::cout << "unsupported ops: none\n";
    } else {
      std::cout << "unsupported ops (" << unsupported.size() << "):\n";
      for (const auto& u : unsupported) std::cout << "  " << u.str() << "\n";
    }
  }
  if (missing)
    std::cerr << "graft: warning: " << missing << " external-data file" << (missing > 1 ? "s are" : " is")
              << " missing; the model cannot run without " << (missing > 1 ? "them" : "it") << "\n";
  return 0;
}

// ---- run -------------------------------------------------------------------------------------------------

CLI::App* add_run_command(CLI::App& app, RunArgs& a) {
  auto* c = app.add_subcommand("run", "run a model on .npy inputs; missing inputs get seeded random values");
  add_model_input_options(c, a.model, a.inputs, a.dims);
  c->add_option("--output-dir", a.output_dir, "write each output to DIR/<name>.npy")->type_name("DIR");
  add_compute_options(c, a.threads, a.device, a.precision, a.allow_symlinks);
  return c;
}

int run_run(const RunArgs& a) {
  onnx::SessionOptions so = session_options(a.threads, a.device, a.precision);
  fs::path out_dir = a.output_dir.empty() ? fs::path() : prepare_output_dir("--output-dir", a.output_dir);
  Model m = load_model(a.model, a.allow_symlinks);
  app::CompletedInputs in = model_inputs(m, a.inputs, a.dims);
  onnx::InferenceSession s(m, so);
  std::map<std::string, onnx::IoValue> values;
  for (auto& [name, t] : in.inputs) values[name] = onnx::IoValue::of(t);
  auto outs = s.run_values(values);
  print_notes(in.notes);  // after the run: a failure is not preceded by notes about generated inputs
  auto write = [&](const std::string& label, const std::string& file, const Tensor& t) {
    std::cout << label << ": " << summary(t) << "\n";
    if (!out_dir.empty()) {
      fs::path p = out_dir / (sanitize(file) + ".npy");
      write_npy(p, t);
      std::cout << "  -> " << p.string() << "\n";
    }
  };
  for (const auto& o : m.outputs()) {
    auto it = outs.find(o.name);
    if (it == outs.end()) continue;
    const onnx::IoValue& v = it->second;
    if (v.kind == onnx::IoValue::Kind::Tensor) {
      write(o.name, o.name, v.tensor);
    } else if (v.kind == onnx::IoValue::Kind::None) {
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

// ---- bench -----------------------------------------------------------------------------------------------

CLI::App* add_bench_command(CLI::App& app, BenchArgs& a) {
  auto* c = app.add_subcommand("bench", "compile time, first-run time and latency percentiles");
  add_model_input_options(c, a.model, a.inputs, a.dims);
  c->add_option("--warmup", a.warmup, "untimed runs before measuring (default 3)")->type_name("N");
  c->add_option("--runs", a.runs, "timed runs (default 20)")->type_name("N");
  add_format_option(c, a.format, {"text", "json"});
  add_compute_options(c, a.threads, a.device, a.precision, a.allow_symlinks);
  return c;
}

int run_bench(const BenchArgs& a) {
  if (a.runs < 1) usage_error("--runs ", a.runs, ": must be at least 1");
  if (a.warmup < 0) usage_error("--warmup ", a.warmup, ": must be 0 or more");
  onnx::SessionOptions so = session_options(a.threads, a.device, a.precision);
  Model m = load_model(a.model, a.allow_symlinks);
  app::CompletedInputs in = model_inputs(m, a.inputs, a.dims);
  onnx::InferenceSession s(m, so);
  app::BenchmarkResult r = app::benchmark(s, in.inputs, a.warmup, a.runs);
  const int threads = so.threads > 0 ? so.threads : num_threads();
  if (a.format == "json") {
    nlohmann::json j;
    j["model"] = a.model;
    j["device"] = app::device_name(a.device);
    j["threads"] = threads;
    nlohmann::json ins = nlohmann::json::object();
    for (const auto& [n, t] : in.inputs) ins[n] = t.shape().dims();
    j["inputs"] = ins;
    j["trace_ms"] = r.trace_ms;
    j["compile_ms"] = r.compile_ms;
    j["first_run_ms"] = r.first_run_ms;
    j["warmup"] = a.warmup;
    j["runs"] = a.runs;
    j["min_ms"] = r.min_ms;
    j["median_ms"] = r.median_ms;
    j["p90_ms"] = r.p90_ms;
    j["mean_ms"] = r.mean_ms;
    j["max_ms"] = r.max_ms;
    j["precision"] = a.precision;
    if (const ExecutableStats* st = s.last_executable_stats()) {
      j["bf16_kernels"] = st->num_bf16_kernels;
      j["f16_ops_widened"] = st->num_f16_values_widened;
    }
    std::cout << j.dump() << "\n";
  } else {
    print_notes(in.notes);
    std::printf("model: %s  device: %s  threads: %d\n", a.model.c_str(), app::device_name(a.device).c_str(), threads);
    for (const auto& [n, t] : in.inputs) std::cout << "input " << n << ": " << dtype_name(t.dtype()) << t.shape() << "\n";
    std::printf("compile (trace + compile): %.3f ms (trace %.3f ms)\n", r.compile_ms, r.trace_ms);
    std::printf("first run:                 %.3f ms\n", r.first_run_ms);
    if (const ExecutableStats* st = s.last_executable_stats(); st && (st->num_bf16_kernels || st->num_f16_values_widened))
      std::printf("precision %s: %d kernels in bf16, %d f16 ops computed in f32\n", a.precision.c_str(),
                  st->num_bf16_kernels, st->num_f16_values_widened);
    std::printf("latency over %d runs:      min %.3f  median %.3f  p90 %.3f  mean %.3f ms\n", a.runs, r.min_ms,
                r.median_ms, r.p90_ms, r.mean_ms);
  }
  return 0;
}

// ---- ops -------------------------------------------------------------------------------------------------

namespace {
std::string range_str(const onnx::SupportedOp& o) {
  if (!o.domain.empty()) return std::to_string(o.since) + "+";
  int until = o.until ? o.until : onnx::kMaxOpset;
  return std::to_string(std::max(o.since, 7)) + "-" + std::to_string(until);
}
}  // namespace

CLI::App* add_ops_command(CLI::App& app, OpsArgs& a) {
  auto* c = app.add_subcommand("ops", "the supported ONNX ops with their opset ranges");
  add_format_option(c, a.format, {"text", "markdown", "json"});
  c->add_flag_callback("--markdown", [&a] { a.format = "markdown"; }, "same as --format markdown");
  return c;
}

int run_ops(const OpsArgs& a) {
  // Merge rows of the same op (several since-versions) into one range.
  std::vector<onnx::SupportedOp> merged;
  for (const auto& o : onnx::supported_ops()) {
    if (!merged.empty() && merged.back().domain == o.domain && merged.back().op_type == o.op_type) {
      merged.back().until = o.until;
      if (!o.note.empty()) merged.back().note = o.note;
      continue;
    }
    if (o.domain.empty() && o.until && o.until < 7) continue;  // only before opset 7
    merged.push_back(o);
  }
  auto domain = [](const onnx::SupportedOp& o) { return o.domain.empty() ? std::string("ai.onnx") : o.domain; };
  if (a.format == "markdown") {
    std::cout << "| domain | op | opsets | notes |\n|---|---|---|---|\n";
    for (const auto& o : merged)
      std::cout << "| " << domain(o) << " | " << o.op_type << " | " << range_str(o) << " | " << o.note << " |\n";
  } else if (a.format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& o : merged)
      j.push_back({{"domain", domain(o)}, {"op", o.op_type}, {"opsets", range_str(o)}, {"note", o.note}});
    std::cout << j.dump(1) << "\n";
  } else {
    std::printf("%-14s %-34s %-8s %s\n", "domain", "op", "opsets", "notes");
    for (const auto& o : merged)
      std::printf("%-14s %-34s %-8s %s\n", domain(o).c_str(), o.op_type.c_str(), range_str(o).c_str(), o.note.c_str());
    std::printf("%zu ops\n", merged.size());
  }
  return 0;
}

}  // namespace graft::cli
