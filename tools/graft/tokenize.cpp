// graft tokenize: one text (or pair) per input line in, one JSON encoding per line out. The pipeline is
// graft::app::tokenize_lines; this file is its command line.
#include <iostream>
#include <sstream>
#include <thread>

#include "commands.h"
#include "common.h"
#include "graft/app/sentence_embedder.h"
#include "graft/app/tokenize_lines.h"
#include "graft/app/tokenizer_source.h"

namespace graft::cli {

CLI::App* add_tokenize_command(CLI::App& app, TokenizeArgs& a) {
  auto* c = app.add_subcommand("tokenize", "encode texts with a tokenizer.json; one JSON object per text (line)");
  c->add_option("--tokenizer", a.tokenizer,
                "a tokenizer.json file, a folder holding one, or a Hub repo id (org/name)")->type_name("FILE|DIR|REPO_ID")->required();
  c->add_option("--revision", a.revision, "branch, tag or commit of the Hub repo (default main)")->type_name("REV");
  c->add_option("TEXT", a.texts, "texts to encode, one per argument (default: lines of stdin)")->type_name("TEXT");
  c->add_option("--text-file", a.text_file, "read texts from FILE, one per line ('-': stdin)")->type_name("FILE");
  c->add_option("--output", a.output, "write to FILE instead of stdout")->type_name("FILE");
  c->add_flag("--pair", a.pair, "each text is two texts separated by a TAB (with --jsonl: an array of two strings)");
  c->add_flag("--jsonl", a.jsonl, "each text is a JSON string, or a JSON array of two strings for a pair");
  c->add_flag("--no-special", a.no_special, "do not add the post-processor's special tokens");
  c->add_flag("--byte-offsets", a.byte_offsets, "UTF-8 byte offsets instead of character offsets");
  c->add_flag("--no-padding", a.no_padding, "do not pad, whatever the tokenizer file configures");
  c->add_flag("--no-truncation", a.no_truncation, "do not truncate, whatever the tokenizer file configures");
  c->add_option("--max-length", a.max_length, "truncate to N tokens (instead of the file's truncation)")->type_name("N");
  add_threads_option(c, a.threads);
  return c;
}

int run_tokenize(const TokenizeArgs& a, std::istream& in, std::ostream& out) {
  if (!a.texts.empty() && !a.text_file.empty()) usage_error("give texts as arguments or with --text-file, not both");
  if (a.max_length != -1 && a.max_length < 1) usage_error("--max-length ", a.max_length, ": must be at least 1");
  if (a.max_length != -1 && a.no_truncation) usage_error("--max-length and --no-truncation contradict each other");
  check_output_file("--output", a.output);
  app::TokenizeLinesOptions o;
  o.pair = a.pair;
  o.jsonl = a.jsonl;
  o.add_special_tokens = !a.no_special;
  o.offsets = a.byte_offsets ? app::OffsetUnit::Bytes : app::OffsetUnit::Chars;
  o.threads = size_t(checked_threads(a.threads));
  if (o.threads == 0) o.threads = std::max(1u, std::thread::hardware_concurrency());

  text::Tokenizer tok = app::load_tokenizer(a.tokenizer, a.revision);
  if (a.no_padding) tok.set_padding(std::nullopt);
  if (a.no_truncation) tok.set_truncation(std::nullopt);
  if (a.max_length != -1) {
    text::TruncationParams t = tok.truncation().value_or(text::TruncationParams{});
    t.max_length = size_t(a.max_length);
    tok.set_truncation(t);
  }

  // To a file: written whole, atomically, once every line is encoded.
  std::ostringstream buffered;
  std::ostream& dst = a.output.empty() || a.output == "-" ? out : buffered;
  int status;
  if (!a.texts.empty()) {
    status = app::tokenize_lines(tok, o, a.texts, dst, std::cerr);
  } else if (!a.text_file.empty() && a.text_file != "-") {
    status = app::tokenize_lines(tok, o, read_text_lines("--text-file", a.text_file), dst, std::cerr);
  } else {
    status = app::tokenize_lines(tok, o, in, dst, std::cerr);
  }
  if (&dst == &buffered) app::write_text_file(a.output, buffered.str());
  return status;
}

}  // namespace graft::cli
