// graft embed: texts in, sentence embeddings out (JSON or .npy), from a local Hub-like folder or the Hub.
// The pipeline is graft::app::SentenceEmbedder; this file is its command line.
#include <fstream>
#include <iostream>

#include "commands.h"
#include "graft/app/sentence_embedder.h"
#include "graft/backend/backend.h"

namespace graft::cli {

namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    GRAFT_CHECK(file.good(), "--input: cannot read ", path);
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

}  // namespace

CLI::App* add_embed_command(CLI::App& app, EmbedArgs& a) {
  auto* c = app.add_subcommand("embed", "sentence embeddings of texts with an ONNX model from a folder or the Hub");
  c->add_option("--model", a.model, "Hub repo id (org/name) or a local folder laid out like one")->required();
  c->add_option("--revision", a.revision, "branch, tag or commit of the Hub repo (default main)");
  c->add_flag("--normalize", a.normalize, "L2-normalize each vector (also done when modules.json has Normalize)");
  c->add_option("--batch", a.batch, "texts per model run (default 32)")->check(CLI::PositiveNumber);
  c->add_option("--format", a.format, "json (default) or npy")->check(CLI::IsMember({"json", "npy"}));
  c->add_option("--output", a.output, "write to FILE instead of stdout (required for npy)");
  c->add_option("--input", a.input, "read texts from FILE, one per line ('-': stdin)");
  c->add_option("--pooling", a.pooling, "override the pooling: mean, cls, max, mean_sqrt_len, lasttoken");
  c->add_option("--max-length", a.max_length, "truncate texts to N tokens (default: as tokenizer.json says)");
  c->add_option("--threads", a.threads, "threads (0: all cores)");
  c->add_option("TEXT", a.texts, "texts to embed");
  return c;
}

int run_embed(const EmbedArgs& a) {
  GRAFT_CHECK(a.format == "json" || a.format == "npy", "--format must be json or npy, got '", a.format, "'");
  GRAFT_CHECK(a.format != "npy" || !a.output.empty(), "--format npy needs --output FILE");
  GRAFT_CHECK(a.texts.empty() || a.input.empty(), "give texts as arguments or with --input, not both");
  GRAFT_CHECK(!a.texts.empty() || !a.input.empty(), "no texts: give TEXT arguments or --input FILE ('-' for stdin)");
  if (a.threads > 0) set_num_threads(a.threads);

  std::vector<std::string> texts = a.texts.empty() ? read_lines(a.input) : a.texts;
  app::SentenceEmbedderOptions opt;
  opt.revision = a.revision;
  if (!a.pooling.empty()) opt.pooling = app::parse_pooling(a.pooling);
  opt.normalize = a.normalize;
  opt.batch_size = a.batch;
  if (a.max_length > 0) opt.max_length = a.max_length;
  Tensor emb = app::SentenceEmbedder::load(a.model, opt).embed(texts);

  if (a.format == "npy") {
    write_npy(a.output, emb);
  } else if (a.output.empty() || a.output == "-") {
    std::cout << app::embeddings_to_json(emb);
    std::cout.flush();
  } else {
    std::ofstream f(a.output, std::ios::binary);
    GRAFT_CHECK(f.good(), "--output: cannot write ", a.output);
    f << app::embeddings_to_json(emb);
    GRAFT_CHECK(f.good(), "--output: writing ", a.output, " failed");
  }
  return 0;
}

}  // namespace graft::cli
