#pragma once
// Checkpoints: variables in a safetensors file, everything else (step, trainable flags, hyper-parameters,
// optimizer scalars, user data) in a JSON file beside it.
//
// safetensors layout (https://huggingface.co/docs/safetensors): 8-byte little-endian header length N, an
// N-byte JSON header {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"k": "v"}}, then the tensor bytes (offsets relative to the end of the header). Files
// written here are readable by the Hugging Face safetensors libraries; files read here are validated
// (header length beyond the file, bad JSON, unknown dtype, offsets out of range, overlapping or not
// covering the data, byte count vs shape) and every error names the file.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "graft/context/context.h"

namespace graft {

struct SafetensorsFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file-offset order
  std::map<std::string, std::string> metadata;
  const Tensor* find(const std::string& name) const;
};

// Tensors are written in the given order; names must be unique. Written atomically (temp file + rename).
void write_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
std::string serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                  const std::map<std::string, std::string>& metadata = {});
SafetensorsFile read_safetensors(const std::filesystem::path& path);
// `what` names the buffer in errors.
SafetensorsFile parse_safetensors(const void* data, size_t nbytes, const std::string& what);

std::string safetensors_dtype(DType t);       // "F32", "BF16", "I64", "BOOL", ...
DType dtype_from_safetensors(const std::string& s, const std::string& what);

// Caller data kept with a checkpoint (a step counter, early-stopping state, a note): flat key -> bool,
// integer, double or string, stored as the "extra" JSON object beside the tensors.
using CheckpointExtra = std::map<std::string, HParam>;

// Saves every variable of `ctx` (all scopes) to `<path>` (safetensors, names are the full variable
// names) and `extra` plus the context's hyper-parameters and trainable flags to `<path>.json`.
void save_context(const Context& ctx, const std::filesystem::path& path, const CheckpointExtra& extra = {});
// Loads variables saved by save_context into `ctx`: existing variables must match dtype and shape,
// missing ones are created (strict: every variable of ctx must be in the file). Returns the extra data.
CheckpointExtra load_context(Context& ctx, const std::filesystem::path& path, bool strict = true);

// A folder of numbered checkpoints "ckpt-<step>.safetensors" + ".json", keeping the newest `keep_last`.
class CheckpointManager {
 public:
  explicit CheckpointManager(std::filesystem::path dir, int keep_last = 3);
  // Writes checkpoint `step` (extra["step"] = step) and deletes the oldest beyond keep_last. Returns the
  // safetensors path.
  std::filesystem::path save(const Context& ctx, int64_t step, const CheckpointExtra& extra = {});
  // Steps present on disk, ascending.
  std::vector<int64_t> steps() const;
  std::optional<int64_t> latest() const;
  // Restores checkpoint `step` (the latest when unset) into ctx; returns its extra data, or nullopt when
  // the folder has none.
  std::optional<CheckpointExtra> restore(Context& ctx, std::optional<int64_t> step = std::nullopt) const;
  std::filesystem::path path_for(int64_t step) const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  int keep_last_;
};

}  // namespace graft
