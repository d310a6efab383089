// graft tokenize: one text (or pair) per stdin line in, one JSON encoding per line out. The pipeline is
// graft::app::tokenize_lines; this file is its command line.
#include "commands.h"
#include "graft/app/tokenize_lines.h"

namespace graft::cli {

CLI::App* add_tokenize_command(CLI::App& app, TokenizeArgs& a) {
  auto* c = app.add_subcommand("tokenize", "encode stdin lines with a tokenizer.json; one JSON object per line");
  c->add_option("--tokenizer", a.tokenizer, "the tokenizer.json file")->required();
  c->add_flag("--pair", a.pair, "each line is two texts separated by a TAB (with --jsonl: an array of two strings)");
  c->add_flag("--jsonl", a.jsonl, "each line is a JSON string, or a JSON array of two strings for a pair");
  c->add_flag("--no-special", a.no_special, "do not add the post-processor's special tokens");
  c->add_flag("--byte-offsets", a.byte_offsets, "UTF-8 byte offsets instead of character offsets");
  return c;
}

int run_tokenize(const TokenizeArgs& a, std::istream& in, std::ostream& out) {
  text::Tokenizer tok = text::Tokenizer::from_file(a.tokenizer);
  app::TokenizeLinesOptions o;
  o.pair = a.pair;
  o.jsonl = a.jsonl;
  o.add_special_tokens = !a.no_special;
  o.offsets = a.byte_offsets ? app::OffsetUnit::Bytes : app::OffsetUnit::Chars;
  return app::tokenize_lines(tok, o, in, out, std::cerr);
}

}  // namespace graft::cli
