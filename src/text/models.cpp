#include "text/models.h"

#include "graft/core/error.h"

namespace graft::text {

std::shared_ptr<Model> make_model(const json& j) {
  GRAFT_CHECK(j.is_object(), "tokenizer: \"model\" must be an object");
  std::string type = jstr(j, "type");
  if (type.empty()) {  // files written before "type" was serialized
    if (j.contains("merges")) type = "BPE";
    else if (j.contains("vocab") && j["vocab"].is_array()) type = "Unigram";
    else if (j.contains("vocab")) type = "WordPiece";
  }
  if (type == "WordPiece") return std::make_shared<WordPiece>(j);
  if (type == "WordLevel") return std::make_shared<WordLevel>(j);
  if (type == "BPE") return std::make_shared<BPE>(j);
  if (type == "Unigram") return std::make_shared<Unigram>(j);
  fail("tokenizer: unsupported model type \"", type, "\"");
}

}  // namespace graft::text
