// RNN / GRU / LSTM run by the fused recurrence kernel ("rnn_scan") against the same models with fused
// composites off (the recurrence unrolled into primitives) and against a plain-loop LSTM written here
// from the ONNX formulas, over directions, sequence_lens, peepholes, clip, linear_before_reset,
// input_forget, initial states and layout 1.
#include <gtest/gtest.h>

#include <cmath>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;

struct Spec {
  std::string op = "LSTM";
  std::string direction = "forward";
  int64_t seq = 5, batch = 3, input = 4, hidden = 6;
  bool bias = true, lens = false, initial = false, peep = false, clip = false, lbr = false, input_forget = false;
  bool weights_as_input = false;  // R fed at run time (not a compile-time constant the kernel can pack)
  int64_t layout = 0;
};

int gates(const Spec& s) { return s.op == "RNN" ? 1 : s.op == "GRU" ? 3 : 4; }

Model build(const Spec& s) {
  const int64_t nd = s.direction == "bidirectional" ? 2 : 1, g = gates(s), H = s.hidden;
  ModelBuilder b(14);
  std::vector<testing::DimSpec> xdims = s.layout ? std::vector<testing::DimSpec>{s.batch, s.seq, s.input}
                                                 : std::vector<testing::DimSpec>{s.seq, s.batch, s.input};
  b.input("X", DType::F32, xdims);
  b.initializer("W", testing::random_tensor(Shape{nd, g * H, s.input}, 11, -0.6f, 0.6f));
  if (s.weights_as_input)
    b.input("R", DType::F32, {nd, int64_t(g) * H, H});
  else
    b.initializer("R", testing::random_tensor(Shape{nd, g * H, H}, 12, -0.6f, 0.6f));
  std::vector<std::string> in{"X", "W", "R", "", "", "", "", ""};
  if (s.bias) {
    b.initializer("B", testing::random_tensor(Shape{nd, 2 * g * H}, 13, -0.3f, 0.3f));
    in[3] = "B";
  }
  if (s.lens) {
    std::vector<int32_t> l;
    for (int64_t i = 0; i < s.batch; ++i) l.push_back(int32_t(std::max<int64_t>(1, s.seq - i * 2)));
    b.initializer("L", Tensor::from_vector(l, Shape{s.batch}));
    in[4] = "L";
  }
  if (s.initial) {
    Shape st = s.layout ? Shape{s.batch, nd, H} : Shape{nd, s.batch, H};
    b.initializer("H0", testing::random_tensor(st, 14));
    in[5] = "H0";
    if (s.op == "LSTM") {
      b.initializer("C0", testing::random_tensor(st, 15));
      in[6] = "C0";
    }
  }
  if (s.peep) {
    b.initializer("P", testing::random_tensor(Shape{nd, 3 * H}, 16, -0.5f, 0.5f));
    in[7] = "P";
  }
  while (!in.empty() && in.back().empty()) in.pop_back();
  std::vector<std::string> outs{"Y", "Y_h"};
  if (s.op == "LSTM") outs.push_back("Y_c");
  for (const auto& o : outs) b.output(o, DType::F32);
  auto& n = b.node(s.op, in, outs);
  ModelBuilder::attr(n, "hidden_size", H);
  ModelBuilder::attr(n, "direction", s.direction);
  if (s.layout) ModelBuilder::attr(n, "layout", s.layout);
  if (s.clip) ModelBuilder::attr(n, "clip", 0.8);
  if (s.lbr) ModelBuilder::attr(n, "linear_before_reset", 1);
  if (s.input_forget) ModelBuilder::attr(n, "input_forget", 1);
  return b.model();
}

std::map<std::string, Tensor> run(const Model& m, const Tensor& x, bool fused) {
  SessionOptions o;
  o.compile.use_fused_composites = fused;
  InferenceSession s(m, o);
  std::map<std::string, Tensor> in{{"X", x}};
  for (const auto& i : m.inputs())
    if (i.name == "R") in["R"] = testing::random_tensor(Shape{i.dims->at(0).value, i.dims->at(1).value, i.dims->at(2).value}, 12, -0.6f, 0.6f);
  return s.run(in);
}

double max_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double m = 0;
  for (int64_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a.value_as_double(i) - b.value_as_double(i)));
  return m;
}

void compare(const Spec& s) {
  SCOPED_TRACE(s.op + " " + s.direction + (s.lens ? " lens" : "") + (s.initial ? " initial" : "") +
               (s.peep ? " peep" : "") + (s.clip ? " clip" : "") + (s.lbr ? " lbr" : "") +
               (s.input_forget ? " input_forget" : "") + (s.layout ? " layout1" : "") + (s.bias ? "" : " nobias"));
  Model m = build(s);
  Shape xs = s.layout ? Shape{s.batch, s.seq, s.input} : Shape{s.seq, s.batch, s.input};
  Tensor x = testing::random_tensor(xs, 21);
  auto fused = run(m, x, true), plain = run(m, x, false);
  for (const auto& [name, t] : plain) EXPECT_LT(max_diff(fused.at(name), t), 2e-6) << name;
}

TEST(RecurrentFused, MatchesTheUnrolledGraphForEveryCellAndOption) {
  for (std::string op : {"LSTM", "GRU", "RNN"})
    for (std::string dir : {"forward", "reverse", "bidirectional"}) {
      Spec s;
      s.op = op;
      s.direction = dir;
      compare(s);
      s.lens = true;
      s.initial = true;
      compare(s);
      s.clip = true;
      s.layout = 1;
      compare(s);
    }
  Spec lstm;
  lstm.peep = true;
  lstm.initial = true;
  compare(lstm);
  lstm.input_forget = true;
  lstm.bias = false;
  compare(lstm);
  for (std::string op : {"LSTM", "GRU"}) {
    Spec w;
    w.op = op;
    w.weights_as_input = true;
    w.lens = true;
    compare(w);
  }
  Spec gru;
  gru.op = "GRU";
  gru.lbr = true;
  compare(gru);
  gru.lens = true;
  gru.direction = "bidirectional";
  compare(gru);
}

// An LSTM forward step from the ONNX formulas (no peepholes): gates i, o, f, c.
TEST(RecurrentFused, LstmMatchesPlainLoops) {
  Spec s;
  s.seq = 4, s.batch = 2, s.input = 3, s.hidden = 5;
  Model m = build(s);
  Tensor x = testing::random_tensor(Shape{s.seq, s.batch, s.input}, 21);
  Tensor y = run(m, x, true).at("Y");
  Tensor W = m.initializer("W"), R = m.initializer("R"), B = m.initializer("B");
  const int64_t H = s.hidden;
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  for (int64_t b = 0; b < s.batch; ++b) {
    std::vector<double> h(size_t(H), 0), c(size_t(H), 0);
    for (int64_t t = 0; t < s.seq; ++t) {
      std::vector<double> pre(size_t(4 * H));
      for (int64_t j = 0; j < 4 * H; ++j) {
        double v = B.at<float>({0, j}) + B.at<float>({0, 4 * H + j});
        for (int64_t k = 0; k < s.input; ++k) v += double(x.at<float>({t, b, k})) * W.at<float>({0, j, k});
        for (int64_t k = 0; k < H; ++k) v += h[size_t(k)] * R.at<float>({0, j, k});
        pre[size_t(j)] = v;
      }
      for (int64_t j = 0; j < H; ++j) {
        double i = sig(pre[size_t(j)]), o = sig(pre[size_t(H + j)]), f = sig(pre[size_t(2 * H + j)]);
        c[size_t(j)] = f * c[size_t(j)] + i * std::tanh(pre[size_t(3 * H + j)]);
        h[size_t(j)] = o * std::tanh(c[size_t(j)]);
        EXPECT_NEAR(y.at<float>({t, 0, b, j}), h[size_t(j)], 2e-6) << "t " << t << " b " << b << " j " << j;
      }
    }
  }
}

}  // namespace
}  // namespace graft::onnx
