// Flags shared by the subcommands (common.h).
#include "common.h"

#include <fstream>
#include <iostream>
#include <thread>

#include "graft/app/device.h"

namespace graft::cli {

namespace fs = std::filesystem;

void add_model_input_options(CLI::App* c, std::string& model, std::vector<std::string>& inputs,
                             std::vector<std::string>& dims) {
  c->add_option("MODEL", model, "the .onnx file")->type_name("MODEL")->required();
  c->add_option("--input", inputs, "a model input from a .npy file (repeatable)")->type_name("NAME=FILE.npy");
  c->add_option("--dims", dims, "extents of symbolic dimensions the given inputs do not fix")->type_name("SYMBOL=N,...");
}

void add_compute_options(CLI::App* c, int& threads, std::string& device, std::string& precision,
                         bool& allow_symlinks) {
  add_threads_option(c, threads);
  add_device_option(c, device);
  precision = "f32";
  c->add_option("--precision", precision,
                "arithmetic of products, convolutions and attention: f32 (default), bf16 or f16 (autocast: 16-bit "
                "operands, f32 accumulation; where the device lacks it, f32 with a note)")
      ->type_name("P")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}));
  add_symlinks_flag(c, allow_symlinks);
}

void add_threads_option(CLI::App* c, int& threads) {
  c->add_option("--threads", threads, "threads to compute with (default 0: all cores)")->type_name("N");
}

int checked_threads(int threads) {
  if (threads < 0) usage_error("--threads ", threads, ": must be 0 (all cores) or more");
  unsigned cores = std::thread::hardware_concurrency();
  if (cores > 0 && unsigned(threads) > cores)
    std::cerr << "graft: warning: --threads " << threads << " is more than the " << cores
              << " cores of this machine; the extra threads only compete for them\n";
  return threads;
}

void add_device_option(CLI::App* c, std::string& device) {
  c->add_option("--device", device, "cpu, cuda or cuda:N (default: $GRAFT_DEVICE, else cpu)")->type_name("DEVICE");
}

void add_symlinks_flag(CLI::App* c, bool& allow) {
  c->add_flag("--allow-external-symlinks", allow,
              "let external-data files be symlinks that point outside the model's folder");
}

void add_format_option(CLI::App* c, std::string& format, const std::vector<std::string>& choices) {
  format = choices.front();
  std::string list;
  for (const auto& ch : choices) list += (list.empty() ? "" : ", ") + ch;
  auto* f = c->add_option("--format", format, "output format: " + list + " (default " + choices.front() + ")")
                ->type_name("FORMAT")->check(CLI::IsMember(choices));
  if (std::find(choices.begin(), choices.end(), "json") != choices.end())
    c->add_flag_callback("--json", [&format] { format = "json"; }, "same as --format json")->excludes(f);
}

onnx::SessionOptions session_options(int threads, const std::string& device, const std::string& precision) {
  onnx::SessionOptions o;
  o.threads = checked_threads(threads);
  o.backend = app::backend_for(device);
  o.compile.precision = precision == "bf16" ? Precision::BF16 : precision == "f16" ? Precision::F16 : Precision::F32;
  return o;
}

void check_output_file(const std::string& flag, const std::string& path) {
  if (path.empty() || path == "-") return;
  std::error_code ec;
  fs::path p(path);
  if (fs::is_directory(p, ec)) usage_error(flag, " ", path, ": is a folder; give a file name");
  fs::path dir = p.parent_path();
  if (!dir.empty() && !fs::is_directory(dir, ec)) usage_error(flag, " ", path, ": folder ", dir.string(), " does not exist");
}

fs::path prepare_output_dir(const std::string& flag, const std::string& dir) {
  std::error_code ec;
  fs::path p(dir);
  if (fs::exists(p, ec) && !fs::is_directory(p, ec)) usage_error(flag, " ", dir, ": exists and is not a folder");
  fs::create_directories(p, ec);
  if (ec) usage_error(flag, " ", dir, ": cannot create it: ", ec.message());
  return p;
}

std::vector<std::string> read_text_lines(const std::string& flag, const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) usage_error(flag, " ", path, ": no such file");
    file.open(path, std::ios::binary);
    if (!file.good()) usage_error(flag, " ", path, ": cannot read it");
    in = &file;
  }
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(*in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace graft::cli
