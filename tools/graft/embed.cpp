// graft embed: texts in, sentence embeddings out (JSON or .npy), from a local Hub-like folder or the Hub.
// The pipeline is graft::app::SentenceEmbedder; this file is its command line.
#include <iostream>

#include "commands.h"
#include "common.h"
#include "graft/app/sentence_embedder.h"

namespace graft::cli {

CLI::App* add_embed_command(CLI::App& app, EmbedArgs& a) {
  auto* c = app.add_subcommand("embed", "sentence embeddings of texts with an ONNX model from a folder or the Hub");
  c->add_option("--model", a.model, "Hub repo id (org/name) or a local folder laid out like one")->type_name("ID_OR_DIR")->required();
  c->add_option("--revision", a.revision, "branch, tag or commit of the Hub repo (default main)")->type_name("REV");
  c->add_option("TEXT", a.texts, "texts to embed")->type_name("TEXT");
  c->add_option("--text-file", a.text_file, "read texts from FILE, one per line ('-': stdin)")->type_name("FILE");
  add_format_option(c, a.format, {"json", "npy"});
  c->add_option("--output", a.output, "write to FILE instead of stdout (required for npy)")->type_name("FILE");
  c->add_flag("--normalize", a.normalize, "L2-normalize each vector (also done when modules.json has Normalize)");
  c->add_option("--pooling", a.pooling, "override the pooling: mean, cls, max, mean_sqrt_len, lasttoken")->type_name("MODE")
      ->check(CLI::IsMember({"mean", "cls", "max", "mean_sqrt_len", "lasttoken"}));
  c->add_option("--max-length", a.max_length,
                "truncate texts to N tokens (default: sentence_bert_config.json's max_seq_length, else the most "
                "the model takes)")->type_name("N");
  c->add_option("--batch", a.batch, "texts per model run (default 32)")->type_name("N");
  add_compute_options(c, a.threads, a.device, a.precision, a.allow_symlinks);
  return c;
}

int run_embed(const EmbedArgs& a) {
  if (a.batch < 1) usage_error("--batch ", a.batch, ": must be at least 1");
  if (a.max_length != -1 && a.max_length < 1) usage_error("--max-length ", a.max_length, ": must be at least 1");
  if (a.format == "npy" && (a.output.empty() || a.output == "-")) usage_error("--format npy needs --output FILE");
  if (!a.texts.empty() && !a.text_file.empty()) usage_error("give texts as arguments or with --text-file, not both");
  if (a.texts.empty() && a.text_file.empty()) usage_error("no texts: give TEXT arguments or --text-file FILE ('-' for stdin)");
  check_output_file("--output", a.output);

  app::SentenceEmbedderOptions opt;
  opt.revision = a.revision;
  if (!a.pooling.empty()) opt.pooling = app::parse_pooling(a.pooling);
  opt.normalize = a.normalize;
  opt.batch_size = size_t(a.batch);
  if (a.max_length != -1) opt.max_length = size_t(a.max_length);
  opt.session = session_options(a.threads, a.device, a.precision);
  opt.load.allow_external_symlinks = a.allow_symlinks;
  std::vector<std::string> texts = a.texts.empty() ? read_text_lines("--text-file", a.text_file) : a.texts;
  app::SentenceEmbedder embedder = [&] {
    try {
      return app::SentenceEmbedder::load(a.model, opt);
    } catch (const app::UsageError& e) {
      // The pipeline names its option ("max length ..."); say which flag that is.
      if (opt.max_length && std::string(e.what()).rfind("max length", 0) == 0) usage_error("--max-length: ", e.what());
      throw;
    }
  }();
  Tensor emb = embedder.embed(texts);

  if (a.format == "npy") {
    write_npy(a.output, emb);
  } else if (a.output.empty() || a.output == "-") {
    std::cout << app::embeddings_to_json(emb);
    std::cout.flush();
  } else {
    app::write_text_file(a.output, app::embeddings_to_json(emb));
  }
  return 0;
}

}  // namespace graft::cli
