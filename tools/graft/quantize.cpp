// graft quantize IN.onnx OUT.onnx [--mode dynamic|static|weight-only] [--per-channel]
//                [--weight-only int8|int4 [--block-size 32] [--round-to-nearest]] [--calibration DIR]
//                [--calibration-method minmax|percentile [--percentile 99.99]] [--exclude REGEX] [--threads N]
// Flags are checked here (usage errors, exit status 2); the work is graft::onnx::quantize_model.
#include <iostream>

#include "commands.h"
#include "common.h"
#include "graft/onnx/quantize.h"

namespace graft::cli {

CLI::App* add_quantize_command(CLI::App& app, QuantizeArgs& a) {
  auto* c = app.add_subcommand("quantize", "write an int8 / int4 quantized copy of an ONNX model");
  c->add_option("IN", a.input, "the fp32 .onnx model")->required();
  c->add_option("OUT", a.output, "where the quantized model is written")->required();
  c->add_option("--mode", a.mode, "dynamic (default), static (QDQ, needs --calibration) or weight-only")
      ->check(CLI::IsMember({"dynamic", "static", "weight-only"}));
  c->add_flag("--per-channel", a.per_channel, "MatMul/Gemm weights: one scale per output column");
  c->add_option("--weight-only", a.weight_only, "MatMul weights as com.microsoft MatMulNBits: int8 or int4")
      ->check(CLI::IsMember({"int8", "int4"}));
  c->add_option("--block-size", a.block_size, "weight-only: values per scale along K (a power of two >= 16)");
  c->add_flag("--round-to-nearest", a.round_to_nearest,
              "int4: round every block on its own, without error compensation (and without calibration runs)");
  c->add_option("--calibration", a.calibration,
                "static, and int4 error compensation: a folder of input sets (sub-folders holding INPUT.npy per "
                "model input; int4 makes some up without it)");
  c->add_option("--calibration-method", a.method, "minmax (default) or percentile")
      ->check(CLI::IsMember({"minmax", "percentile"}));
  c->add_option("--percentile", a.percentile, "percentile calibration: the range's upper percentile (default 99.99)");
  c->add_option("--exclude", a.exclude, "leave nodes whose name matches this regular expression in fp32");
  add_threads_option(c, a.threads);
  return c;
}

int run_quantize(const QuantizeArgs& a) {
  onnx::QuantizeOptions o;
  std::string mode = a.mode.empty() ? (!a.weight_only.empty() ? "weight-only" : !a.calibration.empty() ? "static" : "dynamic") : a.mode;
  if (mode == "weight-only") {
    if (a.weight_only.empty() && !a.mode.empty()) usage_error("--mode weight-only needs --weight-only int8|int4");
    o.mode = onnx::QuantizeMode::WeightOnly;
    o.weight_bits = a.weight_only == "int4" ? 4 : 8;
    if (a.block_size) {
      int64_t b = *a.block_size;
      if (b < 16 || (b & (b - 1)) != 0) usage_error("--block-size must be a power of two >= 16, not " + std::to_string(b));
      o.block_size = b;
    }
  } else {
    if (!a.weight_only.empty()) usage_error("--weight-only cannot be combined with --mode " + mode);
    if (a.block_size) usage_error("--block-size applies to --weight-only only");
  }
  if (a.round_to_nearest && o.weight_bits != 4) usage_error("--round-to-nearest applies to --weight-only int4 only");
  o.error_compensation = !a.round_to_nearest;
  if (mode == "static") {
    if (a.calibration.empty()) usage_error("--mode static needs --calibration DIR");
    o.mode = onnx::QuantizeMode::Static;
    o.calibration = onnx::calibration_sets_from_dir(a.calibration);
  } else if (!a.calibration.empty()) {
    bool int4_compensated = mode == "weight-only" && o.weight_bits == 4 && !a.round_to_nearest;
    if (!int4_compensated) usage_error("--calibration applies to --mode static and --weight-only int4 only");
    o.calibration = onnx::calibration_sets_from_dir(a.calibration);
  }
  if (!a.method.empty() && mode != "static") usage_error("--calibration-method applies to --mode static only");
  if (a.method == "percentile") o.method = onnx::CalibrationMethod::Percentile;
  if (a.percentile) {
    if (a.method != "percentile") usage_error("--percentile needs --calibration-method percentile");
    if (!(*a.percentile > 50 && *a.percentile <= 100))
      usage_error("--percentile must lie in (50, 100], not " + std::to_string(*a.percentile));
    o.percentile = *a.percentile;
  }
  o.per_channel = a.per_channel;
  o.exclude = a.exclude;
  o.threads = checked_threads(a.threads);
  check_output_file("OUT", a.output);
  onnx::QuantizeReport r = onnx::quantize_model(a.input, a.output, o);
  std::cout << "quantized " << r.quantized.size() << " node(s) (" << mode << "), left " << r.skipped.size()
            << " as they were, removed " << r.removed_initializers << " unused initializer(s): " << a.output << "\n";
  for (const std::string& s : r.skipped) std::cout << "  kept " << s << "\n";
  return 0;
}

}  // namespace graft::cli
