// Small tokenizer.json documents written inline, with expected outputs derived by hand from the
// Hugging Face `tokenizers` behaviour (each derivation is in the comment above its test).
#include <gtest/gtest.h>

#include "graft/core/error.h"
#include "graft/text/tokenizer.h"

namespace {

using graft::text::Direction;
using graft::text::Encoding;
using graft::text::PaddingParams;
using graft::text::Tokenizer;
using graft::text::TruncationParams;
using graft::text::TruncationStrategy;
using Offs = std::vector<std::pair<size_t, size_t>>;

// ---- Unigram + Metaspace ---------------------------------------------------------------------------

const char* kUnigram = R"({
  "version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [{"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false,
                    "normalized": false, "special": true}],
  "normalizer": null,
  "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
  "post_processor": null,
  "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
  "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": false, "vocab": [
    ["<unk>", 0.0], ["▁", -2.0], ["▁hello", -1.0], ["▁he", -3.0], ["llo", -3.0], ["▁world", -1.5],
    ["wor", -2.0], ["ld", -2.0], ["h", -4.0], ["e", -4.0], ["l", -4.0], ["o", -4.0], ["▁w", -3.0]]}
})";

// "hello world": Metaspace replaces ' ' by '▁' ("hello▁world"), prepends '▁' (scheme always) and splits
// before each '▁' (MergedWithNext): ["▁hello", "▁world"]. Viterbi: "▁hello" (-1) beats "▁he"+"llo" (-6)
// and single chars; "▁world" (-1.5) beats "▁"+"wor"+"ld" (-6). The prepended '▁' inherits the
// alignment of 'h' (0,1), the replacing '▁' that of the space (5,6): offsets (0,5) and (5,11).
TEST(TokenizerUnigram, MetaspaceViterbi) {
  auto tok = Tokenizer::from_json(kUnigram);
  auto e = tok.encode("hello world");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{2, 5}));
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"\xE2\x96\x81hello", "\xE2\x96\x81world"}));
  EXPECT_EQ(e.offsets, (Offs{{0, 5}, {5, 11}}));
  // Metaspace decoder: the first token loses its '▁', later ones turn it into a space.
  EXPECT_EQ(tok.decode(e.ids), "hello world");
}

// A piece listed twice: as in Hugging Face tokenizers (its id map and its lattice are filled in vocabulary
// order), the later entry wins, id and score alike. "▁hello" is listed again at -20, so "▁he" + "llo" (-6)
// now beats it, and "▁world" keeps id 5 and its -1.5 (its duplicate scores 0 but comes first).
TEST(TokenizerUnigram, DuplicatedPieceTakesTheLastEntry) {
  std::string json = kUnigram;
  const std::string head = R"("vocab": [)";
  json.replace(json.find(head), head.size(), head + R"(["▁world", 0.0], )");
  const std::string tail = R"(["▁w", -3.0]])";
  json.replace(json.find(tail), tail.size(), R"(["▁w", -3.0], ["▁hello", -20.0]])");
  auto tok = Tokenizer::from_json(json);
  auto e = tok.encode("hello world");
  // ids shift by one (the duplicate "▁world" is entry 0): "▁he" 4, "llo" 5, "▁world" 6, "▁hello" 14.
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"\xE2\x96\x81he", "llo", "\xE2\x96\x81world"}));
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{4, 5, 6}));
  EXPECT_EQ(tok.token_to_id("\xE2\x96\x81hello"), std::optional<uint32_t>(14));
}

// "hi": "▁" (-2) + "h" (-4), then 'i' has no piece: unk scored min_score - 10 = -14. The unknown
// token keeps its surface string as value. "hxy": 'x' and 'y' are both unknown and fused into one
// unk "xy" (Unigram always fuses unknowns). Bytes: '▁' is 3 bytes and aligned to 'h' (0,1).
TEST(TokenizerUnigram, UnknownsAreFused) {
  auto tok = Tokenizer::from_json(kUnigram);
  auto e = tok.encode("hi");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{1, 8, 0}));
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"\xE2\x96\x81", "h", "i"}));
  EXPECT_EQ(e.offsets, (Offs{{0, 1}, {0, 1}, {1, 2}}));
  e = tok.encode("hxy");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{1, 8, 0}));
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"\xE2\x96\x81", "h", "xy"}));
  EXPECT_EQ(e.offsets, (Offs{{0, 1}, {0, 1}, {1, 3}}));
}

// ---- BPE with byte fallback ------------------------------------------------------------------------

std::string bpe_json(bool byte_fallback, bool fuse_unk, const char* merges) {
  return std::string(R"({"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": null,
    "post_processor": null,
    "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]},
    "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
      "end_of_word_suffix": null, "fuse_unk": )") +
         (fuse_unk ? "true" : "false") + R"(, "byte_fallback": )" + (byte_fallback ? "true" : "false") +
         R"(, "vocab": {"a": 0, "b": 1, "ab": 2, "<0xC3>": 3, "<0xA9>": 4, "<unk>": 5, "c": 6, "abc": 7},
      "merges": )" + merges + "}}";
}

// "abcé": a, b, c are in the vocabulary; 'é' (C3 A9) is not, so byte fallback gives <0xC3> <0xA9>, one
// byte each. Merges: a+b (rank 0) -> ab, ab+c (rank 1) -> abc. The two byte tokens both map back to the
// whole 'é' (3,5): every byte of a character is aligned to the character.
TEST(TokenizerBpe, ByteFallback) {
  for (const char* merges : {R"([["a", "b"], ["ab", "c"]])", R"(["a b", "ab c"])"}) {
    auto tok = Tokenizer::from_json(bpe_json(true, false, merges));
    auto e = tok.encode("abc\xC3\xA9");
    EXPECT_EQ(e.ids, (std::vector<uint32_t>{7, 3, 4}));
    EXPECT_EQ(e.tokens, (std::vector<std::string>{"abc", "<0xC3>", "<0xA9>"}));
    EXPECT_EQ(e.offsets, (Offs{{0, 3}, {3, 5}, {3, 5}}));
    EXPECT_EQ(tok.decode(e.ids), "abc\xC3\xA9");
    // a lone continuation byte is not UTF-8: ByteFallback yields one U+FFFD per byte
    EXPECT_EQ(tok.decode({3}), "\xEF\xBF\xBD");
    // 'z' has neither a token nor a <0x7A> byte token: unknown
    e = tok.encode("abz");
    EXPECT_EQ(e.ids, (std::vector<uint32_t>{2, 5}));
    EXPECT_EQ(e.offsets, (Offs{{0, 2}, {2, 3}}));
  }
}

// Without byte fallback, with fuse_unk: "zzab" -> one <unk> over "zz" (0,2), then "ab" (2,4).
// Without fuse_unk: two <unk>.
TEST(TokenizerBpe, FuseUnk) {
  auto fused = Tokenizer::from_json(bpe_json(false, true, R"(["a b"])"));
  auto e = fused.encode("zzab");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{5, 2}));
  EXPECT_EQ(e.offsets, (Offs{{0, 2}, {2, 4}}));
  auto plain = Tokenizer::from_json(bpe_json(false, false, R"(["a b"])"));
  e = plain.encode("zzab");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{5, 5, 2}));
}

// ---- Split behaviours --------------------------------------------------------------------------------

std::string split_json(const std::string& pattern, const std::string& behavior, bool invert) {
  return R"({"version": "1.0", "added_tokens": [], "normalizer": null,
    "pre_tokenizer": {"type": "Split", "pattern": )" + pattern + R"(, "behavior": ")" + behavior +
         R"(", "invert": )" + (invert ? "true" : "false") + R"(},
    "post_processor": null, "decoder": null,
    "model": {"type": "WordLevel", "unk_token": "[UNK]", "vocab": {"[UNK]": 0}}})";
}

std::vector<std::string> split_tokens(const std::string& pattern, const std::string& behavior, bool invert,
                                      const std::string& text) {
  auto tok = Tokenizer::from_json(split_json(pattern, behavior, invert));
  // WordLevel maps every piece to [UNK]; the offsets tell us the pieces.
  auto e = tok.encode(text);
  std::vector<std::string> out;
  for (auto [s, t] : e.offsets) out.push_back(text.substr(s, t - s));
  return out;
}

// "a-b--c" split on "-": pieces a | - | b | - | - | c (matches marked).
//   Removed:            a, b, c
//   Isolated:           a, -, b, -, -, c
//   MergedWithPrevious: a match joins the piece before it unless that was a match: a-, b-, -, c
//   MergedWithNext:     mirror image: a, -b, -, -c
//   Contiguous:         consecutive pieces of the same kind join: a, -, b, --, c
//   invert + Removed:   the non-dashes are now the matches and go: -, -, -
TEST(TokenizerSplit, Behaviors) {
  const std::string dash = R"({"String": "-"})";
  using V = std::vector<std::string>;
  EXPECT_EQ(split_tokens(dash, "Removed", false, "a-b--c"), (V{"a", "b", "c"}));
  EXPECT_EQ(split_tokens(dash, "Isolated", false, "a-b--c"), (V{"a", "-", "b", "-", "-", "c"}));
  EXPECT_EQ(split_tokens(dash, "MergedWithPrevious", false, "a-b--c"), (V{"a-", "b-", "-", "c"}));
  EXPECT_EQ(split_tokens(dash, "MergedWithNext", false, "a-b--c"), (V{"a", "-b", "-", "-c"}));
  EXPECT_EQ(split_tokens(dash, "Contiguous", false, "a-b--c"), (V{"a", "-", "b", "--", "c"}));
  EXPECT_EQ(split_tokens(dash, "Removed", true, "a-b--c"), (V{"-", "-", "-"}));
}

// Regex patterns (Oniguruma): \s+ removed leaves the words; \d+ isolated interleaves digit runs.
TEST(TokenizerSplit, Regex) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split_tokens(R"({"Regex": "\\s+"})", "Removed", false, "hi  there\tyou"), (V{"hi", "there", "you"}));
  EXPECT_EQ(split_tokens(R"({"Regex": "\\d+"})", "Isolated", false, "ab12cd3"), (V{"ab", "12", "cd", "3"}));
  // GPT-4 style contraction group with case-insensitive flag
  EXPECT_EQ(split_tokens(R"({"Regex": "(?i:'s|'t)|\\p{L}+"})", "Isolated", false, "IT'S"), (V{"IT", "'S"}));
  EXPECT_THROW(Tokenizer::from_json(split_json(R"({"Regex": "(unclosed"})", "Isolated", false)), graft::Error);
}

// ---- TemplateProcessing ------------------------------------------------------------------------------

std::string template_json(const std::string& single, const std::string& pair, const char* extra = "") {
  return R"({"version": "1.0", "added_tokens": [
      {"id": 1, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
      {"id": 2, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
    "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"},
    "post_processor": {"type": "TemplateProcessing", "single": )" + single + R"(, "pair": )" + pair + R"(,
      "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [1], "tokens": ["[CLS]"]},
                         "[SEP]": {"id": "[SEP]", "ids": [2], "tokens": ["[SEP]"]},
                         "[X]": {"id": "[X]", "ids": [3, 4], "tokens": ["[X1]", "[X2]"]}}},
    "decoder": null, )" + extra + R"(
    "model": {"type": "WordLevel", "unk_token": "[UNK]", "vocab": {"[PAD]": 0, "[UNK]": 5,
      "a": 10, "b": 11, "c": 12, "d": 13, "e": 14, "f": 15, "g": 16, "h": 17}}})";
}

const char* kBertSingle = R"([{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                              {"SpecialToken": {"id": "[SEP]", "type_id": 0}}])";
const char* kBertPair = R"([{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                            {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                            {"SpecialToken": {"id": "[SEP]", "type_id": 1}}])";

// Pair "a b" + "c" with [CLS] $A [SEP] $B:1 [SEP]:1: ids CLS a b SEP c SEP; type ids 0 0 0 0 1 1;
// special tokens get offsets (0,0) and mask 1; each sequence keeps offsets into its own text.
TEST(TokenizerTemplate, Pair) {
  auto tok = Tokenizer::from_json(template_json(kBertSingle, kBertPair));
  auto e = tok.encode("a b", "c");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{1, 10, 11, 2, 12, 2}));
  EXPECT_EQ(e.type_ids, (std::vector<uint32_t>{0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(e.special_tokens_mask, (std::vector<uint32_t>{1, 0, 0, 1, 0, 1}));
  EXPECT_EQ(e.offsets, (Offs{{0, 0}, {0, 1}, {2, 3}, {0, 0}, {0, 1}, {0, 0}}));
  EXPECT_EQ(e.sequence_ids, (std::vector<int64_t>{-1, 0, 0, -1, 1, -1}));
  EXPECT_EQ(e.word_ids, (std::vector<int64_t>{-1, 0, 1, -1, 0, -1}));
  // Without special tokens the template still assigns the type ids of its $A / $B pieces.
  e = tok.encode("a b", "c", false);
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{10, 11, 12}));
  EXPECT_EQ(e.type_ids, (std::vector<uint32_t>{0, 0, 1}));
  // decode skips special tokens by default; without a decoder tokens are joined by spaces
  EXPECT_EQ(tok.decode({1, 10, 11, 2, 12, 2}), "a b c");
  EXPECT_EQ(tok.decode({1, 10, 2}, false), "[CLS] a [SEP]");
}

// A special token with several ids expands to all of them; the string template form is accepted too.
TEST(TokenizerTemplate, MultiIdSpecialAndStringForm) {
  auto tok = Tokenizer::from_json(template_json(R"("$A [X]")", R"("$A:0 [X] $B:1")"));
  auto e = tok.encode("a");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{10, 3, 4}));
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"a", "[X1]", "[X2]"}));
  e = tok.encode("a", "b");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{10, 3, 4, 11}));
  EXPECT_EQ(e.type_ids, (std::vector<uint32_t>{0, 0, 0, 1}));
}

// ---- truncation and padding ----------------------------------------------------------------------------

std::vector<uint32_t> ids_of(const Encoding& e) { return e.ids; }

// "a b c d e f" (6 tokens), max_length 5 with [CLS] $A [SEP] (2 added) leaves 3 content tokens.
//   stride 0, right: a b c | overflow d e f      (windows start every 3)
//   stride 1, right: a b c | c d e | e f         (windows start every 2, the last one reaches the end)
//   stride 0, left:  d e f | overflow a b c
// Every window is post-processed like the main encoding.
TEST(TokenizerTruncation, SingleWithStride) {
  auto tok = Tokenizer::from_json(template_json(kBertSingle, kBertPair));
  TruncationParams t;
  t.max_length = 5;
  tok.set_truncation(t);
  auto e = tok.encode("a b c d e f");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{1, 10, 11, 12, 2}));
  ASSERT_EQ(e.overflowing.size(), 1u);
  EXPECT_EQ(e.overflowing[0].ids, (std::vector<uint32_t>{1, 13, 14, 15, 2}));
  EXPECT_EQ(e.overflowing[0].offsets, (Offs{{0, 0}, {6, 7}, {8, 9}, {10, 11}, {0, 0}}));

  t.stride = 1;
  tok.set_truncation(t);
  e = tok.encode("a b c d e f");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{1, 10, 11, 12, 2}));
  ASSERT_EQ(e.overflowing.size(), 2u);
  EXPECT_EQ(e.overflowing[0].ids, (std::vector<uint32_t>{1, 12, 13, 14, 2}));
  EXPECT_EQ(e.overflowing[1].ids, (std::vector<uint32_t>{1, 14, 15, 2}));

  t.stride = 0;
  t.direction = Direction::Left;
  tok.set_truncation(t);
  e = tok.encode("a b c d e f");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{1, 13, 14, 15, 2}));
  ASSERT_EQ(e.overflowing.size(), 1u);
  EXPECT_EQ(e.overflowing[0].ids, (std::vector<uint32_t>{1, 10, 11, 12, 2}));

  // stride must be smaller than the room left
  t.stride = 3;
  t.direction = Direction::Right;
  tok.set_truncation(t);
  EXPECT_THROW(tok.encode("a b c d e f"), graft::Error);
  // without special tokens the whole max_length is available
  t.stride = 0;
  tok.set_truncation(t);
  EXPECT_EQ(tok.encode("a b c d e f", false).ids, (std::vector<uint32_t>{10, 11, 12, 13, 14}));
}

// Pairs, the pair template adds 3 tokens.
//   LongestFirst, max 7 (4 left), A = 6 tokens, B = "g h" (2): shorter n1 = 2, n2 = max(2, 4 - 2) = 2,
//     so A keeps 2 and B keeps 2.
//   LongestFirst, max 7, A = 6, B = 5: n1 = 5 > 4 so n2 = 5; 10 > 4 so both get 4/2 = 2.
//   OnlySecond, max 10 (7 left), A = 6, B = 2: 1 token too many, taken from B.
//   OnlySecond, max 5 (2 left): 6 must go but B has only 2: error.
TEST(TokenizerTruncation, Pairs) {
  auto tok = Tokenizer::from_json(template_json(kBertSingle, kBertPair));
  TruncationParams t;
  t.max_length = 7;
  tok.set_truncation(t);
  EXPECT_EQ(tok.encode("a b c d e f", "g h").ids, (std::vector<uint32_t>{1, 10, 11, 2, 16, 17, 2}));
  EXPECT_EQ(tok.encode("a b c d e f", "g h a b c").ids, (std::vector<uint32_t>{1, 10, 11, 2, 16, 17, 2}));
  t.max_length = 10;
  t.strategy = TruncationStrategy::OnlySecond;
  tok.set_truncation(t);
  EXPECT_EQ(tok.encode("a b c d e f", "g h").ids, (std::vector<uint32_t>{1, 10, 11, 12, 13, 14, 15, 2, 16, 2}));
  t.max_length = 5;
  tok.set_truncation(t);
  EXPECT_THROW(tok.encode("a b c d e f", "g h"), graft::Error);
  t.strategy = TruncationStrategy::OnlyFirst;
  t.max_length = 8;  // 5 left: A loses 3
  tok.set_truncation(t);
  EXPECT_EQ(tok.encode("a b c d e f", "g h").ids, (std::vector<uint32_t>{1, 10, 11, 12, 2, 16, 17, 2}));
}

// Batch-longest padding to a multiple of 4, on the left: lengths 3 and 5 -> longest 5 -> 8.
// Padding tokens: pad id/type/token, attention 0, special mask 1, offsets (0,0), no word.
TEST(TokenizerPadding, BatchLongestMultipleLeft) {
  auto tok = Tokenizer::from_json(template_json(kBertSingle, kBertPair));
  PaddingParams p;
  p.pad_to_multiple_of = 4;
  p.direction = Direction::Left;
  p.pad_token = "[PAD]";
  tok.set_padding(p);
  tok.set_num_threads(2);
  auto batch = tok.encode_batch(std::vector<std::string>{"a", "a b c"});
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].ids, (std::vector<uint32_t>{0, 0, 0, 0, 0, 1, 10, 2}));
  EXPECT_EQ(batch[0].attention_mask, (std::vector<uint32_t>{0, 0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(batch[0].special_tokens_mask, (std::vector<uint32_t>{1, 1, 1, 1, 1, 1, 0, 1}));
  EXPECT_EQ(batch[0].tokens[0], "[PAD]");
  EXPECT_EQ(batch[0].word_ids, (std::vector<int64_t>{-1, -1, -1, -1, -1, -1, 0, -1}));
  EXPECT_EQ(batch[1].ids, (std::vector<uint32_t>{0, 0, 0, 1, 10, 11, 12, 2}));
  // a single encode pads to its own length rounded up to the multiple
  EXPECT_EQ(tok.encode("a").ids.size(), 4u);
}

// Fixed padding on the right, configured in the file (pad id 0, type id 7).
TEST(TokenizerPadding, FixedFromFile) {
  auto tok = Tokenizer::from_json(template_json(kBertSingle, kBertPair, R"(
    "padding": {"strategy": {"Fixed": 6}, "direction": "Right", "pad_to_multiple_of": null, "pad_id": 0,
                "pad_type_id": 7, "pad_token": "[PAD]"},
    "truncation": {"direction": "Right", "max_length": 6, "strategy": "LongestFirst", "stride": 0},)"));
  auto e = tok.encode("a b");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{1, 10, 11, 2, 0, 0}));
  EXPECT_EQ(e.type_ids, (std::vector<uint32_t>{0, 0, 0, 0, 7, 7}));
  EXPECT_EQ(e.attention_mask, (std::vector<uint32_t>{1, 1, 1, 1, 0, 0}));
  e = tok.encode("a b c d e f g h");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{1, 10, 11, 12, 13, 2}));
  ASSERT_EQ(e.overflowing.size(), 1u);
  EXPECT_EQ(e.overflowing[0].ids, (std::vector<uint32_t>{1, 14, 15, 16, 17, 2}));
  tok.set_padding(std::nullopt);
  tok.set_truncation(std::nullopt);
  EXPECT_EQ(tok.encode("a b c d e f g h").ids.size(), 10u);
}

// ---- added tokens ----------------------------------------------------------------------------------------

// "x [MASK] HELLO concat cat", lower-casing normalizer, WhitespaceSplit:
//  1. non-normalized "[MASK]" (lstrip) is found on the raw text at 2..8 and takes the space before it:
//     " [MASK]" (1,8).
//  2. the rest is normalized (" hello concat cat") and searched for normalized tokens: "Hello" was
//     normalized to "hello" and matches; "cat" is single_word, so the "cat" inside "concat" is skipped
//     and the final one taken.
//  3. WhitespaceSplit handles what is left: "x", "concat".
TEST(TokenizerAddedTokens, StripSingleWordNormalized) {
  auto tok = Tokenizer::from_json(R"({"version": "1.0", "added_tokens": [
      {"id": 10, "content": "[MASK]", "single_word": false, "lstrip": true, "rstrip": false, "normalized": false, "special": true},
      {"id": 11, "content": "Hello", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false},
      {"id": 12, "content": "cat", "single_word": true, "lstrip": false, "rstrip": false, "normalized": true, "special": false}],
    "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "WhitespaceSplit"},
    "post_processor": null, "decoder": null,
    "model": {"type": "WordLevel", "unk_token": "[UNK]", "vocab": {"x": 0, "concat": 1, "[UNK]": 2}}})");
  const std::string text = "x [MASK] HELLO concat cat";
  auto e = tok.encode(text);
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{0, 10, 11, 1, 12}));
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"x", " [MASK]", "hello", "concat", "cat"}));
  EXPECT_EQ(e.offsets, (Offs{{0, 1}, {1, 8}, {9, 14}, {15, 21}, {22, 25}}));
  EXPECT_EQ(tok.token_to_id("[MASK]"), 10u);
  EXPECT_EQ(tok.id_to_token(11), "Hello");
  EXPECT_EQ(tok.vocab_size(), 6u);
  EXPECT_EQ(tok.decode({0, 10, 1}), "x concat");          // special [MASK] skipped
  EXPECT_EQ(tok.decode({0, 10, 1}, false), "x [MASK] concat");
}

// ---- normalizers ----------------------------------------------------------------------------------------

std::string normalizer_json(const std::string& normalizer) {
  return R"({"version": "1.0", "added_tokens": [], "normalizer": )" + normalizer + R"(,
    "pre_tokenizer": null, "post_processor": null, "decoder": null,
    "model": {"type": "WordLevel", "unk_token": "[UNK]", "vocab": {"[UNK]": 0}}})";
}

// The normalized text is visible as the [UNK] pre-token's span; we check offsets of the single token.
Offs single_span(const std::string& normalizer, const std::string& text) {
  return Tokenizer::from_json(normalizer_json(normalizer)).encode(text).offsets;
}

// Strip removes leading/trailing whitespace: the token covers the inner text only.
// NFKC/Replace/Prepend keep the token spanning the whole (non-empty) input.
TEST(TokenizerNormalizers, OffsetsThroughNormalization) {
  EXPECT_EQ(single_span(R"({"type": "Strip", "strip_left": true, "strip_right": true})", "  ab  "), (Offs{{2, 4}}));
  EXPECT_EQ(single_span(R"({"type": "NFKC"})", "\xEF\xAC\x81x"), (Offs{{0, 4}}));  // "ﬁx"
  EXPECT_EQ(single_span(R"({"type": "Prepend", "prepend": "_"})", "ab"), (Offs{{0, 2}}));
  EXPECT_EQ(single_span(R"({"type": "Replace", "pattern": {"Regex": "b+"}, "content": "X"})", "abbb"), (Offs{{0, 4}}));
}

// A hand-built SentencePiece charsmap: a darts-clone double array with the single key "A" -> "a".
//   unit[0]  = root, offset 1 (1 << 10)                  -> children at 1 ^ byte
//   unit[64] = 1 ^ 'A': label 'A', has_leaf (1 << 8), offset 1 -> leaf at 64 ^ 1 = 65
//   unit[65] = leaf (bit 31) with value 0 = offset of "a\0" in the string pool
// blob = u32 LE trie size in bytes (66 * 4) + units + "a\0", base64-encoded.
std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

TEST(TokenizerNormalizers, PrecompiledCharsmap) {
  std::vector<uint32_t> units(66, 0);
  units[0] = 1u << 10;
  units[64] = (1u << 10) | (1u << 8) | 'A';
  units[65] = (1u << 31) | 0;
  std::string blob;
  auto put = [&](uint32_t v) {
    for (int k = 0; k < 4; ++k) blob.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
  };
  put(66 * 4);
  for (uint32_t u : units) put(u);
  blob += std::string("a\0", 2);
  auto tok = Tokenizer::from_json(R"({"version": "1.0", "added_tokens": [],
    "normalizer": {"type": "Precompiled", "precompiled_charsmap": ")" + base64(blob) + R"("},
    "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": null, "decoder": null,
    "model": {"type": "WordLevel", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "aba": 1, "a": 2}}})");
  // "AbA" -> "aba"; "A" -> "a"; "b" untouched (unknown)
  auto e = tok.encode("AbA A b");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{1, 2, 0}));
  EXPECT_EQ(e.offsets, (Offs{{0, 3}, {4, 5}, {6, 7}}));
}

// BertNormalizer pieces: clean_text drops controls and maps whitespace to ' ', Chinese characters are
// padded with spaces, accents stripped when lowercasing (strip_accents null), İ lowercases to i + U+0307
// whose mark is then... not stripped (lowercase runs after strip_accents).
TEST(TokenizerNormalizers, BertNormalizerAndPreTokenizer) {
  auto tok = Tokenizer::from_json(R"({"version": "1.0", "added_tokens": [],
    "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                   "strip_accents": null, "lowercase": true},
    "pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": null, "decoder": null,
    "model": {"type": "WordLevel", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "cafe": 1, "中": 2, "文": 3, ",": 4}}})");
  auto e = tok.encode("Caf\xC3\xA9\x01\xE4\xB8\xAD\xE6\x96\x87,");
  EXPECT_EQ(e.ids, (std::vector<uint32_t>{1, 2, 3, 4}));
  EXPECT_EQ(e.offsets, (Offs{{0, 5}, {6, 9}, {9, 12}, {12, 13}}));
}

// Whitespace (\w+|[^\w\s]+), Digits and Punctuation pre-tokenizers in a Sequence.
TEST(TokenizerPreTokenizers, WhitespaceDigitsPunctuation) {
  auto tok = Tokenizer::from_json(R"({"version": "1.0", "added_tokens": [], "normalizer": null,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Whitespace"},
        {"type": "Digits", "individual_digits": true}, {"type": "Punctuation", "behavior": "Isolated"}]},
    "post_processor": null, "decoder": null,
    "model": {"type": "WordLevel", "unk_token": "[UNK]", "vocab": {"[UNK]": 0}}})");
  const std::string text = "ab12 ?!x_y";
  auto e = tok.encode(text);
  std::vector<std::string> pieces;
  for (auto [s, t] : e.offsets) pieces.push_back(text.substr(s, t - s));
  // '_' is punctuation (ASCII punctuation, and Pc): Punctuation isolates it from the \w+ run "x_y"
  EXPECT_EQ(pieces, (std::vector<std::string>{"ab", "1", "2", "?", "!", "x", "_", "y"}));
}

}  // namespace
