// graft finetune (text files -> a fine-tuned ONNX model) and graft classify (texts -> labels with such a
// model). The pipelines are graft::app::finetune (graft/app/finetune.h) and graft::app::TextClassifier
// (graft/app/classifier.h); this file is their command line.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "commands.h"
#include "common.h"
#include "graft/app/classifier.h"
#include "graft/app/demo.h"
#include "graft/app/finetune.h"
#include "graft/app/sentence_embedder.h"
#include "graft/train/onnx_bridge.h"

namespace graft::cli {

CLI::App* add_finetune_command(CLI::App& app, FinetuneArgs& a) {
  auto* c = app.add_subcommand("finetune", "fine-tune an ONNX encoder on text data (classify or embed) into a new ONNX model");
  c->add_option("--model", a.model, "a .onnx file, a folder laid out like a Hub repo, or a Hub repo id")->type_name("MODEL");
  c->add_option("--tokenizer", a.tokenizer, "tokenizer.json, a folder or a repo id (default: the model's)")->type_name("SPEC");
  c->add_option("--revision", a.revision, "branch, tag or commit of a Hub repo (default main)")->type_name("REV");
  c->add_option("--task", a.task, "classify (a linear head, cross entropy) or embed (in-batch negatives)")
      ->type_name("TASK")->check(CLI::IsMember({"classify", "embed"}));
  c->add_option("--train", a.train, "training data: .csv, .tsv (header row) or .jsonl")->type_name("FILE");
  c->add_option("--eval", a.eval, "evaluation data, evaluated after every epoch")->type_name("FILE");
  c->add_option("--text-column", a.text_column, "the column of the texts (default text)")->type_name("COL");
  c->add_option("--text-pair-column", a.text_pair_column,
                "classify: a second text per row (a pair); embed: each text's positive (required)")->type_name("COL");
  c->add_option("--label-column", a.label_column, "classify: the column of the labels, text or integers (default label)")
      ->type_name("COL");
  c->add_option("--max-length", a.max_length, "truncate texts to N tokens (default 128)")->type_name("N");
  c->add_option("--batch", a.batch, "examples per update (default 32)")->type_name("N");
  auto* epochs = c->add_option("--epochs", a.epochs, "passes over the training data (default 3; --demo: 5)")
                     ->type_name("N")->each([&a](const std::string&) { a.epochs_given = true; });
  c->add_option("--max-steps", a.max_steps, "this many updates instead of --epochs")->type_name("N")->excludes(epochs);
  c->add_option("--lr", a.lr, "peak learning rate of AdamW (default 5e-5)")->type_name("LR");
  c->add_option("--weight-decay", a.weight_decay, "AdamW weight decay, not on biases and norms (default 0.01)")->type_name("W");
  c->add_option("--warmup", a.warmup, "fraction of the updates with a rising learning rate (default 0.1)")->type_name("F");
  c->add_option("--pooling", a.pooling, "mean (default) or cls")->type_name("MODE")->check(CLI::IsMember({"mean", "cls"}));
  c->add_option("--seed", a.seed, "seed of the head's initialization, shuffling and dropout (default 42)")->type_name("S");
  c->add_option("--early-stopping", a.patience, "stop after N evaluations without improvement (default 0: never)")
      ->type_name("N");
  c->add_option("--trainable", a.trainable, "train only the initializers whose name matches REGEX (repeatable)")
      ->type_name("REGEX");
  c->add_option("--freeze", a.freeze, "do not train initializers whose name matches REGEX (repeatable)")->type_name("REGEX");
  c->add_flag("--lift-constants{" + std::to_string(train::kDefaultLiftConstantsMinElements) + "}", a.lift_constants,
              "also train the weights of Constant nodes with at least N float elements (default N: " +
                  std::to_string(train::kDefaultLiftConstantsMinElements) + "), written back into the nodes")
      ->type_name("[=N]");
  c->add_option("--lora-rank", a.lora_rank, "train low-rank adapters of rank R instead of the weights (merged on export; "
                "OUT/adapters.safetensors holds them alone)")->type_name("R");
  c->add_option("--lora-alpha", a.lora_alpha, "LoRA scale numerator: adapters add (alpha / R) A B (default 16)")->type_name("A");
  c->add_option("--lora-targets", a.lora_targets, "initializers (regex, full match) of MatMul/Gemm weights to adapt "
                "(default: all)")->type_name("REGEX");
  c->add_flag("--resume", a.resume, "continue an interrupted run from OUT/checkpoints");
  c->add_option("--output-dir", a.output_dir, "where model.onnx, tokenizer.json, labels.json, metrics.jsonl and "
                "training.svg go (created when missing)")->type_name("OUT")->required();
  c->add_flag("--demo", a.demo, "fine-tune graft's built-in demo encoder on a generated topic dataset (written to OUT/demo)");
  c->add_flag("--json", a.json, "print the summary as one JSON object");
  add_threads_option(c, a.threads);
  add_symlinks_flag(c, a.allow_symlinks);
  return c;
}

int run_finetune(const FinetuneArgs& a) {
  app::FinetuneOptions o;
  o.output_dir = prepare_output_dir("--output-dir", a.output_dir);
  if (a.demo) {
    if (!a.model.empty() || !a.train.empty() || !a.eval.empty())
      usage_error("--demo brings its own model and data; give no --model, --train or --eval with it");
    app::DemoFiles d = app::write_demo(o.output_dir / "demo");
    o.model = d.model.string();
    o.train_file = d.train;
    o.eval_file = d.eval;
    // A small model with random "pretrained" weights wants larger and more steps than a pretrained one.
    o.lr = 2e-2;
    o.epochs = 5;
  } else {
    o.model = a.model;
    o.train_file = a.train;
    o.eval_file = a.eval;
    if (a.lr) o.lr = *a.lr;
  }
  if (a.demo && a.lr) o.lr = *a.lr;
  o.tokenizer = a.tokenizer;
  o.revision = a.revision;
  o.load.allow_external_symlinks = a.allow_symlinks;
  o.task = app::parse_finetune_task(a.task);
  o.text_column = a.text_column;
  o.text_pair_column = a.text_pair_column;
  o.label_column = a.label_column;
  if (a.max_length < 1) usage_error("--max-length ", a.max_length, ": must be at least 1");
  o.max_length = size_t(a.max_length);
  o.batch_size = a.batch;
  if (!a.demo || a.epochs_given) o.epochs = a.epochs;
  if (a.max_steps != -1 && a.max_steps < 1) usage_error("--max-steps ", a.max_steps, ": must be at least 1");
  o.max_steps = a.max_steps == -1 ? 0 : a.max_steps;
  o.weight_decay = a.weight_decay;
  o.warmup = a.warmup;
  o.pooling = app::parse_pooling(a.pooling);
  o.seed = a.seed;
  o.early_stopping_patience = a.patience;
  o.train = a.trainable;
  o.freeze = a.freeze;
  o.lift_constants = a.lift_constants;
  o.resume = a.resume;
  if (a.lora_rank != -1 && a.lora_rank < 1) usage_error("--lora-rank ", a.lora_rank, ": must be at least 1");
  o.lora_rank = a.lora_rank == -1 ? 0 : a.lora_rank;
  o.lora_alpha = a.lora_alpha;
  o.lora_targets = a.lora_targets;
  o.threads = checked_threads(a.threads);
  if (distributed::launched_by_mpi()) {
    // mpirun -np N graft finetune ...: data parallel over the MPI job. By default the cores are shared
    // out among the ranks on this machine, so they do not oversubscribe them.
    o.communicator = distributed::mpi_world();
    if (o.threads == 0) o.threads = distributed::default_threads_per_member();
  }
  app::FinetuneResult r = app::finetune(o);
  if (o.communicator && o.communicator->rank() != 0) return 0;  // rank 0 reports

  nlohmann::ordered_json j;
  j["model"] = r.model_path.string();
  j["steps"] = r.steps;
  j["trainable_parameters"] = r.trainable_parameters;
  if (!r.labels.empty()) j["labels"] = r.labels;
  if (!r.losses.empty()) j["final_loss"] = r.losses.back();
  if (r.best) {
    nlohmann::ordered_json b{{"step", r.best_step}, {"eval_loss", r.best->loss}};
    for (const auto& [k, v] : r.best->metrics) b[k] = std::isfinite(v) ? nlohmann::ordered_json(v) : nullptr;
    j["best_eval"] = b;
  }
  j["stopped_early"] = r.stopped_early;
  if (a.json) {
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::cout << "wrote " << r.model_path.string() << " (+ tokenizer.json" << (r.labels.empty() ? "" : ", labels.json")
            << ", metrics.jsonl, training.svg) after " << r.steps << " updates"
            << (r.stopped_early ? " (stopped early)" : "") << "\n";
  if (r.best) {
    std::cout << "best eval at update " << r.best_step << ":";
    for (const auto& [k, v] : r.best->metrics) std::printf(" %s %.4f", k.c_str(), v);
    std::cout << std::endl;
  }
  if (a.demo)
    std::cout << "try: graft classify --model " << o.output_dir.string()
              << " \"The referee stopped the match after the goal\" \"Thunder and rain in the forecast\"\n";
  return 0;
}

CLI::App* add_classify_command(CLI::App& app, ClassifyArgs& a) {
  auto* c = app.add_subcommand("classify", "classify texts with a model folder from graft finetune --task classify");
  c->add_option("--model", a.model, "a folder with model.onnx, tokenizer.json and labels.json (or a Hub repo id)")
      ->type_name("DIR")->required();
  c->add_option("TEXT", a.texts, "texts to classify")->type_name("TEXT");
  c->add_option("--text-file,--input", a.text_file, "read texts from FILE, one per line ('-': stdin)")->type_name("FILE");
  c->add_flag("--json", a.json, "one JSON object per text: text, label, probabilities");
  c->add_option("--max-length", a.max_length, "truncate texts to N tokens (default: the length it was trained with)")
      ->type_name("N");
  c->add_option("--batch", a.batch, "texts per model run (default 32)")->type_name("N");
  add_compute_options(c, a.threads, a.device, a.precision, a.allow_symlinks);
  return c;
}

int run_classify(const ClassifyArgs& a) {
  if (a.batch < 1) usage_error("--batch ", a.batch, ": must be at least 1");
  if (a.max_length != -1 && a.max_length < 1) usage_error("--max-length ", a.max_length, ": must be at least 1");
  if (!a.texts.empty() && !a.text_file.empty()) usage_error("give texts as arguments or with --text-file, not both");
  if (a.texts.empty() && a.text_file.empty()) usage_error("no texts: give TEXT arguments or --text-file FILE ('-' for stdin)");
  app::TextClassifierOptions o;
  o.batch_size = size_t(a.batch);
  if (a.max_length != -1) o.max_length = size_t(a.max_length);
  o.session = session_options(a.threads, a.device, a.precision);
  o.load.allow_external_symlinks = a.allow_symlinks;
  std::vector<std::string> texts = a.texts.empty() ? read_text_lines("--text-file", a.text_file) : a.texts;
  app::TextClassifier classifier = app::TextClassifier::load(a.model, o);
  std::vector<app::Classification> out = classifier.classify(texts);
  const auto& labels = classifier.labels();
  for (size_t i = 0; i < out.size(); ++i) {
    if (a.json) {
      std::cout << app::classification_json(texts[i], out[i], labels) << "\n";
      continue;
    }
    std::printf("%s %.3f", labels[out[i].label].c_str(), out[i].probabilities[out[i].label]);
    std::string others;
    for (size_t k = 0; k < labels.size(); ++k)
      if (k != out[i].label) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.3f", out[i].probabilities[k]);
        others += (others.empty() ? "" : ", ") + labels[k] + " " + buf;
      }
    std::printf(" (%s)\t%s\n", others.c_str(), texts[i].c_str());
  }
  std::cout.flush();
  return 0;
}

}  // namespace graft::cli
