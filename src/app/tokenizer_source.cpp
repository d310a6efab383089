// Tokenizers from a file, a folder or a Hub repo (graft/app/tokenizer_source.h).
#include "graft/app/tokenizer_source.h"

#include <filesystem>

#include "graft/app/errors.h"
#include "graft/app/model_source.h"

namespace graft::app {

text::Tokenizer load_tokenizer(const std::string& spec, const std::string& revision) {
  return text::Tokenizer::from_file(tokenizer_path(spec, revision).string());
}

std::filesystem::path tokenizer_path(const std::string& spec, const std::string& revision) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(spec, ec)) return spec;
  if (!std::filesystem::exists(spec, ec) && looks_like_path(spec)) usage_error("tokenizer ", spec, " does not exist");
  ModelSource src = open_model_source(spec, revision);
  auto file = src.fetch("tokenizer.json");
  GRAFT_CHECK(file, src.what, ": no tokenizer.json", src.missing_reason("tokenizer.json"));
  return *file;
}

}  // namespace graft::app
