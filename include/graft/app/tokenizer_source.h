#pragma once
// A tokenizer named the way users name models: a tokenizer.json file, a folder holding one, or a Hub repo
// id (its tokenizer.json through graft::hub and the cache).
#include <filesystem>
#include <string>

#include "graft/text/tokenizer.h"

namespace graft::app {

// `spec` is a file (a tokenizer.json), a folder with tokenizer.json, or a Hub repo id at `revision`; a path
// that does not exist and cannot be a repo id is an error saying so.
text::Tokenizer load_tokenizer(const std::string& spec, const std::string& revision = "main");
// The local path of that tokenizer.json (downloaded into the cache for a Hub repo).
std::filesystem::path tokenizer_path(const std::string& spec, const std::string& revision = "main");

}  // namespace graft::app
