// `graft finetune`: text files -> a fine-tuned ONNX model (graft/app/finetune.h).
#include "graft/app/finetune.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <iostream>
#include <random>
#include <regex>
#include <set>

#include "graft/app/errors.h"
#include "graft/app/model_source.h"
#include "graft/app/sentence_embedder.h"
#include "graft/app/text_table.h"
#include "graft/app/tokenizer_source.h"
#include "graft/app/training_plot.h"
#include "graft/context/checkpoint.h"
#include "graft/train/lora.h"
#include "graft/train/losses.h"
#include "graft/train/onnx_bridge.h"

namespace graft::app {

namespace fs = std::filesystem;
using json = nlohmann::json;
using train::Dataset;
using train::EvalResult;

const char* to_string(FinetuneTask t) { return t == FinetuneTask::Classify ? "classify" : "embed"; }

FinetuneTask parse_finetune_task(std::string_view name) {
  if (name == "classify") return FinetuneTask::Classify;
  if (name == "embed") return FinetuneTask::Embed;
  usage_error("unknown task '", name, "': expected classify or embed");
}

namespace {

// ---- the base model -------------------------------------------------------------------------------------

struct Base {
  onnx::Model model;
  fs::path tokenizer;
  std::optional<size_t> max_positions;
  std::string max_positions_source;
};

Base resolve_base(const FinetuneOptions& o) {
  std::error_code ec;
  if (fs::is_regular_file(o.model, ec)) {
    fs::path tok = !o.tokenizer.empty() ? tokenizer_path(o.tokenizer, o.revision)
                                        : fs::path(o.model).parent_path() / "tokenizer.json";
    if (o.tokenizer.empty() && !fs::is_regular_file(tok, ec))
      usage_error("--model ", o.model, ": no tokenizer.json beside it; give --tokenizer");
    return Base{onnx::Model::load(o.model, o.load), tok, std::nullopt, ""};
  }
  if (!fs::exists(o.model, ec) && looks_like_path(o.model)) usage_error("--model ", o.model, ": no such file or folder");
  EmbeddingModel em = load_embedding_model(open_model_source(o.model, o.revision), o.load);
  fs::path tok = o.tokenizer.empty() ? em.tokenizer_path : tokenizer_path(o.tokenizer, o.revision);
  return Base{std::move(em.model), tok, em.max_positions, em.max_positions_source};
}

// What the encoder takes and gives: the inputs fed from tokenized text and the output holding token states.
struct EncoderIo {
  std::map<std::string, DType> inputs;  // of input_ids, attention_mask, token_type_ids, position_ids
  std::string output;
  bool pooled_output = false;  // the output is [batch, hidden] already
  int64_t hidden = 0;
};

EncoderIo inspect_encoder(const onnx::Model& m) {
  EncoderIo io;
  std::vector<std::string> unknown;
  for (const auto& in : m.inputs()) {
    if (in.name == "input_ids" || in.name == "attention_mask" || in.name == "token_type_ids" || in.name == "position_ids")
      io.inputs[in.name] = in.dtype.value_or(DType::I64);
    else unknown.push_back(in.name);
  }
  GRAFT_CHECK(io.inputs.count("input_ids"), m.source(), ": an encoder to fine-tune needs an input named input_ids");
  GRAFT_CHECK(unknown.empty(), m.source(), ": input '", unknown.empty() ? "" : unknown[0],
              "' cannot be fed from tokenized text (known: input_ids, attention_mask, token_type_ids, position_ids)");
  for (const char* want : {"last_hidden_state", "token_embeddings"})
    for (const auto& out : m.outputs())
      if (io.output.empty() && out.name == want) io.output = out.name;
  GRAFT_CHECK(!m.outputs().empty(), m.source(), ": the model has no outputs");
  if (io.output.empty()) io.output = m.outputs().front().name;
  // The output's rank and width: trace once on a [1, 2] batch.
  Graph g("probe");
  std::map<std::string, Node> in;
  for (const auto& [name, dtype] : io.inputs)
    in[name] = name == "attention_mask" ? Full(g, dtype, Shape{1, 2}, 1) : Zeros(g, dtype, Shape{1, 2});
  Node h = m.call(g, in, {io.output}).at(io.output);
  GRAFT_CHECK(is_floating(h.dtype()) && (h.shape().rank() == 3 || h.shape().rank() == 2), m.source(), ": output '",
              io.output, "' is ", h.type().str(), "; expected float token states [batch, tokens, hidden] or pooled "
              "[batch, hidden]");
  io.pooled_output = h.shape().rank() == 2;
  io.hidden = h.shape()[h.shape().rank() - 1];
  return io;
}

// ---- data -----------------------------------------------------------------------------------------------

bool is_integer(const std::string& s) {
  static const std::regex re("-?[0-9]{1,18}");
  return std::regex_match(s, re);
}

// Label names in logit order: integers in numeric order when every label is one, else sorted text.
std::vector<std::string> label_names(const TextTable& t, size_t col) {
  std::set<std::string> seen;
  bool ints = true;
  for (const auto& r : t.rows) {
    seen.insert(r[col]);
    ints = ints && is_integer(r[col]);
  }
  std::vector<std::string> names(seen.begin(), seen.end());
  if (ints) std::sort(names.begin(), names.end(), [](const auto& a, const auto& b) { return std::stoll(a) < std::stoll(b); });
  return names;
}

Tensor label_ids(const TextTable& t, size_t col, const std::vector<std::string>& names, const fs::path& train_file) {
  std::map<std::string, int64_t> index;
  for (size_t i = 0; i < names.size(); ++i) index[names[i]] = int64_t(i);
  std::vector<int64_t> ids;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    auto it = index.find(t.rows[r][col]);
    if (it == index.end()) {
      std::string known;
      for (size_t i = 0; i < names.size() && i < 20; ++i) known += (i ? ", " : "") + names[i];
      fail(t.where(r, col), ": label '", t.rows[r][col], "' does not occur in the training data ", train_file.string(),
           " (its labels: ", known, names.size() > 20 ? ", ..." : "", ")");
    }
    ids.push_back(it->second);
  }
  return Tensor::from_vector(ids, Shape{int64_t(ids.size())});
}

// Tokenizes column `col` (paired with `pair_col` when set) of every row: input_ids, attention_mask,
// token_type_ids, int64 [rows, longest].
PaddedBatch tokenize_column(TextEncoder& enc, const TextTable& t, size_t col, std::optional<size_t> pair_col,
                            size_t max_length) {
  EncodeOptions eo;
  eo.padding = Padding::Longest;
  eo.truncation = true;
  eo.max_length = max_length;
  auto run = [&](size_t begin, size_t end) {
    if (pair_col) {
      std::vector<std::pair<std::string, std::string>> pairs;
      for (size_t r = begin; r < end; ++r) pairs.emplace_back(t.rows[r][col], t.rows[r][*pair_col]);
      return enc.encode_pairs(pairs, eo);
    }
    std::vector<std::string> texts;
    for (size_t r = begin; r < end; ++r) texts.push_back(t.rows[r][col]);
    return enc.encode(texts, eo);
  };
  try {
    return run(0, t.rows.size());
  } catch (const Error&) {
    for (size_t r = 0; r < t.rows.size(); ++r) {  // say which row (the tokenizer does not)
      try {
        run(r, r + 1);
      } catch (const Error& e) {
        fail(t.where(r, col), ": ", e.what());
      }
    }
    throw;
  }
}

// Keeps the first `length` tokens of every row of an int64 [rows, T] tensor.
Tensor first_tokens(const Tensor& t, int64_t length) {
  const int64_t rows = t.shape()[0], T = t.shape()[1];
  if (length == T) return t;
  Tensor out = Tensor::uninitialized(t.dtype(), Shape{rows, length});
  const int64_t* src = t.data<int64_t>();
  int64_t* dst = out.data<int64_t>();
  for (int64_t r = 0; r < rows; ++r) std::copy(src + r * T, src + r * T + length, dst + r * length);
  return out;
}

// A batch padded to the dataset's longest text, cut to its own longest (rounded up to a multiple of 8, so
// that few distinct shapes are compiled). `groups` are the first columns of (ids, mask, types) triples.
train::CollateFn trim_padding(std::vector<size_t> groups) {
  return [groups](std::vector<Tensor> b) {
    for (size_t g : groups) {
      const Tensor& mask = b[g + 1];
      const int64_t rows = mask.shape()[0], T = mask.shape()[1];
      const int64_t* m = mask.data<int64_t>();
      int64_t longest = 1;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = T - 1; k >= longest; --k)
          if (m[r * T + k]) {
            longest = k + 1;
            break;
          }
      int64_t keep = std::min(T, (longest + 7) / 8 * 8);
      for (size_t c = g; c < g + 3; ++c) b[c] = first_tokens(b[c], keep);
    }
    return b;
  };
}

// ---- the model in the training graph -------------------------------------------------------------------

Tensor normal_init(Shape shape, double stddev, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(size_t(shape.size()));
  for (size_t i = 0; i < v.size(); i += 2) {  // Box-Muller on the generator's raw bits: the same everywhere
    double u1 = (double(rng() >> 11) + 1.0) / 9007199254740993.0, u2 = double(rng() >> 11) / 9007199254740992.0;
    double r = std::sqrt(-2.0 * std::log(u1));
    v[i] = float(stddev * r * std::cos(2 * M_PI * u2));
    if (i + 1 < v.size()) v[i + 1] = float(stddev * r * std::sin(2 * M_PI * u2));
  }
  return Tensor::from_vector(v, shape);
}

struct Encoder {
  const onnx::Model* model;
  EncoderIo io;
  Pooling pooling;

  // Pooled [B, hidden] from int64 ids, mask, types [B, T].
  Node operator()(GraphVariables& vars, Node ids, Node mask, Node types) const {
    Graph& g = vars.graph();
    std::map<std::string, Node> in;
    auto as = [&](Node n, const std::string& name) {
      DType want = io.inputs.at(name);
      return n.dtype() == want ? n : Convert(n, want);
    };
    in["input_ids"] = as(ids, "input_ids");
    if (io.inputs.count("attention_mask")) in["attention_mask"] = as(mask, "attention_mask");
    if (io.inputs.count("token_type_ids")) in["token_type_ids"] = as(types, "token_type_ids");
    if (io.inputs.count("position_ids")) in["position_ids"] = as(Iota(g, DType::I64, ids.shape(), 1), "position_ids");
    Node h = train::call_with_variables(*model, vars, in, {io.output}).at(io.output);
    if (h.dtype() != DType::F32) h = Convert(h, DType::F32);
    if (io.pooled_output) return h;
    const int64_t B = h.shape()[0], T = h.shape()[1], H = h.shape()[2];
    if (pooling == Pooling::Cls) return Reshape(SliceAxis(h, 1, 0, 1), {B, H});
    // As the exported model computes it (append_pooling_head): sum(h * m) / max(sum(m), 1e-9).
    Node m = Convert(Reshape(mask, {B, T, 1}), DType::F32);
    return ReduceSum(h * m, {1}) / Max(ReduceSum(m, {1}), ScalarLike(m, 1e-9));
  }
};

// ---- evaluation -----------------------------------------------------------------------------------------

// Runs the eval LossFn over `d` in order, batch by batch; `each(batch, outputs, rows)` sees every batch.
// Returns the example-weighted mean loss and the example count.
template <typename Each>
EvalResult eval_batches(train::TrainStep& step, const Dataset& d, int64_t batch, const train::CollateFn& collate,
                        Each&& each) {
  train::BatchOptions bo{.batch_size = batch, .shuffle = false};
  EvalResult r;
  double loss = 0;
  for (int64_t b = 0; b < train::batches_per_epoch(d.size(), bo); ++b) {
    std::vector<Tensor> in = collate(train::batch_at(d, bo, 0, b));
    std::vector<Tensor> out = step.evaluate(in);
    const int64_t n = in[0].shape()[0];
    loss += out[0].value_as_double(0) * double(n);
    each(in, out, n);
    r.examples += n;
  }
  r.loss = loss / double(r.examples);
  return r;
}

EvalResult evaluate_classify(train::TrainStep& step, const Dataset& d, int64_t batch, const train::CollateFn& collate,
                             int64_t labels) {
  std::vector<int64_t> confusion(size_t(labels * labels), 0);  // [true][predicted]
  EvalResult r = eval_batches(step, d, batch, collate, [&](const auto& in, const auto& out, int64_t n) {
    std::vector<float> logits = out[1].template to_vector<float>();
    const int64_t* truth = in[3].template data<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      const float* row = logits.data() + i * labels;
      int64_t pred = std::max_element(row, row + labels) - row;
      ++confusion[size_t(truth[i] * labels + pred)];
    }
  });
  int64_t right = 0;
  double f1_sum = 0;
  int counted = 0;
  for (int64_t c = 0; c < labels; ++c) {
    int64_t tp = confusion[size_t(c * labels + c)], truth = 0, predicted = 0;
    for (int64_t k = 0; k < labels; ++k) truth += confusion[size_t(c * labels + k)], predicted += confusion[size_t(k * labels + c)];
    right += tp;
    if (truth + predicted == 0) continue;  // as scikit-learn: labels in neither y_true nor y_pred do not count
    f1_sum += 2.0 * double(tp) / double(truth + predicted);
    ++counted;
  }
  r.accuracy = double(right) / double(r.examples);
  r.metrics["accuracy"] = r.accuracy;
  r.metrics["macro_f1"] = counted ? f1_sum / counted : 0.0;
  return r;
}

double cosine(const float* a, const float* b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t k = 0; k < n; ++k) ab += double(a[k]) * b[k], aa += double(a[k]) * a[k], bb += double(b[k]) * b[k];
  return ab / std::max(std::sqrt(aa) * std::sqrt(bb), 1e-12);
}

EvalResult evaluate_embed(train::TrainStep& step, const Dataset& d, int64_t batch, const train::CollateFn& collate,
                          int64_t hidden) {
  std::vector<float> a, p;
  EvalResult r = eval_batches(step, d, batch, collate, [&](const auto&, const auto& out, int64_t) {
    auto av = out[1].template to_vector<float>(), pv = out[2].template to_vector<float>();
    a.insert(a.end(), av.begin(), av.end());
    p.insert(p.end(), pv.begin(), pv.end());
  });
  const int64_t n = r.examples;
  // Pairs against mismatched pairs: anchor i with the positive half the set away (never its own).
  double pairs = 0, random = 0;
  for (int64_t i = 0; i < n; ++i) {
    pairs += cosine(&a[size_t(i * hidden)], &p[size_t(i * hidden)], hidden);
    random += cosine(&a[size_t(i * hidden)], &p[size_t(((i + std::max<int64_t>(1, n / 2)) % n) * hidden)], hidden);
  }
  r.metrics["cosine_pairs"] = pairs / double(n);
  r.metrics["cosine_random"] = n > 1 ? random / double(n) : NAN;
  r.metrics["cosine_gap"] = r.metrics["cosine_pairs"] - r.metrics["cosine_random"];
  return r;
}

// ---- files ----------------------------------------------------------------------------------------------

void append_line(const fs::path& p, const std::string& line) {
  std::ofstream f(p, std::ios::app | std::ios::binary);
  GRAFT_CHECK(f.good(), "cannot write ", p.string());
  f << line << "\n";
}

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

void check_options(const FinetuneOptions& o) {
  if (o.model.empty()) usage_error("no model: give --model MODEL.onnx, a folder or a Hub repo id");
  if (o.train_file.empty()) usage_error("no training data: give --train FILE (.csv, .tsv or .jsonl)");
  if (o.output_dir.empty()) usage_error("no output folder: give --output-dir OUT");
  std::error_code ec;
  if (!fs::is_regular_file(o.train_file, ec)) usage_error("--train ", o.train_file.string(), ": no such file");
  if (!o.eval_file.empty() && !fs::is_regular_file(o.eval_file, ec))
    usage_error("--eval ", o.eval_file.string(), ": no such file");
  for (const auto& f : {o.train_file, o.eval_file}) {
    if (f.empty()) continue;
    try {
      text_table_format(f);
    } catch (const Error& e) {
      usage_error(e.what());
    }
  }
  if (o.task == FinetuneTask::Embed && o.text_pair_column.empty())
    usage_error("--task embed needs --text-pair-column (the column of each text's positive pair)");
  if (o.max_length < 1) usage_error("--max-length ", o.max_length, ": must be at least 1");
  if (o.batch_size < 1) usage_error("--batch ", o.batch_size, ": must be at least 1");
  if (o.task == FinetuneTask::Embed && o.batch_size < 2)
    usage_error("--batch ", o.batch_size, ": --task embed needs at least 2 (the other rows are the negatives)");
  if (o.epochs < 1) usage_error("--epochs ", o.epochs, ": must be at least 1");
  if (o.max_steps < 0) usage_error("--max-steps ", o.max_steps, ": must be at least 1");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) usage_error("--lr ", o.lr, ": must be a positive number");
  if (!(o.weight_decay >= 0) || !std::isfinite(o.weight_decay)) usage_error("--weight-decay ", o.weight_decay, ": must be 0 or more");
  if (!(o.warmup >= 0 && o.warmup < 1)) usage_error("--warmup ", o.warmup, ": must be a fraction in [0, 1)");
  if (o.pooling != Pooling::Mean && o.pooling != Pooling::Cls) usage_error("--pooling ", to_string(o.pooling), ": mean or cls");
  if (o.early_stopping_patience < 0) usage_error("--early-stopping ", o.early_stopping_patience, ": must be 0 or more");
  if (o.lora_rank < 0) usage_error("--lora-rank ", o.lora_rank, ": must be at least 1");
  if (o.lora_rank > 0 && !(o.lora_alpha > 0)) usage_error("--lora-alpha ", o.lora_alpha, ": must be positive");
  if (o.threads < 0) usage_error("--threads ", o.threads, ": must be 0 (all cores) or more");
}

constexpr const char* kBest = "finetune.best_metric";
constexpr const char* kBestStep = "finetune.best_step";
constexpr const char* kBadEvals = "finetune.bad_evals";

}  // namespace

// ---- the exported model ---------------------------------------------------------------------------------

void append_pooling_head(onnx::ModelWriter& w, const onnx::Model& base, const PoolingHead& h) {
  const int64_t opset = base.opset("");
  GRAFT_CHECK(opset >= 7, base.source(), ": opset ", opset, " is too old to append a pooling head to (7 or newer)");
  // A fresh name for each value this adds: "graft_head/<what>".
  auto name = [](const std::string& what) { return "graft_head/" + what; };
  std::string batch_symbol = "batch";
  bool has_mask = false;
  for (const auto& in : base.inputs()) {
    if (in.name == "input_ids" && in.dims && !in.dims->empty() && !(*in.dims)[0].symbol.empty())
      batch_symbol = (*in.dims)[0].symbol;
    has_mask = has_mask || in.name == "attention_mask";
  }
  auto axes_input = [&](const std::string& what, std::vector<int64_t> axes) {
    w.add_initializer(name(what), Tensor::from_vector(axes, Shape{int64_t(axes.size())}));
    return name(what);
  };
  // ReduceSum over `axes` (an attribute before opset 13, an input from 13).
  auto reduce_sum = [&](const std::string& x, const std::string& out, int64_t axis) {
    onnx::NodeSpec n{"ReduceSum", {x}, {out}, {{"keepdims", int64_t(0)}}, ""};
    if (opset >= 13) n.inputs.push_back(axes_input(out + "_axes", {axis}));
    else n.attributes["axes"] = std::vector<int64_t>{axis};
    w.add_node(n);
  };
  std::string pooled = h.hidden_output;
  if (!h.hidden_is_pooled) {
    if (h.pooling == Pooling::Cls) {
      w.add_initializer(name("first_token"), Tensor::scalar<int64_t>(0));
      w.add_node({"Gather", {h.hidden_output, name("first_token")}, {name("pooled")}, {{"axis", int64_t(1)}}, ""});
    } else {
      GRAFT_CHECK(h.pooling == Pooling::Mean, "append_pooling_head: pooling ", to_string(h.pooling),
                  " is not exported (mean and cls are)");
      GRAFT_CHECK(has_mask, base.source(), ": mean pooling reads the attention_mask input, which the model lacks");
      w.add_node({"Cast", {"attention_mask"}, {name("mask")}, {{"to", int64_t(1)}}, ""});  // 1: FLOAT
      onnx::NodeSpec unsq{"Unsqueeze", {name("mask")}, {name("mask3")}, {}, ""};
      if (opset >= 13) unsq.inputs.push_back(axes_input("mask3_axes", {2}));
      else unsq.attributes["axes"] = std::vector<int64_t>{2};
      w.add_node(unsq);
      w.add_node({"Mul", {h.hidden_output, name("mask3")}, {name("masked")}, {}, ""});
      reduce_sum(name("masked"), name("summed"), 1);
      reduce_sum(name("mask3"), name("count"), 1);
      w.add_initializer(name("min_count"), Tensor::scalar<float>(1e-9f));
      w.add_node({"Max", {name("count"), name("min_count")}, {name("clamped_count")}, {}, ""});
      w.add_node({"Div", {name("summed"), name("clamped_count")}, {name("pooled")}, {}, ""});
    }
    pooled = name("pooled");
  }
  std::string result = pooled;
  if (h.head_weight) {
    w.add_initializer(name("weight"), *h.head_weight);
    w.add_node({"MatMul", {pooled, name("weight")}, {h.head_bias ? name("product") : h.output_name}, {}, ""});
    if (h.head_bias) {
      w.add_initializer(name("bias"), *h.head_bias);
      w.add_node({"Add", {name("product"), name("bias")}, {h.output_name}, {}, ""});
    }
    result = h.output_name;
  }
  if (result != h.output_name) w.add_node({"Identity", {result}, {h.output_name}, {}, ""});
  w.set_outputs({{h.output_name, DType::F32, {onnx::Dim{-1, batch_symbol}, onnx::Dim{h.output_dim, ""}}}});
}

// ---- the pipeline ---------------------------------------------------------------------------------------

FinetuneResult finetune(const FinetuneOptions& o) {
  check_options(o);
  // Data parallelism: every member trains; rank 0 alone logs and writes OUT.
  const bool lead = !o.communicator || o.communicator->rank() == 0;
  std::ostringstream muted;
  std::ostream& log = !lead ? muted : o.log ? *o.log : std::cerr;
  if (o.threads > 0) set_num_threads(o.threads);
  const bool classify = o.task == FinetuneTask::Classify;

  Base base = resolve_base(o);
  if (base.max_positions && o.max_length > *base.max_positions)
    usage_error("--max-length ", o.max_length, " is more than this model takes: ", *base.max_positions, " tokens (",
                base.max_positions_source, ")");
  const onnx::Model& model = base.model;
  EncoderIo io = inspect_encoder(model);
  Encoder encoder{&model, io, o.pooling};

  // Data.
  std::vector<std::string> cols{o.text_column};
  if (!o.text_pair_column.empty()) cols.push_back(o.text_pair_column);
  if (classify) cols.push_back(o.label_column);
  TextTable train_table = read_text_table(o.train_file, cols);
  std::optional<TextTable> eval_table;
  if (!o.eval_file.empty()) eval_table = read_text_table(o.eval_file, cols);
  const size_t label_col = cols.size() - 1;
  std::vector<std::string> labels;
  if (classify) {
    labels = label_names(train_table, label_col);
    if (labels.size() < 2)
      fail(train_table.where(0, label_col), ": every row has label '", labels[0],
           "'; classification needs at least two labels");
  }
  TextEncoder text_encoder(text::Tokenizer::from_file(base.tokenizer.string()));
  const bool pad_left = pad_spec(text_encoder.tokenizer()).left;
  auto make_dataset = [&](const TextTable& t) {
    std::vector<Tensor> columns;
    auto add = [&](const PaddedBatch& b) {
      for (const Tensor* c : {&b.input_ids, &b.attention_mask, &b.token_type_ids}) columns.push_back(c->cast(DType::I64));
    };
    if (classify) {
      std::optional<size_t> pair = o.text_pair_column.empty() ? std::nullopt : std::optional<size_t>(1);
      add(tokenize_column(text_encoder, t, 0, pair, o.max_length));
      columns.push_back(label_ids(t, label_col, labels, o.train_file));
    } else {
      add(tokenize_column(text_encoder, t, 0, std::nullopt, o.max_length));
      add(tokenize_column(text_encoder, t, 1, std::nullopt, o.max_length));
    }
    return Dataset(columns);
  };
  Dataset train_data = make_dataset(train_table);
  std::optional<Dataset> eval_data;
  if (eval_table) eval_data = make_dataset(*eval_table);
  std::vector<size_t> groups = classify ? std::vector<size_t>{0} : std::vector<size_t>{0, 3};
  train::CollateFn collate = pad_left ? train::CollateFn([](std::vector<Tensor> b) { return b; }) : trim_padding(groups);

  // Variables: the encoder's initializers, the head.
  Context ctx;
  Context model_scope = ctx.in("model");
  if (o.lift_constants < 0) usage_error("--lift-constants must be at least 0, got ", o.lift_constants);
  train::variables_to_context(model, model_scope, {.lift_constants = o.lift_constants});
  try {
    train::select_trainable(model, ctx, o.train, o.freeze);
  } catch (const Error& e) {
    usage_error("--trainable/--freeze: ", e.what());
  }
  if (o.lora_rank > 0) {
    try {
      train::add_lora(model, ctx, {.rank = o.lora_rank, .alpha = o.lora_alpha, .targets = o.lora_targets,
                                   .seed = o.seed, .freeze_base = true});
    } catch (const Error& e) {
      usage_error("--lora-targets: ", e.what());
    }
  }
  const int64_t L = int64_t(labels.size());
  if (classify) {
    ctx.variable("/head/weight", normal_init(Shape{io.hidden, L}, 0.02, o.seed));
    ctx.variable("/head/bias", Tensor::zeros(DType::F32, Shape{L}));
  }

  train::LossFn loss;
  if (classify) {
    loss = [&](GraphVariables& vars, const std::vector<Node>& b) {
      Node logits = MatMul(encoder(vars, b[0], b[1], b[2]), vars("/head/weight")) + vars("/head/bias");
      return std::vector<Node>{train::CrossEntropy(logits, b[3]), logits};
    };
  } else {
    loss = [&](GraphVariables& vars, const std::vector<Node>& b) {
      Node a = encoder(vars, b[0], b[1], b[2]), p = encoder(vars, b[3], b[4], b[5]);
      return std::vector<Node>{train::MultipleNegativesRankingLoss(a, p, 20.0), a, p};
    };
  }
  const train::BatchOptions batching{.batch_size = o.batch_size, .shuffle = true, .seed = o.seed,
                                     .drop_remainder = !classify && train_data.size() > o.batch_size};
  const int64_t per_epoch = train::batches_per_epoch(train_data.size(), batching);
  const int64_t total = o.max_steps > 0 ? o.max_steps : o.epochs * per_epoch;
  auto opt = train::AdamW({.weight_decay = o.weight_decay, .no_decay = train::default_no_decay()});
  train::TrainStepOptions step_options;
  step_options.clip_norm = 1.0;  // as Hugging Face's Trainer (max_grad_norm)
  step_options.seed = o.seed;
  step_options.communicator = o.communicator;
  train::Trainer trainer(ctx, loss, opt, train::LinearWarmupDecay(o.lr, std::llround(o.warmup * double(total)), total),
                         step_options);

  // Output folder, checkpoints, logs.
  fs::create_directories(o.output_dir);
  const fs::path ckpt_dir = o.output_dir / "checkpoints", best_file = ckpt_dir / "best.safetensors";
  const fs::path metrics_file = o.output_dir / "metrics.jsonl", loss_file = o.output_dir / "train_log.jsonl";
  if (lead && !o.resume) {
    fs::remove_all(ckpt_dir);
    fs::remove(metrics_file);
    fs::remove(loss_file);
  } else if (lead) {
    // Lines logged after the checkpoint we resume from are done again: drop them.
    int64_t from = CheckpointManager(ckpt_dir).latest().value_or(0);
    for (const fs::path& f : {metrics_file, loss_file}) {
      std::ifstream in(f);
      std::string kept, line;
      while (std::getline(in, line))
        if (json j = json::parse(line, nullptr, false); j.is_object() && j.value("step", int64_t(0)) <= from) kept += line + "\n";
      in.close();
      if (fs::exists(f)) write_text_file(f, kept);
    }
  }
  FinetuneResult res;
  res.labels = labels;
  res.trainable_parameters = ctx.num_elements(true);

  trainer.on_step([&](const train::StepInfo& s) {
    res.losses.push_back(s.loss);
    if (lead) append_line(loss_file, json{{"step", s.step}, {"loss", s.loss}, {"lr", s.lr}}.dump());
    if (o.interrupt_after > 0 && s.step >= o.interrupt_after) fail("interrupted after update ", s.step, " (interrupt_after)");
  });
  trainer.on_eval([&](int64_t step, const EvalResult& r) {
    json j{{"step", step}, {"epoch", double(step) / double(per_epoch)}, {"eval_loss", finite_or_null(r.loss)},
           {"examples", r.examples}};
    for (const auto& [k, v] : r.metrics) j[k] = finite_or_null(v);
    if (lead) append_line(metrics_file, j.dump());
    double value = r.metrics.at(classify ? "accuracy" : "cosine_gap");
    Context& c = trainer.context();
    if (!c.has_hparam(kBest) || value > c.hparam<double>(kBest)) {
      c.set_hparam(kBest, value);
      c.set_hparam(kBestStep, step);
      c.set_hparam(kBadEvals, int64_t(0));
      std::vector<std::pair<std::string, Tensor>> weights;
      for (Variable* v : c.trainable_variables()) weights.emplace_back(v->name, v->value.clone());
      if (lead) {
        fs::create_directories(ckpt_dir);
        write_safetensors(best_file, weights);
      }
    } else {
      c.set_hparam(kBadEvals, c.hparam<int64_t>(kBadEvals, 0) + 1);
    }
    res.evals.push_back(r);
    return o.early_stopping_patience == 0 || c.hparam<int64_t>(kBadEvals, 0) < o.early_stopping_patience;
  });

  train::LoopOptions lo;
  lo.max_steps = total;
  lo.batching = batching;
  lo.log_every = std::max<int64_t>(1, per_epoch / 4);
  lo.eval_every = per_epoch;
  lo.eval_batch_size = o.batch_size;
  lo.checkpoint_every = per_epoch;
  lo.checkpoint_dir = ckpt_dir;
  lo.keep_last = 1;
  lo.resume = o.resume;
  lo.progress = o.progress;
  if (lo.progress == train::Progress::Auto)
    lo.progress = (&log == &std::cerr && ::isatty(STDERR_FILENO)) ? train::Progress::Bar : train::Progress::Lines;
  lo.out = &log;
  lo.collate = collate;
  if (eval_data) {
    lo.evaluate = [&](const Dataset& d) {
      return classify ? evaluate_classify(trainer.train_step(), d, o.batch_size, collate, L)
                      : evaluate_embed(trainer.train_step(), d, o.batch_size, collate, io.hidden);
    };
  }
  log << "graft finetune: " << to_string(o.task) << ", " << train_data.size() << " training rows"
      << (eval_data ? ", " + std::to_string(eval_data->size()) + " eval rows" : std::string()) << ", "
      << res.trainable_parameters << " trainable parameters, " << total << " updates of " << o.batch_size << "\n";
  train::FitResult fit = trainer.fit(train_data, eval_data ? &*eval_data : nullptr, lo);
  res.steps = fit.steps;
  res.stopped_early = fit.stopped_early;
  res.model_path = o.output_dir / "model.onnx";
  if (!lead) return res;  // rank 0 writes the model

  // The best weights (by the eval metric) are the ones exported.
  if (eval_data && ctx.has_hparam(kBestStep) && fs::exists(best_file)) {
    SafetensorsFile best = read_safetensors(best_file);
    for (const auto& [name, t] : best.tensors) ctx.set_value(name, t);
    res.best_step = ctx.hparam<int64_t>(kBestStep);
    for (const auto& e : res.evals)
      if (e.metrics.at(classify ? "accuracy" : "cosine_gap") == ctx.hparam<double>(kBest)) res.best = e;
  }

  onnx::ModelWriter writer = train::context_to_onnx(model, ctx);
  PoolingHead head{io.output, io.pooled_output, o.pooling, std::nullopt, std::nullopt,
                   classify ? "logits" : "sentence_embedding", classify ? L : io.hidden};
  if (classify) head.head_weight = ctx.value("/head/weight"), head.head_bias = ctx.value("/head/bias");
  append_pooling_head(writer, model, head);
  writer.save(res.model_path);
  write_text_file(o.output_dir / "tokenizer.json", [&] {
    std::ifstream f(base.tokenizer, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  }());
  if (classify) write_text_file(o.output_dir / "labels.json", json(labels).dump() + "\n");
  if (o.lora_rank > 0) train::save_lora(ctx, o.output_dir / "adapters.safetensors");
  write_text_file(o.output_dir / "sentence_bert_config.json", json{{"max_seq_length", o.max_length}}.dump() + "\n");
  write_training_plot(o.output_dir / "training.svg", loss_file, metrics_file,
                             classify ? "graft finetune --task classify" : "graft finetune --task embed");
  return res;
}

}  // namespace graft::app
