#pragma once
// The flags several subcommands share, registered and checked in one place so that every subcommand spells
// and validates them alike (docs/cli.md, "Flags"). A bad value is an app::UsageError naming the flag: the
// command line exits with status 2 for those, 1 for any other error.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "graft/app/errors.h"
#include "graft/onnx/session.h"

namespace graft::cli {

using app::usage_error;

// MODEL, --input NAME=FILE.npy..., --dims SYMBOL=N,...: a model and its inputs (run, bench).
void add_model_input_options(CLI::App* command, std::string& model, std::vector<std::string>& inputs,
                             std::vector<std::string>& dims);
// --threads, --device, --precision and --allow-external-symlinks: how a model is loaded and run (run, bench,
// embed, classify).
void add_compute_options(CLI::App* command, int& threads, std::string& device, std::string& precision,
                         bool& allow_symlinks);

// --threads N (0: all cores).
void add_threads_option(CLI::App* command, int& threads);
// The value of --threads, checked: negative is a usage error; more than the machine's cores is allowed
// with a warning on stderr.
int checked_threads(int threads);

// --device cpu|cuda[:N] (default: $GRAFT_DEVICE, else cpu).
void add_device_option(CLI::App* command, std::string& device);
// --allow-external-symlinks (onnx::LoadOptions::allow_external_symlinks).
void add_symlinks_flag(CLI::App* command, bool& allow);
// --format F (one of `choices`, the first being the default) and --json, its shorthand for --format json.
void add_format_option(CLI::App* command, std::string& format, const std::vector<std::string>& choices);

// The session options of --threads, --device and --precision (f32, bf16 or f16: CompileOptions::precision).
onnx::SessionOptions session_options(int threads, const std::string& device, const std::string& precision);

// --output FILE: its folder must exist and it must not be a folder ('-' is stdout).
void check_output_file(const std::string& flag, const std::string& path);
// --output-dir DIR: created when missing; an error naming the flag when it cannot be.
std::filesystem::path prepare_output_dir(const std::string& flag, const std::string& dir);

// Lines of `path` ('-': stdin), a trailing '\r' dropped from each.
std::vector<std::string> read_text_lines(const std::string& flag, const std::string& path);

}  // namespace graft::cli
