// Bit-exact agreement with the Hugging Face `tokenizers` reference encodings in ../shared/tokenizers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "graft/text/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using graft::text::Tokenizer;

fs::path tokenizers_dir() { return fs::path(GRAFT_SHARED_DIR) / "tokenizers"; }

nlohmann::json load_reference() {
  std::ifstream f(tokenizers_dir() / "reference_encodings.json");
  return nlohmann::json::parse(f);
}

void check_file(const std::string& name) {
  auto dir = tokenizers_dir();
  if (!fs::exists(dir / "reference_encodings.json") || !fs::exists(dir / name))
    GTEST_SKIP() << "shared tokenizer data not found under " << dir;
  auto ref = load_reference();
  ASSERT_TRUE(ref.contains(name)) << name;
  Tokenizer tok = Tokenizer::from_file((dir / name).string());
  const auto& cases = ref[name]["encodings"];
  ASSERT_FALSE(cases.empty());
  size_t checked = 0;
  for (const auto& c : cases) {
    std::string text = c["text"];
    const bool is_pair = c.contains("pair");
    std::string pair = is_pair ? c["pair"].get<std::string>() : std::string();
    SCOPED_TRACE(name + ": \"" + text + (is_pair ? "\" + \"" + pair : std::string()) + "\"");
    auto e = is_pair ? tok.encode(text, pair) : tok.encode(text);
    EXPECT_EQ(e.ids, c.at("ids").get<std::vector<uint32_t>>());
    EXPECT_EQ(e.tokens, c.at("tokens").get<std::vector<std::string>>());
    EXPECT_EQ(e.type_ids, c.at("type_ids").get<std::vector<uint32_t>>());
    if (c.contains("attention_mask"))
      EXPECT_EQ(e.attention_mask, c["attention_mask"].get<std::vector<uint32_t>>());
    if (c.contains("offsets") && !is_pair) {
      // the reference holds Python (character) offsets; ours are bytes
      std::vector<std::pair<size_t, size_t>> want;
      for (const auto& o : c["offsets"]) want.push_back({o[0].get<size_t>(), o[1].get<size_t>()});
      EXPECT_EQ(graft::text::byte_to_char_offsets(text, e.offsets), want);
    }
    ++checked;
  }
  EXPECT_EQ(checked, cases.size());
}

TEST(TokenizerReference, MiniLmWordPiece) { check_file("minilm_tokenizer.json"); }
TEST(TokenizerReference, Gpt2ByteLevelBpe) { check_file("gpt2_tokenizer.json"); }

TEST(TokenizerReference, BatchMatchesSingle) {
  auto dir = tokenizers_dir();
  if (!fs::exists(dir / "reference_encodings.json")) GTEST_SKIP() << "shared tokenizer data not found under " << dir;
  auto ref = load_reference();
  for (const std::string name : {"minilm_tokenizer.json", "gpt2_tokenizer.json"}) {
    Tokenizer tok = Tokenizer::from_file((dir / name).string());
    std::vector<std::string> texts;
    for (const auto& c : ref[name]["encodings"])
      if (!c.contains("pair")) texts.push_back(c["text"]);
    tok.set_num_threads(4);
    auto batch = tok.encode_batch(texts);
    ASSERT_EQ(batch.size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      auto single = tok.encode(texts[i]);
      if (!tok.padding() || tok.padding()->fixed_length) EXPECT_EQ(batch[i].ids, single.ids) << texts[i];
    }
  }
}

}  // namespace
