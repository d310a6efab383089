// The training plot as SVG (graft/app/training_plot.h).
#include "graft/app/training_plot.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

#include "graft/app/sentence_embedder.h"

namespace graft::app {

namespace {

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

// "Nice" tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten, about `target` of them.
std::vector<double> ticks(double lo, double hi, int target = 6) {
  if (!(hi > lo)) hi = lo + 1;
  double raw = (hi - lo) / target, p = std::pow(10.0, std::floor(std::log10(raw)));
  double step = raw / p < 1.5 ? p : raw / p < 3.5 ? 2 * p : raw / p < 7.5 ? 5 * p : 10 * p;
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  return t;
}

std::string label(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return o;
}

const char* kColors[] = {"#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"};

}  // namespace

std::string training_plot_svg(const TrainingCurves& c) {
  const double W = 800, H = 440, left = 70, right = 70, top = 50, bottom = 60;
  const double pw = W - left - right, ph = H - top - bottom;
  double xmax = 1, lmin = std::numeric_limits<double>::infinity(), lmax = -lmin;
  auto widen = [&](double x, double y) {
    xmax = std::max(xmax, x);
    if (std::isfinite(y)) lmin = std::min(lmin, y), lmax = std::max(lmax, y);
  };
  for (auto [x, y] : c.loss) widen(x, y);
  if (auto it = c.evals.find("eval_loss"); it != c.evals.end())
    for (auto [x, y] : it->second) widen(x, y);
  if (!(lmax >= lmin)) lmin = 0, lmax = 1;
  lmin = std::min(0.0, lmin);
  double mmin = 0, mmax = 1;  // metrics: [0, 1] unless they leave it
  for (const auto& [name, pts] : c.evals)
    if (name != "eval_loss")
      for (auto [x, y] : pts) {
        xmax = std::max(xmax, x);
        if (std::isfinite(y)) mmin = std::min(mmin, y), mmax = std::max(mmax, y);
      }
  auto tx = ticks(0, xmax), tl = ticks(lmin, lmax), tm = ticks(mmin, mmax, 5);
  xmax = std::max(xmax, tx.back()), lmax = std::max(lmax, tl.back()), mmax = std::max(mmax, tm.back());
  lmin = std::min(lmin, tl.front()), mmin = std::min(mmin, tm.front());
  auto X = [&](double x) { return left + pw * x / xmax; };
  auto YL = [&](double y) { return top + ph * (1 - (y - lmin) / (lmax - lmin)); };
  auto YM = [&](double y) { return top + ph * (1 - (y - mmin) / (mmax - mmin)); };

  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(W) + "\" height=\"" + num(H) +
                  "\" viewBox=\"0 0 " + num(W) + " " + num(H) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + num(W / 2) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" + escape(c.title) + "</text>\n";
  // Grid, ticks and tick labels.
  for (double v : tx) {
    s += "<line x1=\"" + num(X(v)) + "\" y1=\"" + num(top) + "\" x2=\"" + num(X(v)) + "\" y2=\"" + num(top + ph) +
         "\" stroke=\"#eee\"/>\n";
    s += "<text x=\"" + num(X(v)) + "\" y=\"" + num(top + ph + 18) + "\" text-anchor=\"middle\">" + label(v) + "</text>\n";
  }
  for (double v : tl) {
    s += "<line x1=\"" + num(left) + "\" y1=\"" + num(YL(v)) + "\" x2=\"" + num(left + pw) + "\" y2=\"" + num(YL(v)) +
         "\" stroke=\"#eee\"/>\n";
    s += "<line x1=\"" + num(left - 5) + "\" y1=\"" + num(YL(v)) + "\" x2=\"" + num(left) + "\" y2=\"" + num(YL(v)) +
         "\" stroke=\"black\"/>\n";
    s += "<text x=\"" + num(left - 8) + "\" y=\"" + num(YL(v) + 4) + "\" text-anchor=\"end\">" + label(v) + "</text>\n";
  }
  for (double v : tm) {
    s += "<line x1=\"" + num(left + pw) + "\" y1=\"" + num(YM(v)) + "\" x2=\"" + num(left + pw + 5) + "\" y2=\"" +
         num(YM(v)) + "\" stroke=\"black\"/>\n";
    s += "<text x=\"" + num(left + pw + 8) + "\" y=\"" + num(YM(v) + 4) + "\">" + label(v) + "</text>\n";
  }
  s += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(pw) + "\" height=\"" + num(ph) +
       "\" fill=\"none\" stroke=\"black\"/>\n";
  s += "<text x=\"" + num(left + pw / 2) + "\" y=\"" + num(H - 15) + "\" text-anchor=\"middle\">update (optimizer step)</text>\n";
  s += "<text transform=\"translate(18," + num(top + ph / 2) + ") rotate(-90)\" text-anchor=\"middle\">loss</text>\n";
  s += "<text transform=\"translate(" + num(W - 14) + "," + num(top + ph / 2) +
       ") rotate(90)\" text-anchor=\"middle\">eval metric</text>\n";

  auto polyline = [&](const std::vector<std::pair<double, double>>& pts, auto Y, const std::string& style) {
    std::string p;
    for (auto [x, y] : pts)
      if (std::isfinite(y)) p += num(X(x)) + "," + num(Y(y)) + " ";
    return "<polyline fill=\"none\" " + style + " points=\"" + p + "\"/>\n";
  };
  std::vector<std::pair<std::string, std::string>> legend;  // (color, text)
  if (!c.loss.empty()) {
    s += polyline(c.loss, YL, "stroke=\"#1f77b4\" stroke-opacity=\"0.25\" stroke-width=\"1\"");
    // Exponential moving average over about 1/20 of the run, debiased (TensorBoard's smoothing).
    double beta = 1.0 - 1.0 / std::max(1.0, double(c.loss.size()) / 20.0), avg = 0, weight = 0;
    std::vector<std::pair<double, double>> smooth;
    for (auto [x, y] : c.loss) {
      if (!std::isfinite(y)) continue;
      avg = beta * avg + (1 - beta) * y, weight = beta * weight + (1 - beta);
      smooth.emplace_back(x, avg / weight);
    }
    s += polyline(smooth, YL, "stroke=\"#1f77b4\" stroke-width=\"2\"");
    legend.emplace_back("#1f77b4", "training loss (smoothed)");
  }
  size_t color = 0;
  for (const auto& [name, pts] : c.evals) {
    bool on_loss_axis = name == "eval_loss";
    std::string col = on_loss_axis ? "#555555" : kColors[color++ % 6];
    auto Y = [&](double y) { return on_loss_axis ? YL(y) : YM(y); };
    std::string line;
    for (auto [x, y] : pts)
      if (std::isfinite(y)) line += num(X(x)) + "," + num(Y(y)) + " ";
    s += "<polyline fill=\"none\" stroke=\"" + col + "\" stroke-width=\"2\"" +
         (on_loss_axis ? " stroke-dasharray=\"6,4\"" : "") + " points=\"" + line + "\"/>\n";
    for (auto [x, y] : pts)
      if (std::isfinite(y))
        s += "<circle cx=\"" + num(X(x)) + "\" cy=\"" + num(Y(y)) + "\" r=\"3.5\" fill=\"" + col + "\"/>\n";
    legend.emplace_back(col, name + (on_loss_axis ? " (left axis)" : " (right axis)"));
  }
  for (size_t i = 0; i < legend.size(); ++i) {
    double y = top + 14 + 18 * double(i), x = left + pw - 210;
    s += "<rect x=\"" + num(x - 6) + "\" y=\"" + num(y - 12) + "\" width=\"212\" height=\"18\" fill=\"white\" fill-opacity=\"0.8\"/>\n";
    s += "<line x1=\"" + num(x) + "\" y1=\"" + num(y - 4) + "\" x2=\"" + num(x + 22) + "\" y2=\"" + num(y - 4) +
         "\" stroke=\"" + legend[i].first + "\" stroke-width=\"2\"/>\n";
    s += "<text x=\"" + num(x + 28) + "\" y=\"" + num(y) + "\">" + escape(legend[i].second) + "</text>\n";
  }
  return s + "</svg>\n";
}

void write_training_plot(const std::filesystem::path& svg, const std::filesystem::path& train_log,
                         const std::filesystem::path& metrics, const std::string& title) {
  TrainingCurves c;
  c.title = title;
  auto each_line = [](const std::filesystem::path& p, auto&& f) {
    std::ifstream in(p);
    std::string line;
    while (std::getline(in, line)) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object()) f(j);
    }
  };
  each_line(train_log, [&](const nlohmann::json& j) {
    if (j.contains("step") && j.contains("loss") && j["loss"].is_number())
      c.loss.emplace_back(j["step"].get<double>(), j["loss"].get<double>());
  });
  each_line(metrics, [&](const nlohmann::json& j) {
    if (!j.contains("step")) return;
    double step = j["step"].get<double>();
    for (auto& [k, v] : j.items())
      if (k != "step" && k != "epoch" && k != "examples" && v.is_number()) c.evals[k].emplace_back(step, v.get<double>());
  });
  write_text_file(svg, training_plot_svg(c));
}

}  // namespace graft::app
