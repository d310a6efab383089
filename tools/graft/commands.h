#pragma once
// The `graft` subcommands. Each adds itself to the CLI11 app (its flags into an Args struct) and runs from
// those values; main.cpp dispatches and turns errors into exit statuses (0 ok, 1 runtime error, 2 usage
// error). The work itself is graft::app's; these files parse and check arguments and print results.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace graft::cli {

// For the subcommands that run models: restarts the program once with OpenMP's waiting bounded and, where
// the team has a thread for every CPU, bound one thread per CPU, unless the user chose (openmp_policy.cpp
// says what and why); returns when there is nothing to change.
void restart_with_openmp_policy(int argc, char** argv);

// graft info MODEL [--format text|json]                                                   (model_commands.cpp)
struct InfoArgs {
  std::string model, format;
  bool allow_symlinks = false;
};
CLI::App* add_info_command(CLI::App& app, InfoArgs& args);
int run_info(const InfoArgs& args);

// graft run MODEL [--input NAME=FILE.npy]... [--dims SYMBOL=N,...] [--output-dir DIR] [--threads N] [--device D]
struct RunArgs {
  std::string model, output_dir, device, precision;
  std::vector<std::string> inputs, dims;
  int threads = 0;
  bool allow_symlinks = false;
};
CLI::App* add_run_command(CLI::App& app, RunArgs& args);
int run_run(const RunArgs& args);

// graft bench MODEL [--input ...] [--dims ...] [--threads N] [--warmup W] [--runs R] [--format text|json]
struct BenchArgs {
  std::string model, device, format, precision;
  std::vector<std::string> inputs, dims;
  int threads = 0, warmup = 3, runs = 20;
  bool allow_symlinks = false;
};
CLI::App* add_bench_command(CLI::App& app, BenchArgs& args);
int run_bench(const BenchArgs& args);

// graft ops [--format text|markdown|json]
struct OpsArgs {
  std::string format;
};
CLI::App* add_ops_command(CLI::App& app, OpsArgs& args);
int run_ops(const OpsArgs& args);

// graft embed --model ID_OR_DIR [TEXT... | --text-file FILE] [--format json|npy] [--output FILE] ...  (embed.cpp)
struct EmbedArgs {
  std::string model, revision = "main", format, output, text_file, pooling, device, precision;
  std::vector<std::string> texts;
  bool normalize = false, allow_symlinks = false;
  int64_t batch = 32, max_length = -1;  // -1: not given
  int threads = 0;
};
CLI::App* add_embed_command(CLI::App& app, EmbedArgs& args);
int run_embed(const EmbedArgs& args);

// graft tokenize --tokenizer FILE|DIR|REPO_ID [TEXT... | --text-file FILE] [--pair] [--jsonl] ...  (tokenize.cpp)
struct TokenizeArgs {
  std::string tokenizer, revision = "main", text_file, output;
  std::vector<std::string> texts;
  bool pair = false, jsonl = false, no_special = false, byte_offsets = false, no_padding = false,
       no_truncation = false;
  int64_t max_length = -1;  // -1: not given
  int threads = 0;
};
CLI::App* add_tokenize_command(CLI::App& app, TokenizeArgs& args);
// Reads `in` (or the texts / --text-file of `args`) and writes one JSON line per input line to `out` (or
// --output); returns the exit status (1 when any line failed; such lines print {"error": ..., "line": N}
// so that output lines still match input lines).
int run_tokenize(const TokenizeArgs& args, std::istream& in, std::ostream& out);

// graft finetune --model MODEL --task classify|embed --train FILE [--eval FILE] ... --output-dir OUT (finetune.cpp)
struct FinetuneArgs {
  std::string model, tokenizer, revision = "main", task = "classify", train, eval, text_column = "text",
      text_pair_column, label_column = "label", pooling = "mean", output_dir, lora_targets = ".*";
  std::vector<std::string> trainable, freeze;
  int64_t lift_constants = 0;  // --lift-constants[=N]
  int64_t max_length = 128, batch = 32, epochs = 3, max_steps = -1, lora_rank = -1;  // -1: not given
  double lora_alpha = 16;
  std::optional<double> lr;
  double weight_decay = 0.01, warmup = 0.1;
  uint64_t seed = 42;
  int patience = 0, threads = 0;
  bool resume = false, demo = false, json = false, allow_symlinks = false, epochs_given = false;
};
CLI::App* add_finetune_command(CLI::App& app, FinetuneArgs& args);
int run_finetune(const FinetuneArgs& args);

// graft classify --model OUT [TEXT... | --text-file FILE] [--json] ...                            (finetune.cpp)
struct ClassifyArgs {
  std::string model, text_file, device, precision;
  std::vector<std::string> texts;
  bool json = false, allow_symlinks = false;
  int64_t batch = 32, max_length = -1;
  int threads = 0;
};
CLI::App* add_classify_command(CLI::App& app, ClassifyArgs& args);
int run_classify(const ClassifyArgs& args);

// graft quantize IN OUT [--mode dynamic|static|weight-only] [--per-channel] [--weight-only int8|int4] ...
//                                                                                              (quantize.cpp)
struct QuantizeArgs {
  std::string input, output, mode, weight_only, calibration, method, exclude;
  std::optional<int64_t> block_size;
  std::optional<double> percentile;
  bool per_channel = false, round_to_nearest = false;
  int threads = 0;
};
CLI::App* add_quantize_command(CLI::App& app, QuantizeArgs& args);
int run_quantize(const QuantizeArgs& args);

}  // namespace graft::cli
