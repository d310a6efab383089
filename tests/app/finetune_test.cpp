// graft/app/finetune.h end to end on the built-in demo (graft/app/demo.h: an encoder graft writes as ONNX,
// a generated topic dataset) and, when ../shared is present, on the shared MiniLM: training makes eval
// accuracy rise; OUT/model.onnx run by ONNX Runtime (bench/ort/run_npy.js, skipped with a note without
// node or onnxruntime-node) gives the logits of graft's own run of it within 1e-4 and the accuracy of
// graft's best eval; bad data is an error naming file, line and column.
#include "graft/app/finetune.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "graft/app/classifier.h"
#include "graft/app/demo.h"
#include "graft/app/errors.h"
#include "graft/app/text_table.h"
#include "onnx/onnx_test_util.h"

namespace graft::app {
namespace {

using onnx::testing::TempDir;
using onnx::testing::ort_available;
using onnx::testing::run_ort;
using onnx::testing::write_file;
namespace fs = std::filesystem;
using json = nlohmann::json;

std::vector<json> read_jsonl(const fs::path& p) {
  std::ifstream in(p);
  std::vector<json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

std::string error_of(const FinetuneOptions& o) {
  try {
    finetune(o);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// The demo, fine-tuned once for the whole suite (a few seconds).
class DemoFinetune : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    demo_ = new DemoFiles(write_demo(dir_->path / "demo"));
    FinetuneOptions o = demo_options("out");
    o.epochs = 3;
    result_ = new FinetuneResult(finetune(o));
  }
  // The demo's model and data, trained quietly into dir_/out_name.
  static FinetuneOptions demo_options(const char* out_name) {
    FinetuneOptions o;
    o.model = demo_->model.string();
    o.train_file = demo_->train;
    o.eval_file = demo_->eval;
    o.lr = 2e-2;
    o.progress = train::Progress::Off;
    o.output_dir = dir_->path / out_name;
    return o;
  }
  static void TearDownTestSuite() {
    delete result_;
    delete demo_;
    delete dir_;
  }
  static inline TempDir* dir_ = nullptr;
  static inline DemoFiles* demo_ = nullptr;
  static inline FinetuneResult* result_ = nullptr;
};

TEST_F(DemoFinetune, EvalAccuracyRisesAndTheFilesAreWritten) {
  const FinetuneResult& r = *result_;
  fs::path out = dir_->path / "out";
  ASSERT_EQ(r.evals.size(), 3u);  // one per epoch
  EXPECT_GT(r.evals.back().accuracy, r.evals.front().accuracy - 0.02);
  EXPECT_GE(r.best->accuracy, 0.9) << "the generated topics are easy to tell apart";
  EXPECT_LT(r.losses.back(), 0.5 * r.losses.front());
  EXPECT_EQ(r.labels, (std::vector<std::string>{"food", "sports", "weather"}));  // sorted label names
  for (const char* f : {"model.onnx", "tokenizer.json", "labels.json", "metrics.jsonl", "training.svg",
                        "sentence_bert_config.json"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  auto metrics = read_jsonl(out / "metrics.jsonl");
  ASSERT_EQ(metrics.size(), 3u);
  EXPECT_DOUBLE_EQ(metrics.back()["accuracy"].get<double>(), r.evals.back().accuracy);
  EXPECT_TRUE(metrics[0].contains("macro_f1") && metrics[0].contains("eval_loss"));
  std::ifstream svg(out / "training.svg");
  std::string s((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  EXPECT_NE(s.find("<svg"), std::string::npos);
  EXPECT_NE(s.find("training loss (smoothed)"), std::string::npos);
  EXPECT_NE(s.find("accuracy (right axis)"), std::string::npos);
}

// The exported model's logits: graft (InferenceSession through TextClassifier) against ONNX Runtime on the
// eval set, whose accuracy must equal the best eval's (those weights were exported).
TEST_F(DemoFinetune, OnnxRuntimeGivesGraftsLogitsAndAccuracy) {
  fs::path out = dir_->path / "out";
  TextTable eval = read_text_table(demo_->eval, {"text", "label"});
  std::vector<std::string> texts;
  for (const auto& r : eval.rows) texts.push_back(r[0]);
  TextClassifier c = TextClassifier::load(out.string(), {.batch_size = 1000});
  std::vector<Classification> mine = c.classify(texts);
  int64_t right = 0;
  for (size_t i = 0; i < texts.size(); ++i) right += c.labels()[mine[i].label] == eval.rows[i][1];
  EXPECT_NEAR(double(right) / double(texts.size()), result_->best->accuracy, 1e-12);
  if (!ort_available()) GTEST_SKIP() << "ONNX Runtime comparison skipped";
  TextEncoder enc(text::Tokenizer::from_file((out / "tokenizer.json").string()));
  EncodedBatch b = enc.encode(texts, {.max_length = 128});
  TempDir work;
  auto ort = run_ort(out / "model.onnx", {{"input_ids", b.input_ids}, {"attention_mask", b.attention_mask}}, work.path);
  ASSERT_TRUE(ort.count("logits"));
  Tensor logits = ort["logits"];
  ASSERT_EQ(logits.shape(), Shape({int64_t(texts.size()), 3}));
  std::vector<float> v = logits.to_vector<float>();
  double worst = 0;
  int64_t ort_right = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    for (size_t k = 0; k < 3; ++k) worst = std::max(worst, double(std::abs(v[i * 3 + k] - mine[i].logits[k])));
    size_t best = std::max_element(v.begin() + i * 3, v.begin() + i * 3 + 3) - (v.begin() + i * 3);
    ort_right += c.labels()[best] == eval.rows[i][1];
  }
  EXPECT_LE(worst, 1e-4);
  EXPECT_EQ(ort_right, right);
  std::printf("[ort] demo classifier: %zu eval texts, worst |logit difference| %.3g, accuracy %.4f\n", texts.size(),
              worst, double(ort_right) / double(texts.size()));
}

TEST_F(DemoFinetune, BadDataNamesFileLineAndColumn) {
  FinetuneOptions o = demo_options("bad");
  o.max_steps = 1;
  fs::path eval = dir_->path / "unknown_label.csv";
  write_file(eval, "text,label\nthe goal,sports\n\"rain, then snow\",politics\n");
  o.eval_file = eval;
  std::string e = error_of(o);
  EXPECT_NE(e.find(eval.string() + ":3, column 2 (label): label 'politics' does not occur in the training data"),
            std::string::npos) << e;
  o.eval_file.clear();
  o.label_column = "topic";
  e = error_of(o);
  EXPECT_NE(e.find("train.csv:1: no column 'topic'"), std::string::npos) << e;
  o.label_column = "label";
  fs::path empty = dir_->path / "empty.jsonl";
  write_file(empty, "");
  o.train_file = empty;
  e = error_of(o);
  EXPECT_NE(e.find("empty.jsonl: the file is empty"), std::string::npos) << e;
  o.train_file = demo_->train;
  o.task = FinetuneTask::Embed;
  EXPECT_THROW(finetune(o), UsageError);  // embed needs --text-pair-column
}

// An interrupted run resumed from its last checkpoint logs the losses and evals of an uninterrupted one, bit
// for bit, and exports the same model.
TEST_F(DemoFinetune, ResumeContinuesAsIfUninterrupted) {
  FinetuneOptions o = demo_options("straight");
  o.epochs = 2;
  finetune(o);
  o.output_dir = dir_->path / "interrupted";
  o.interrupt_after = 25;  // the checkpoint of epoch 1 is at update 19
  EXPECT_THROW(finetune(o), Error);
  o.interrupt_after = 0;
  o.resume = true;
  FinetuneResult r = finetune(o);
  EXPECT_EQ(r.steps, 38);
  EXPECT_EQ(r.losses.size(), 19u);  // this run's updates: 20..38
  auto read = [](const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  for (const char* f : {"train_log.jsonl", "metrics.jsonl", "model.onnx"})
    EXPECT_EQ(read(dir_->path / "straight" / f), read(dir_->path / "interrupted" / f)) << f;
}

TEST_F(DemoFinetune, EarlyStoppingStopsWhenTheEvalStopsImproving) {
  write_file(dir_->path / "one.csv", "text,label\nthe referee and the goal,sports\n");
  FinetuneOptions o = demo_options("early");
  o.eval_file = dir_->path / "one.csv";  // accuracy 0 or 1: it cannot improve every epoch
  o.epochs = 6;
  o.early_stopping_patience = 1;
  FinetuneResult r = finetune(o);
  EXPECT_TRUE(r.stopped_early);
  EXPECT_LT(r.evals.size(), 6u);
  EXPECT_LT(r.steps, 6 * 19);
}

// --lora-rank: only the adapters (and the head) train; the exported model, with the adapters merged into its
// weights, classifies the eval set as the training graph (base weights + adapters) did at the best eval.
TEST_F(DemoFinetune, LoraTrainsAdaptersAndMergesThemOnExport) {
  FinetuneOptions o = demo_options("lora");
  o.epochs = 2;
  o.lora_rank = 4;
  o.lora_targets = "mlp\\..*";
  FinetuneResult r = finetune(o);
  EXPECT_EQ(r.trainable_parameters, (32 + 64) * 4 * 2 + 32 * 3 + 3);  // two adapted weights, the head
  EXPECT_TRUE(fs::exists(o.output_dir / "adapters.safetensors"));
  TextTable eval = read_text_table(demo_->eval, {"text", "label"});
  std::vector<std::string> texts;
  for (const auto& row : eval.rows) texts.push_back(row[0]);
  TextClassifier c = TextClassifier::load(o.output_dir.string());
  auto got = c.classify(texts);
  int64_t right = 0;
  for (size_t i = 0; i < texts.size(); ++i) right += c.labels()[got[i].label] == eval.rows[i][1];
  EXPECT_NEAR(double(right) / double(texts.size()), r.best->accuracy, 1e-12);
}

// --lift-constants: the demo encoder rewritten with its float weights in Constant nodes (as Paddle2ONNX
// writes models) fine-tunes exactly as the initializer form does (the independent reference), and the
// exported model keeps the weights in those nodes, with the trained values, giving ONNX Runtime graft's logits.
TEST_F(DemoFinetune, LiftedConstantNodesTrainAsInitializersAndAreWrittenBackInPlace) {
  ::onnx::ModelProto proto;
  {
    std::ifstream f(demo_->model, std::ios::binary);
    ASSERT_TRUE(proto.ParseFromIstream(&f));
  }
  auto* g = proto.mutable_graph();
  std::vector<::onnx::NodeProto> nodes(g->node().begin(), g->node().end());
  g->clear_node();
  ::google::protobuf::RepeatedPtrField<::onnx::TensorProto> kept;
  std::vector<std::string> moved;
  for (const auto& t : g->initializer()) {
    if (t.data_type() != ::onnx::TensorProto::FLOAT || t.dims_size() == 0) {
      *kept.Add() = t;
      continue;
    }
    ::onnx::NodeProto& c = *g->add_node();
    c.set_op_type("Constant");
    c.set_name("const_" + t.name());
    c.add_output(t.name());
    ::onnx::AttributeProto& a = *c.add_attribute();
    a.set_name("value");
    a.set_type(::onnx::AttributeProto::TENSOR);
    *a.mutable_t() = t;
    a.mutable_t()->clear_name();
    moved.push_back(t.name());
  }
  ASSERT_GT(moved.size(), 5u);
  for (auto& n : nodes) *g->add_node() = n;
  *g->mutable_initializer() = kept;
  fs::path base = dir_->path / "constants_base";
  fs::create_directories(base);
  write_file(base / "model.onnx", proto.SerializeAsString());
  fs::copy_file(demo_->tokenizer, base / "tokenizer.json");

  FinetuneOptions with_initializers = demo_options("lift_reference");
  with_initializers.max_steps = 6;
  FinetuneOptions with_constants = with_initializers;
  with_constants.model = (base / "model.onnx").string();
  with_constants.output_dir = dir_->path / "lifted";
  with_constants.lift_constants = 1;
  FinetuneResult want = finetune(with_initializers), got = finetune(with_constants);
  EXPECT_EQ(got.trainable_parameters, want.trainable_parameters);
  ASSERT_EQ(got.losses.size(), want.losses.size());
  for (size_t i = 0; i < got.losses.size(); ++i)
    EXPECT_NEAR(got.losses[i], want.losses[i], 1e-5 * std::abs(want.losses[i])) << "step " << i;
  with_constants.lift_constants = 0;  // off: the weights stay constants, only the head trains
  with_constants.output_dir = dir_->path / "not_lifted";
  EXPECT_EQ(finetune(with_constants).trainable_parameters, 32 * 3 + 3);

  onnx::Model out = onnx::Model::load(dir_->path / "lifted" / "model.onnx");
  onnx::Model reference = onnx::Model::load(dir_->path / "lift_reference" / "model.onnx");
  for (const std::string& w : moved) {
    EXPECT_FALSE(out.constant_node_value(w).to_vector<float>().empty()) << w;
    std::vector<float> a = out.constant_node_value(w).to_vector<float>(), b = reference.initializer(w).to_vector<float>();
    ASSERT_EQ(a.size(), b.size()) << w;
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5 + 1e-4 * std::abs(b[i])) << w << "[" << i << "]";
  }
  TextTable eval = read_text_table(demo_->eval, {"text", "label"});
  std::vector<std::string> texts;
  for (size_t i = 0; i < 16; ++i) texts.push_back(eval.rows[i][0]);
  TextClassifier c = TextClassifier::load((dir_->path / "lifted").string());
  std::vector<Classification> mine = c.classify(texts);
  if (!ort_available()) GTEST_SKIP() << "ONNX Runtime comparison skipped";
  TextEncoder enc(text::Tokenizer::from_file((dir_->path / "lifted" / "tokenizer.json").string()));
  EncodedBatch b = enc.encode(texts, {.max_length = 128});
  TempDir work;
  auto ort = run_ort(dir_->path / "lifted" / "model.onnx",
                     {{"input_ids", b.input_ids}, {"attention_mask", b.attention_mask}}, work.path);
  std::vector<float> v = ort.at("logits").to_vector<float>();
  ASSERT_EQ(v.size(), texts.size() * 3);
  for (size_t i = 0; i < texts.size(); ++i)
    for (size_t k = 0; k < 3; ++k) EXPECT_NEAR(v[i * 3 + k], mine[i].logits[k], 1e-4) << i << "," << k;
}

// --task embed on pairs of same-topic sentences: the cosine of pairs rises above that of mismatched pairs,
// and ONNX Runtime's sentence_embedding equals graft's.
TEST_F(DemoFinetune, EmbedTaskSeparatesPairsAndExportsSentenceEmbedding) {
  TextTable train = read_text_table(demo_->train, {"text", "label"});
  auto pairs = [&](size_t begin, size_t end) {
    std::string jsonl;
    for (size_t i = begin; i < end; ++i)
      for (size_t j = i + 1; j < end; ++j)
        if (train.rows[i][1] == train.rows[j][1]) {
          jsonl += json{{"anchor", train.rows[i][0]}, {"positive", train.rows[j][0]}}.dump() + "\n";
          break;
        }
    return jsonl;
  };
  write_file(dir_->path / "pairs_train.jsonl", pairs(0, 400));
  write_file(dir_->path / "pairs_eval.jsonl", pairs(400, 600));
  FinetuneOptions o;
  o.model = demo_->model.string();
  o.task = FinetuneTask::Embed;
  o.train_file = dir_->path / "pairs_train.jsonl";
  o.eval_file = dir_->path / "pairs_eval.jsonl";
  o.text_column = "anchor";
  o.text_pair_column = "positive";
  o.lr = 3e-2;
  o.epochs = 4;
  o.batch_size = 16;
  o.output_dir = dir_->path / "embed_out";
  o.progress = train::Progress::Off;
  FinetuneResult r = finetune(o);
  ASSERT_EQ(r.evals.size(), 4u);
  // The untrained encoder maps every text near one direction; training pulls pairs together against the rest.
  EXPECT_GT(r.best->metrics.at("cosine_gap"), r.evals.front().metrics.at("cosine_gap") + 0.05);
  EXPECT_GT(r.best->metrics.at("cosine_pairs"), r.best->metrics.at("cosine_random") + 0.1);
  SentenceEmbedder emb = SentenceEmbedder::load(o.output_dir.string());
  std::vector<std::string> texts = {"The goal of the season", "Spicy soup for dinner", "Rain and wind today"};
  Tensor mine = emb.embed(texts);
  ASSERT_EQ(mine.shape(), Shape({3, 32}));
  if (!ort_available()) GTEST_SKIP() << "ONNX Runtime comparison skipped";
  TextEncoder enc(text::Tokenizer::from_file((o.output_dir / "tokenizer.json").string()));
  EncodedBatch b = enc.encode(texts);
  TempDir work;
  auto ort = run_ort(o.output_dir / "model.onnx", {{"input_ids", b.input_ids}, {"attention_mask", b.attention_mask}},
                     work.path);
  ASSERT_TRUE(ort.count("sentence_embedding"));
  std::vector<float> want = ort["sentence_embedding"].to_vector<float>(), got = mine.to_vector<float>();
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << i;
}

// The shared MiniLM on a small CSV classification set (its embeddings frozen, every encoder layer trained): the
// training loss falls, and ONNX Runtime gives graft's logits for OUT/model.onnx (inputs input_ids,
// attention_mask, token_type_ids), so the fine-tuned encoder weights were written back where they belong.
class MiniLMFinetuneCli : public onnx::testing::SharedMiniLM {};

TEST_F(MiniLMFinetuneCli, ClassifiesAndMatchesOnnxRuntime) {
  TempDir d;
  fs::copy_file(fs::path(GRAFT_SHARED_DIR) / "tokenizers" / "minilm_tokenizer.json", d.path / "tokenizer.json");
  // Positive and negative reviews written for this test.
  const char* pos[] = {"a wonderful, moving film", "great acting and a clever plot", "I loved every minute of it",
                       "beautiful and funny", "a delight from start to finish", "superb, warm and smart"};
  const char* neg[] = {"a boring, clumsy mess", "terrible acting and a dull plot", "I hated every minute of it",
                       "ugly and tedious", "a chore from start to finish", "awful, cold and stupid"};
  std::string csv = "review,sentiment\n";
  for (int rep = 0; rep < 2; ++rep)
    for (int i = 0; i < 6; ++i) csv += std::string("\"") + pos[i] + "\",positive\n\"" + neg[i] + "\",negative\n";
  write_file(d.path / "train.csv", csv);
  write_file(d.path / "eval.csv", "review,sentiment\n\"what a lovely, clever film\",positive\n"
                                  "\"dull and awful\",negative\n\"funny and warm\",positive\n\"a tedious mess\",negative\n");
  FinetuneOptions o;
  o.model = (model_dir_ / "minilm_l6_opset14.onnx").string();
  o.tokenizer = (d.path / "tokenizer.json").string();
  o.train_file = d.path / "train.csv";
  o.eval_file = d.path / "eval.csv";
  o.text_column = "review";
  o.label_column = "sentiment";
  o.batch_size = 8;
  o.epochs = 3;
  o.lr = 1e-4;
  o.warmup = 0;
  o.max_length = 16;  // every text fits: one compiled step
  o.freeze = {".*embeddings.*"};
  o.output_dir = d.path / "out";
  o.progress = train::Progress::Off;
  FinetuneResult r = finetune(o);
  ASSERT_EQ(r.evals.size(), 3u);
  ASSERT_EQ(r.losses.size(), 9u);
  EXPECT_LT(r.losses[6] + r.losses[7] + r.losses[8], r.losses[0] + r.losses[1] + r.losses[2]);
  EXPECT_LT(r.trainable_parameters, 22566146 - 30522 * 384);  // the word embeddings stayed frozen
  if (!ort_available()) GTEST_SKIP() << "ONNX Runtime comparison skipped";
  std::vector<std::string> texts = {"a clever, lovely film", "a dull mess"};
  TextClassifier c = TextClassifier::load(o.output_dir.string());
  auto mine = c.classify(texts);
  TextEncoder enc(text::Tokenizer::from_file((o.output_dir / "tokenizer.json").string()));
  EncodedBatch b = enc.encode(texts, {.max_length = 16});
  TempDir work;
  auto ort = run_ort(o.output_dir / "model.onnx",
                     {{"input_ids", b.input_ids}, {"attention_mask", b.attention_mask}, {"token_type_ids", b.token_type_ids}},
                     work.path);
  std::vector<float> v = ort.at("logits").to_vector<float>();
  for (size_t i = 0; i < texts.size(); ++i)
    for (size_t k = 0; k < 2; ++k) EXPECT_NEAR(mine[i].logits[k], v[i * 2 + k], 1e-4);
}

}  // namespace
}  // namespace graft::app
