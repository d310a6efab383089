// A safetensors file and its checkpoint JSON, separated by kSeparator: written as checkpoint step 1 of a
// CheckpointManager folder and restored into a Context (one that is empty, or one that already holds a
// variable the file must match); the safetensors bytes are also parsed on their own.
#include <fstream>

#include "fuzz_util.h"
#include "graft/context/checkpoint.h"

namespace {
constexpr std::string_view kSeparator = "\n#graft-checkpoint-json#\n";

void write(const std::filesystem::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [tensors, json] = graft::fuzz::split_once(graft::fuzz::as_view(data, size), kSeparator);
  try {
    graft::SafetensorsFile f = graft::parse_safetensors(tensors.data(), tensors.size(), "fuzz.safetensors");
    for (const auto& [name, t] : f.tensors) (void)t.str(2);  // reads the values
  } catch (const graft::Error&) {
  }
  const std::filesystem::path dir = graft::fuzz::scratch_dir() / "ckpt";
  std::filesystem::create_directories(dir);
  graft::CheckpointManager manager(dir);
  write(manager.path_for(1), tensors);
  write(manager.path_for(1).string() + ".json", json);
  for (bool with_variable : {false, true}) {
    graft::Context ctx;
    if (with_variable) ctx.variable("w", graft::Tensor::zeros(graft::DType::F32, {2, 3}));
    try {
      (void)manager.restore(ctx);
      for (const graft::Variable* v : static_cast<const graft::Context&>(ctx).variables()) (void)v->value.str(2);
    } catch (const graft::Error&) {
    }
  }
  return 0;
}
