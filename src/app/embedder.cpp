// Sentence embeddings: Hub-like model folders, pooling, batching by length (graft/app/embedder.h).
#include "graft/app/embedder.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <numeric>
#include <set>
#include <sstream>

namespace graft::app {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- pooling config -------------------------------------------------------------------------------------

const char* to_string(Pooling p) {
  switch (p) {
    case Pooling::Mean: return "mean";
    case Pooling::Cls: return "cls";
    case Pooling::Max: return "max";
    case Pooling::MeanSqrtLen: return "mean_sqrt_len";
    case Pooling::LastToken: return "lasttoken";
  }
  return "?";
}

Pooling parse_pooling(std::string_view name) {
  for (Pooling p : {Pooling::Mean, Pooling::Cls, Pooling::Max, Pooling::MeanSqrtLen, Pooling::LastToken})
    if (name == to_string(p)) return p;
  fail("unknown pooling '", name, "': expected mean, cls, max, mean_sqrt_len or lasttoken");
}

PoolingConfig parse_pooling_config(std::string_view text, const std::string& what) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(what, ": not valid JSON: ", e.what());
  }
  GRAFT_CHECK(j.is_object(), what, ": expected a JSON object");
  PoolingConfig cfg;
  if (auto it = j.find("word_embedding_dimension"); it != j.end() && it->is_number_integer())
    cfg.dimension = it->get<int64_t>();
  // The pooling_output key names the modes of sentence-transformers; only one at a time is supported.
  static const std::pair<const char*, Pooling> kModes[] = {
      {"pooling_mode_mean_tokens", Pooling::Mean},
      {"pooling_mode_cls_token", Pooling::Cls},
      {"pooling_mode_max_tokens", Pooling::Max},
      {"pooling_mode_mean_sqrt_len_tokens", Pooling::MeanSqrtLen},
      {"pooling_mode_lasttoken", Pooling::LastToken},
  };
  std::vector<std::string> on;
  for (const auto& [key, mode] : kModes) {
    auto it = j.find(key);
    if (it != j.end() && it->is_boolean() && it->get<bool>()) {
      on.push_back(key);
      cfg.mode = mode;
    }
  }
  if (auto it = j.find("pooling_mode_weightedmean_tokens"); it != j.end() && it->is_boolean() && it->get<bool>())
    fail(what, ": pooling_mode_weightedmean_tokens is not supported (mean, cls, max, mean_sqrt_len, lasttoken are)");
  if (on.size() > 1) {
    std::string list;
    for (const auto& k : on) list += (list.empty() ? "" : ", ") + k;
    fail(what, ": several pooling modes are enabled (", list,
         "); graft supports one (concatenated pooling outputs are not supported)");
  }
  return cfg;
}

// ---- model folder ---------------------------------------------------------------------------------------

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  GRAFT_CHECK(f.good(), "cannot read ", p.string());
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

json read_json(const fs::path& p) {
  try {
    return json::parse(read_text(p));
  } catch (const json::exception& e) {
    fail(p.string(), ": not valid JSON: ", e.what());
  }
}

// "onnx/model.onnx" -> "onnx/"; "model.onnx" -> "".
std::string repo_dir_of(const std::string& rel) {
  auto slash = rel.rfind('/');
  return slash == std::string::npos ? "" : rel.substr(0, slash + 1);
}

}  // namespace

namespace {

// The rows of the model's position-embedding table, if it has one by the usual name.
std::optional<std::pair<size_t, std::string>> position_table_rows(const Model& m) {
  for (const auto& name : m.initializer_names()) {
    if (name.find("position_embeddings") == std::string::npos) continue;
    Tensor t = m.initializer(name);
    if (t.rank() == 2) return std::make_pair(size_t(t.shape()[0]), name);
  }
  return std::nullopt;
}

std::optional<size_t> json_size(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number_unsigned()) return std::nullopt;
  return j[key].get<size_t>();
}

}  // namespace

EmbeddingModel load_embedding_model(const ModelSource& src, const onnx::LoadOptions& load) {
  const RepoFileFetcher& fetch = src.fetch;
  const std::string& what = src.what;
  // The encoder.
  std::optional<fs::path> model_path;
  std::string model_rel;
  for (const char* cand : {"onnx/model.onnx", "model.onnx"}) {
    model_path = fetch(cand);
    if (model_path) {
      model_rel = cand;
      break;
    }
  }
  GRAFT_CHECK(model_path, what, ": no ONNX model found (looked for onnx/model.onnx and model.onnx)",
              src.missing_reason("model.onnx"));
  auto tokenizer = fetch("tokenizer.json");
  GRAFT_CHECK(tokenizer, what, ": no tokenizer.json", src.missing_reason("tokenizer.json"));

  // modules.json (sentence-transformers): which folder holds the pooling config, and whether the
  // pipeline ends with a Normalize module.
  std::string pooling_dir = "1_Pooling";
  bool normalize = false;
  if (auto modules = fetch("modules.json")) {
    json j = read_json(*modules);
    GRAFT_CHECK(j.is_array(), modules->string(), ": expected a JSON array of modules");
    for (const auto& m : j) {
      if (!m.is_object()) continue;
      std::string type = m.value("type", "");
      std::string path = m.value("path", "");
      if (type.find("Pooling") != std::string::npos && !path.empty()) pooling_dir = path;
      if (type.find("Normalize") != std::string::npos) normalize = true;
    }
  }
  PoolingConfig pooling;
  auto pooling_path = fetch(pooling_dir + "/config.json");
  if (pooling_path) pooling = parse_pooling_config(read_text(*pooling_path), pooling_path->string());

  std::optional<size_t> max_seq;
  if (auto st = fetch("sentence_bert_config.json")) max_seq = json_size(read_json(*st), "max_seq_length");

  // Parse the model first (external data is mapped lazily), then fetch the side files it names.
  Model model = Model::load(*model_path, load);
  std::string dir = repo_dir_of(model_rel);
  for (const auto& file : model.external_data_files()) {
    const std::string& loc = file.location;
    fs::path lp(loc);
    if (lp.is_absolute() || loc.find("..") != std::string::npos) continue;  // Model refuses these itself
    std::string rel = dir + lp.generic_string();
    auto p = fetch(rel);
    GRAFT_CHECK(p, what, ": the model ", model_rel, " stores weights in '", loc, "', which is missing",
                src.missing_reason(rel));
  }

  EmbeddingModel out{std::move(model), *model_path, *tokenizer, pooling, pooling_path, normalize, max_seq, {}, {}};
  // How many tokens fit: the position table, capped by the tokenizer's model_max_length.
  if (auto cfg = fetch("config.json")) {
    if (auto n = json_size(read_json(*cfg), "max_position_embeddings")) {
      out.max_positions = *n;
      out.max_positions_source = "max_position_embeddings in config.json";
    }
  }
  if (!out.max_positions)
    if (auto rows = position_table_rows(out.model)) {
      out.max_positions = rows->first;
      out.max_positions_source = "rows of the position table " + rows->second;
    }
  if (auto tc = fetch("tokenizer_config.json"))
    if (auto n = json_size(read_json(*tc), "model_max_length"); n && (!out.max_positions || *n < *out.max_positions)) {
      out.max_positions = *n;
      out.max_positions_source = "model_max_length in tokenizer_config.json";
    }
  return out;
}

EmbeddingModel load_embedding_model(const RepoFileFetcher& fetch, const std::string& what) {
  ModelSource src;
  src.fetch = fetch;
  src.what = what;
  return load_embedding_model(src);
}

EmbeddingModel load_embedding_model(const fs::path& folder) { return load_embedding_model(folder_source(folder)); }

// ---- batching and pooling -------------------------------------------------------------------------------

std::vector<std::vector<size_t>> plan_batches(const std::vector<size_t>& lengths, size_t batch_size) {
  GRAFT_CHECK(batch_size >= 1, "batch size must be at least 1");
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
  std::vector<std::vector<size_t>> batches;
  for (size_t i = 0; i < order.size(); i += batch_size)
    batches.emplace_back(order.begin() + std::ptrdiff_t(i),
                         order.begin() + std::ptrdiff_t(std::min(order.size(), i + batch_size)));
  return batches;
}

Tensor pool_tokens(const Tensor& states, const Tensor& attention_mask, Pooling mode) {
  GRAFT_CHECK(states.rank() == 3, "pooling: token states must be [batch, tokens, hidden], got ", states.shape());
  const int64_t B = states.shape()[0], T = states.shape()[1], H = states.shape()[2];
  GRAFT_CHECK(attention_mask.rank() == 2 && attention_mask.shape()[0] == B && attention_mask.shape()[1] == T,
              "pooling: attention mask ", attention_mask.shape(), " does not match token states ", states.shape());
  std::vector<float> h = states.to_vector<float>();
  std::vector<double> mask = attention_mask.to_vector<double>();
  std::vector<float> out(size_t(B * H), 0.0f);
  std::vector<double> acc(static_cast<size_t>(H));
  for (int64_t b = 0; b < B; ++b) {
    const float* hb = h.data() + b * T * H;
    const double* mb = mask.data() + b * T;
    float* ob = out.data() + b * H;
    switch (mode) {
      case Pooling::Cls:
        if (T > 0) std::copy(hb, hb + H, ob);
        break;
      case Pooling::LastToken: {
        for (int64_t t = T - 1; t >= 0; --t)
          if (mb[t] != 0) {
            std::copy(hb + t * H, hb + (t + 1) * H, ob);
            break;
          }
        break;
      }
      case Pooling::Max: {
        bool any = false;
        for (int64_t t = 0; t < T; ++t) {
          if (mb[t] == 0) continue;
          const float* ht = hb + t * H;
          for (int64_t k = 0; k < H; ++k) ob[k] = any ? std::max(ob[k], ht[k]) : ht[k];
          any = true;
        }
        break;
      }
      case Pooling::Mean:
      case Pooling::MeanSqrtLen: {
        std::fill(acc.begin(), acc.end(), 0.0);
        double count = 0;
        for (int64_t t = 0; t < T; ++t) {
          if (mb[t] == 0) continue;
          count += mb[t];
          const float* ht = hb + t * H;
          for (int64_t k = 0; k < H; ++k) acc[size_t(k)] += double(ht[k]) * mb[t];
        }
        if (count <= 0) break;
        double div = mode == Pooling::Mean ? count : std::sqrt(count);
        for (int64_t k = 0; k < H; ++k) ob[k] = float(acc[size_t(k)] / div);
        break;
      }
    }
  }
  return Tensor::from_vector(out, Shape{B, H});
}

Tensor l2_normalize_rows(const Tensor& x) {
  GRAFT_CHECK(x.rank() == 2, "l2_normalize_rows: expected [N, H], got ", x.shape());
  const int64_t N = x.shape()[0], H = x.shape()[1];
  std::vector<float> v = x.to_vector<float>();
  for (int64_t i = 0; i < N; ++i) {
    float* r = v.data() + i * H;
    double ss = 0;
    for (int64_t k = 0; k < H; ++k) ss += double(r[k]) * double(r[k]);
    double n = std::max(std::sqrt(ss), 1e-12);
    for (int64_t k = 0; k < H; ++k) r[k] = float(double(r[k]) / n);
  }
  return Tensor::from_vector(v, Shape{N, H});
}

// ---- Embedder -------------------------------------------------------------------------------------------

Embedder::Embedder(Model model, EmbedderOptions options)
    : options_(std::move(options)), session_(model, options_.session) {
  GRAFT_CHECK(options_.batch_size >= 1, "batch size must be at least 1");
  const Model& m = session_.model();
  bool has_ids = false;
  std::vector<std::string> unknown;
  for (const auto& in : m.inputs()) {
    if (in.name == "input_ids") has_ids = true;
    else if (in.name == "attention_mask") has_mask_ = true;
    else if (in.name == "token_type_ids") has_types_ = true;
    else if (in.name == "position_ids") has_positions_ = true;
    else unknown.push_back(in.name);
  }
  GRAFT_CHECK(has_ids, m.source(), ": an embedding model needs an input named input_ids");
  if (!unknown.empty()) {
    std::string list;
    for (const auto& u : unknown) list += (list.empty() ? "'" : ", '") + u + "'";
    fail(m.source(), ": input(s) ", list,
         " cannot be fed from tokenized text (known: input_ids, attention_mask, token_type_ids, position_ids)");
  }
  const auto& outs = m.outputs();
  GRAFT_CHECK(!outs.empty(), m.source(), ": the model has no outputs");
  if (!options_.output_name.empty()) {
    bool found = std::any_of(outs.begin(), outs.end(), [&](const ValueInfo& o) { return o.name == options_.output_name; });
    GRAFT_CHECK(found, m.source(), ": no output named '", options_.output_name, "'");
    output_ = options_.output_name;
  } else {
    for (const char* want : {"last_hidden_state", "token_embeddings"})
      for (const auto& o : outs)
        if (output_.empty() && o.name == want) output_ = o.name;
    if (output_.empty()) output_ = outs.front().name;
  }
}

namespace {
DType declared_dtype(const Model& m, const std::string& name) {
  for (const auto& in : m.inputs())
    if (in.name == name && in.dtype) return *in.dtype;
  return DType::I64;
}
}  // namespace

Tensor Embedder::embed(const std::vector<TokenizedText>& inputs) {
  const Model& m = session_.model();
  const size_t n = inputs.size();
  std::vector<size_t> lengths(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& t = inputs[i];
    GRAFT_CHECK((t.type_ids.empty() || t.type_ids.size() == t.ids.size()) &&
                    (t.attention_mask.empty() || t.attention_mask.size() == t.ids.size()),
                "embed: text ", i, " has ", t.ids.size(), " ids but ", t.type_ids.size(), " type ids and ",
                t.attention_mask.size(), " mask values");
    lengths[i] = t.ids.size();
  }
  std::vector<float> result;
  int64_t hidden = -1;
  for (const auto& batch : plan_batches(lengths, options_.batch_size)) {
    const int64_t B = int64_t(batch.size());
    size_t T = 0;
    for (size_t i : batch) T = std::max(T, lengths[i]);
    T = std::max<size_t>(T, 1);  // an empty text still runs as one padding token, masked out
    std::vector<const TokenizedText*> rows;
    for (size_t i : batch) rows.push_back(&inputs[i]);
    PaddedBatch padded = pad_batch(rows, T, options_.pad);
    std::vector<int64_t> pos(size_t(B) * T);
    for (size_t k = 0; k < pos.size(); ++k) pos[k] = int64_t(k % T);
    Shape s{B, int64_t(T)};
    const Tensor& mask_t = padded.attention_mask;
    std::map<std::string, Tensor> feed;
    feed[ids_name_] = padded.input_ids.cast(declared_dtype(m, ids_name_));
    if (has_mask_) feed["attention_mask"] = mask_t.cast(declared_dtype(m, "attention_mask"));
    if (has_types_) feed["token_type_ids"] = padded.token_type_ids.cast(declared_dtype(m, "token_type_ids"));
    if (has_positions_) feed["position_ids"] = Tensor::from_vector(pos, s).cast(declared_dtype(m, "position_ids"));
    auto outs = session_.run(feed, {output_});
    Tensor states = outs.at(output_);
    if (!is_floating(states.dtype()) || states.dtype() != DType::F32) states = states.cast(DType::F32);
    Tensor pooled;
    if (states.rank() == 3) {
      GRAFT_CHECK(states.shape()[0] == B && states.shape()[1] == int64_t(T), m.source(), ": output '", output_,
                  "' has shape ", states.shape(), ", expected [", B, ", ", T, ", hidden]");
      pooled = pool_tokens(states, mask_t, options_.pooling);
    } else {
      GRAFT_CHECK(states.rank() == 2 && states.shape()[0] == B, m.source(), ": output '", output_, "' has shape ",
                  states.shape(), "; expected token states [", B, ", ", T, ", hidden] or pooled [", B, ", hidden]");
      pooled = states;
    }
    if (hidden < 0) {
      hidden = pooled.shape()[1];
      result.assign(n * size_t(hidden), 0.0f);
    }
    auto pv = pooled.to_vector<float>();
    for (int64_t r = 0; r < B; ++r)
      std::copy(pv.begin() + r * hidden, pv.begin() + (r + 1) * hidden,
                result.begin() + std::ptrdiff_t(batch[size_t(r)] * size_t(hidden)));
  }
  if (hidden < 0) return Tensor(DType::F32, Shape{0, dimension_hint_});
  Tensor out = Tensor::from_vector(result, Shape{int64_t(n), hidden});
  return options_.normalize ? l2_normalize_rows(out) : out;
}

}  // namespace graft::app
