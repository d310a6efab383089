// graft: the command line. Subcommands (docs/cli.md):
//   graft info MODEL                         (model_commands.cpp)
//   graft run MODEL ...                      (model_commands.cpp)
//   graft bench MODEL ...                    (model_commands.cpp)
//   graft ops                                (model_commands.cpp)
//   graft embed --model ID_OR_DIR ...        (embed.cpp)
//   graft tokenize --tokenizer SPEC ...      (tokenize.cpp)
//   graft finetune --model M --train F ...   (finetune.cpp)
//   graft classify --model OUT TEXT...       (finetune.cpp)
//   graft quantize IN OUT [--mode ...]       (quantize.cpp)
// Exit status: 0 success, 1 an error while working (a bad model, a failed download), 2 a usage error
// (an unknown flag, a missing or bad value: CLI11's parse errors and app::UsageError).
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "graft/app/errors.h"

#ifndef GRAFT_VERSION
#define GRAFT_VERSION "unknown"
#endif

namespace {
constexpr int kRuntimeError = 1;
constexpr int kUsageError = 2;

// CLI11 prints a flag's value-when-given-bare in its name ("--lift-constants{16}"); the help text says it
// in words ("default N: 16"), so the braces only clutter the listing.
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_option_name(const CLI::Option* opt, bool positional) const override {
    std::string name = CLI::Formatter::make_option_name(opt, positional);
    for (size_t open = name.find('{'); open != std::string::npos; open = name.find('{', open)) {
      size_t close = name.find('}', open);
      if (close == std::string::npos) break;
      name.erase(open, close - open + 1);
    }
    return name;
  }
};
}  // namespace

int main(int argc, char** argv) {
  using namespace graft::cli;
  restart_with_openmp_policy(argc, argv);  // openmp_policy.cpp: once, before OpenMP is used
  CLI::App app{"graft: ONNX models into a C++ machine-learning framework"};
  app.set_version_flag("--version", std::string("graft ") + GRAFT_VERSION);
  app.require_subcommand(1);
  app.formatter(std::make_shared<HelpFormatter>());  // before the subcommands, which copy it
  app.footer("Exit status: 0 success, 1 error, 2 usage error. `graft SUBCOMMAND --help` lists its flags.");

  InfoArgs info_args;
  RunArgs run_args;
  BenchArgs bench_args;
  OpsArgs ops_args;
  EmbedArgs embed_args;
  TokenizeArgs tokenize_args;
  FinetuneArgs finetune_args;
  ClassifyArgs classify_args;
  QuantizeArgs quantize_args;
  auto* info = add_info_command(app, info_args);
  auto* run = add_run_command(app, run_args);
  auto* bench = add_bench_command(app, bench_args);
  auto* ops = add_ops_command(app, ops_args);
  auto* embed = add_embed_command(app, embed_args);
  auto* tokenize = add_tokenize_command(app, tokenize_args);
  auto* finetune = add_finetune_command(app, finetune_args);
  auto* classify = add_classify_command(app, classify_args);
  auto* quantize = add_quantize_command(app, quantize_args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help / version (status 0) or the parse error
    return rc == 0 ? 0 : kUsageError;
  }
  try {
    if (*info) return run_info(info_args);
    if (*run) return run_run(run_args);
    if (*bench) return run_bench(bench_args);
    if (*ops) return run_ops(ops_args);
    if (*embed) return run_embed(embed_args);
    if (*finetune) return run_finetune(finetune_args);
    if (*classify) return run_classify(classify_args);
    if (*quantize) return run_quantize(quantize_args);
    if (*tokenize) {
      std::ios::sync_with_stdio(false);
      return run_tokenize(tokenize_args, std::cin, std::cout);
    }
  } catch (const graft::app::UsageError& e) {
    std::cerr << "graft: error: " << e.what() << "\n";
    return kUsageError;
  } catch (const std::exception& e) {
    std::cerr << "graft: error: " << e.what() << "\n";
    return kRuntimeError;
  }
  return 0;
}
