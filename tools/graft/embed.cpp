// graft embed: texts in, sentence embeddings out (JSON or .npy), from a local Hub-like folder or the Hub.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "graft/backend/backend.h"
#include "graft/hub/hub.h"
#include "graft/onnx/embedder.h"
#include "graft/text/tokenizer.h"

namespace graft::cli {

namespace {

namespace fs = std::filesystem;

// True when `s` can only be meant as a path (so a missing folder is reported as such, not looked up on the
// Hub): absolute, explicitly relative, or with more than one '/'.
bool looks_like_path(const std::string& s) {
  if (s.empty()) return true;
  if (s[0] == '/' || s[0] == '.' || s[0] == '~') return true;
  return std::count(s.begin(), s.end(), '/') > 1 || s.find('\\') != std::string::npos;
}

onnx::EmbeddingModel resolve_model(const EmbedArgs& a) {
  std::error_code ec;
  if (fs::exists(a.model, ec)) {
    GRAFT_CHECK(fs::is_directory(a.model, ec), "--model ", a.model,
                " is a file; give the folder that holds it (laid out like the Hub repo: onnx/model.onnx or "
                "model.onnx, tokenizer.json, 1_Pooling/config.json)");
    return onnx::load_embedding_model(fs::path(a.model));
  }
  GRAFT_CHECK(!looks_like_path(a.model), "model folder ", a.model, " does not exist");
  hub::Repo repo(a.model);
  repo.revision(a.revision);
  std::string what = "Hub repo " + a.model + "@" + a.revision;
  if (repo.options().offline) what += " (offline: HF_HUB_OFFLINE is set, so only cached files are used)";
  auto fetch = [&](const std::string& rel) -> std::optional<fs::path> {
    try {
      return repo.download(rel);
    } catch (const hub::HubError& e) {
      if (e.kind() == hub::HubError::Kind::NotFound || e.kind() == hub::HubError::Kind::OfflineMiss)
        return std::nullopt;
      throw;
    }
  };
  try {
    return onnx::load_embedding_model(fetch, what);
  } catch (const hub::HubError& e) {
    fail("'", a.model, "' is not a local folder, and fetching it from the Hub failed: ", e.what());
  }
}

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

void append_float(std::string& out, float v) {
  if (!std::isfinite(v)) {
    out += "null";  // JSON has no NaN/Inf
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back as the same float
  out.append(buf, r.ptr);
}

std::string to_json(const Tensor& emb) {
  const int64_t n = emb.shape()[0], h = emb.shape()[1];
  auto v = emb.to_vector<float>();
  std::string s = "[";
  for (int64_t i = 0; i < n; ++i) {
    s += i ? ",\n[" : "\n[";
    for (int64_t k = 0; k < h; ++k) {
      if (k) s += ',';
      append_float(s, v[size_t(i * h + k)]);
    }
    s += ']';
  }
  s += n ? "\n]\n" : "]\n";
  return s;
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
  onnx::EmbeddingModel src = resolve_model(a);
  text::Tokenizer tok = text::Tokenizer::from_file(src.tokenizer_path.string());

  // Truncation as tokenizer.json says (else sentence_bert_config.json's max_seq_length, else none);
  // padding is done per batch by the embedder, to the batch's longest text.
  if (a.max_length > 0) {
    text::TruncationParams t = tok.truncation().value_or(text::TruncationParams{});
    t.max_length = a.max_length;
    tok.set_truncation(t);
  } else if (!tok.truncation() && src.max_seq_length) {
    text::TruncationParams t;
    t.max_length = *src.max_seq_length;
    tok.set_truncation(t);
  }
  onnx::EmbedderOptions opt;
  opt.pooling = a.pooling.empty() ? src.pooling.mode : onnx::parse_pooling(a.pooling);
  opt.normalize = a.normalize || src.normalize;
  opt.batch_size = a.batch;
  if (const auto& pad = tok.padding()) {
    opt.pad_id = pad->pad_id;
    opt.pad_type_id = pad->pad_type_id;
    opt.pad_left = pad->direction == text::Direction::Left;
  } else {
    for (const char* name : {"[PAD]", "<pad>"})
      if (auto id = tok.token_to_id(name)) {
        opt.pad_id = *id;
        break;
      }
  }
  tok.set_padding(std::nullopt);

  std::vector<text::Encoding> enc;
  try {
    enc = tok.encode_batch(texts);
  } catch (const Error& e) {
    // encode_batch does not say which text failed; find it for the message.
    for (size_t i = 0; i < texts.size(); ++i) {
      try {
        tok.encode(texts[i]);
      } catch (const Error& e2) {
        fail("text ", i + 1, ": ", e2.what());
      }
    }
    throw;
  }
  std::vector<onnx::TokenizedText> tokenized(enc.size());
  for (size_t i = 0; i < enc.size(); ++i) {
    tokenized[i].ids.assign(enc[i].ids.begin(), enc[i].ids.end());
    tokenized[i].type_ids.assign(enc[i].type_ids.begin(), enc[i].type_ids.end());
    tokenized[i].attention_mask.assign(enc[i].attention_mask.begin(), enc[i].attention_mask.end());
  }
  onnx::Embedder embedder(src.model, opt);
  embedder.set_dimension_hint(src.pooling.dimension);
  Tensor emb = embedder.embed(tokenized);

  if (a.format == "npy") {
    write_npy(a.output, emb);
  } else if (a.output.empty() || a.output == "-") {
    std::cout << to_json(emb);
    std::cout.flush();
  } else {
    std::ofstream f(a.output, std::ios::binary);
    GRAFT_CHECK(f.good(), "--output: cannot write ", a.output);
    f << to_json(emb);
    GRAFT_CHECK(f.good(), "--output: writing ", a.output, " failed");
  }
  return 0;
}

}  // namespace graft::cli
