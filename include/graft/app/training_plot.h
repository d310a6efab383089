#pragma once
// OUT/training.svg of `graft finetune`: the training loss per update (raw, faint, and smoothed) on the left
// axis and the eval metrics (accuracy, macro-F1, cosine gap, ...) at their steps on the right axis, with
// ticks, axis labels and a legend. Drawn by graft as plain SVG, so any browser shows it.
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace graft::app {

struct TrainingCurves {
  std::vector<std::pair<double, double>> loss;                          // (update, training loss)
  std::map<std::string, std::vector<std::pair<double, double>>> evals;  // metric -> (update, value)
  std::string title;
};

// The SVG document. Smoothing: an exponential moving average with a window of about 1/20 of the updates
// (debiased as TensorBoard does, so the curve starts at the first loss).
std::string training_plot_svg(const TrainingCurves& curves);

// Reads the finetune logs (train_log.jsonl: {"step", "loss"} per update; metrics.jsonl: one object per
// eval, every numeric key but step/epoch/examples is a metric; eval_loss is drawn on the loss axis) and
// writes the plot atomically. Missing logs draw an empty plot.
void write_training_plot(const std::filesystem::path& svg, const std::filesystem::path& train_log,
                         const std::filesystem::path& metrics, const std::string& title);

}  // namespace graft::app
