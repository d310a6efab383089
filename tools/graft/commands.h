#pragma once
// The `graft` subcommands that live outside main.cpp: each adds itself to the CLI11 app and runs from the
// options it registered. main.cpp calls run_*() when the subcommand was given.
#include <CLI/CLI.hpp>

#include <iostream>

#include <cstddef>
#include <iosfwd>
#include <string>
#include <vector>

namespace graft::cli {

// graft embed --model ID_OR_DIR [--revision R] [--normalize] [--batch N] [--format json|npy] [--output FILE]
//             [TEXT... | --input FILE]
struct EmbedArgs {
  std::string model, revision = "main", format = "json", output, input, pooling;
  std::vector<std::string> texts;
  bool normalize = false;
  size_t batch = 32;
  size_t max_length = 0;
  int threads = 0;
};
CLI::App* add_embed_command(CLI::App& app, EmbedArgs& args);
int run_embed(const EmbedArgs& args);

// graft tokenize --tokenizer FILE [--pair] [--jsonl] [--no-special] [--byte-offsets] < lines
struct TokenizeArgs {
  std::string tokenizer;
  bool pair = false, jsonl = false, no_special = false, byte_offsets = false;
};
CLI::App* add_tokenize_command(CLI::App& app, TokenizeArgs& args);
// Reads `in` to its end and writes one JSON line per input line; returns the exit status (1 when any line
// failed; such lines print {"error": ..., "line": N} so that output lines still match input lines).
int run_tokenize(const TokenizeArgs& args, std::istream& in, std::ostream& out);

}  // namespace graft::cli
