// Random ops: RandomUniform, RandomNormal, RandomUniformLike, RandomNormalLike, Bernoulli and Multinomial, and
// Dropout (identity in inference, a seeded mask in training).
//
// graft has no stateful random primitive, so values come from a counter-based generator written with
// integer graph ops: element i of a draw is splitmix64(key + (i + 1) * golden), a pure function of a u64
// key. The key is
//   * with a `seed` attribute: derived from the seed alone, so the values are the same in every trace,
//     session and run (two nodes with one seed and shape draw the same values);
//   * without one: TraceOptions::seed, the node name and TraceOptions::seed_node (a graph scalar, e.g. a
//     step counter) when set; when TraceOptions::seed is 0 and no seed_node is given, a nonce fresh for
//     every trace is mixed in as well, so separate traces (sessions, input signatures) draw different
//     values. A compiled executable is a pure function: it draws fresh values per run only through a
//     node that changes per run — TraceOptions::run_counter, which InferenceSession feeds (a run counter
//     mixed into unseeded ops of the main graph), or a seed_node the caller varies.
// The values do not follow any other library's generator (NumPy's, ONNX Runtime's): only distributions,
// shapes, dtypes and determinism for a seed can be compared.
//
// The converters are registered with fold = false: a random source is never evaluated while tracing.
#include "onnx/ops/random.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <numbers>
#include <random>

namespace graft::onnx {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

uint64_t splitmix64(uint64_t z) {
  z += kGolden;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Hash bits [n] (u64) for element indices i * stride + offset.
Node hash_bits(Graph& g, Node key, int64_t n, uint64_t stride = 1, uint64_t offset = 0) {
  auto u64 = [&](uint64_t v) { return g.scalar(v); };
  Node idx = Iota(g, DType::U64, Shape{n}, 0);
  if (stride != 1) idx = idx * u64(stride);
  Node z = key + (idx + u64(offset + 1)) * u64(kGolden);
  z = BitwiseXor(z, ShiftRight(z, u64(30))) * u64(0xBF58476D1CE4E5B9ull);
  z = BitwiseXor(z, ShiftRight(z, u64(27))) * u64(0x94D049BB133111EBull);
  return BitwiseXor(z, ShiftRight(z, u64(31)));
}

// Uniform [0, 1) of `shape` in f64 (53 bits) or f32 (24 bits); `open_low` gives (0, 1] instead (for logs).
Node uniform(Graph& g, Node key, const Shape& shape, DType dt, uint64_t stride = 1, uint64_t offset = 0,
             bool open_low = false) {
  Node z = hash_bits(g, key, shape.size(), stride, offset);
  auto u64 = [&](uint64_t v) { return g.scalar(v); };
  Node u;
  if (dt == DType::F64) {
    Node b = ShiftRight(z, u64(11));
    if (open_low) b = b + u64(1);
    u = Convert(b, DType::F64) * (1.0 / 9007199254740992.0);
  } else {
    Node b = ShiftRight(z, u64(40));
    if (open_low) b = b + u64(1);
    u = Convert(b, DType::F32) * (1.0 / 16777216.0);
  }
  return Reshape(u, shape.dims());
}

// A nonce that differs for every trace of this process (and between processes).
uint64_t trace_nonce() {
  static std::atomic<uint64_t> counter{[] {
    std::random_device rd;
    return (uint64_t(rd()) << 32) ^ uint64_t(rd());
  }()};
  return splitmix64(counter.fetch_add(1));
}

// The key of one random node (see the file comment).
Node random_key(OpContext& c) {
  Graph& g = c.graph();
  if (const auto* a = c.attr("seed")) {
    double seed = a->type() == ::onnx::AttributeProto::FLOAT ? double(a->f()) : double(a->i());
    uint64_t bits;
    std::memcpy(&bits, &seed, sizeof bits);
    return g.scalar(splitmix64(bits ^ 0x5EEDull));
  }
  const TraceOptions* opts = c.tracer().state().options;
  uint64_t salt = (opts ? opts->seed : 0) ^ fnv1a(c.name());
  bool fixed = opts && (opts->seed != 0 || opts->seed_node);
  if (!fixed) salt ^= trace_nonce();
  Node key = mix_seed_node(c, g.scalar(splitmix64(salt)));
  if (!fixed && opts && opts->run_counter && opts->run_counter->graph() == &g) {
    Node run = *opts->run_counter;
    if (run.dtype() != DType::U64) run = Convert(run, DType::U64);
    if (run.rank() != 0) run = Reshape(run, {});
    key = key + run * g.scalar(uint64_t(0x9E3779B97F4A7C15ull));
  }
  return key;
}

DType float_dtype_attr(OpContext& c, DType def) {
  DType dt = c.has_attr("dtype") ? onnx_dtype_attr(c, c.attr_int("dtype", 1)) : def;
  if (!is_floating(dt)) c.fail("dtype must be a floating-point type, got ", dtype_name(dt));
  return dt;
}

// The dtype the values are computed in before converting to `dt`.
DType compute_dtype(DType dt) { return dt == DType::F64 ? DType::F64 : DType::F32; }

Node draw_uniform(OpContext& c, const Shape& shape, DType dt) {
  double lo = c.attr_float("low", 0.0), hi = c.attr_float("high", 1.0);
  DType cd = compute_dtype(dt);
  Node u = uniform(c.graph(), random_key(c), shape, cd);
  if (lo != 0.0 || hi != 1.0) u = u * (hi - lo) + lo;
  return Convert(u, dt);
}

// Box-Muller: sqrt(-2 ln u1) cos(2 pi u2), u1 in (0, 1], u2 in [0, 1), from the even and odd hash streams.
Node draw_normal(OpContext& c, const Shape& shape, DType dt) {
  double mean = c.attr_float("mean", 0.0), scale = c.attr_float("scale", 1.0);
  DType cd = compute_dtype(dt);
  Graph& g = c.graph();
  Node key = random_key(c);
  Node u1 = uniform(g, key, shape, cd, 2, 0, true), u2 = uniform(g, key, shape, cd, 2, 1);
  Node z = Sqrt(Log(u1) * -2.0) * Cos(u2 * (2 * std::numbers::pi));
  if (scale != 1.0) z = z * scale;
  if (mean != 0.0) z = z + mean;
  return Convert(z, dt);
}

Shape shape_attr(OpContext& c) {
  if (!c.has_attr("shape")) c.fail("the shape attribute is required");
  std::vector<int64_t> dims = c.attr_ints("shape");
  for (int64_t d : dims)
    if (d < 0) c.fail("shape entries must be non-negative, got ", d);
  return Shape(dims);
}

void random_uniform_op(OpContext& c) {
  c.set_output(0, draw_uniform(c, shape_attr(c), float_dtype_attr(c, DType::F32)));
}

void random_normal_op(OpContext& c) {
  c.set_output(0, draw_normal(c, shape_attr(c), float_dtype_attr(c, DType::F32)));
}

void random_uniform_like_op(OpContext& c) {
  Node x = c.input(0);
  c.set_output(0, draw_uniform(c, x.shape(), float_dtype_attr(c, x.dtype())));
}

void random_normal_like_op(OpContext& c) {
  Node x = c.input(0);
  c.set_output(0, draw_normal(c, x.shape(), float_dtype_attr(c, x.dtype())));
}

// Bernoulli: 1 where u < p for a uniform u in [0, 1), else 0; output dtype from `dtype` (default: p's).
void bernoulli_op(OpContext& c) {
  Node p = c.input(0);
  if (!is_floating(p.dtype())) c.fail("input must be floating-point probabilities, got ", dtype_name(p.dtype()));
  DType out = c.has_attr("dtype") ? onnx_dtype_attr(c, c.attr_int("dtype", 1)) : p.dtype();
  DType cd = compute_dtype(p.dtype());
  Node u = uniform(c.graph(), random_key(c), p.shape(), cd);
  Node hit = Less(u, Convert(p, cd));
  c.set_output(0, Convert(hit, out));
}

// Multinomial: input [batch, classes] of unnormalized log-probabilities; each of the sample_size draws per row
// is the class k with cdf[k-1] <= u * total < cdf[k] for a uniform u (cdf of exp(x - max), in f64).
// Classes of probability 0 (x = -inf) are never drawn.
void multinomial_op(OpContext& c) {
  Node x = c.input(0);
  if (x.rank() != 2) c.fail("input must be [batch_size, class_size], got ", x.shape());
  if (!is_floating(x.dtype())) c.fail("input must be floating-point log-probabilities, got ", dtype_name(x.dtype()));
  int64_t S = c.attr_int("sample_size", 1);
  if (S < 0) c.fail("sample_size must be non-negative, got ", S);
  DType out = onnx_dtype_attr(c, c.attr_int("dtype", 6));
  if (out != DType::I32 && out != DType::I64) c.fail("dtype must be int32 or int64, got ", dtype_name(out));
  int64_t B = x.dim(0), K = x.dim(1);
  if (K == 0) c.fail("class_size must be positive");
  Node xf = Convert(x, DType::F64);
  Node p = Exp(xf - ReduceMax(xf, {1}, true));
  Node cdf = CumSum(p, 1);                                     // [B, K]
  Node total = SliceAxis(cdf, 1, K - 1, K);                   // [B, 1]
  Node u = uniform(c.graph(), random_key(c), Shape{B, S}, DType::F64) * total;  // [B, S]
  Node below = LessEqual(Reshape(cdf, {B, 1, K}), ExpandDims(u, 2));            // [B, S, K]
  Node k = ReduceSum(Convert(below, DType::I64), {2});
  k = Min(k, ScalarLike(k, double(K - 1)));
  c.set_output(0, Convert(k, out));
}


// Dropout: identity in inference; in training (training_mode input, or TraceOptions::training when absent)
// an inverted-dropout mask: keep an element when its hash-uniform u >= ratio and scale kept ones by
// 1 / (1 - ratio). The mask is deterministic for (TraceOptions::seed [+ seed_node], the `seed` attribute,
// the node name, element index).
void dropout_op(OpContext& c) {
  Node x = c.input(0);
  const TraceOptions* opts = c.tracer().state().options;
  bool training = opts && opts->training;
  if (c.opset() >= 12 && c.has_input(2)) {
    // A graph input specializes the trace on its value (NeedsInputValue); anything else is an error.
    training = c.require_known(2, "training_mode").value_as_double(0) != 0;
  }
  if (c.opset() < 7 && c.attr_int("is_test", 0)) training = false;
  std::optional<double> ratio_k;
  std::optional<Node> ratio_n;
  if (c.opset() >= 12) {
    if (c.has_input(1)) {
      if (const Tensor* t = c.known(1))
        ratio_k = t->value_as_double(0);
      else
        ratio_n = Convert(Reshape(c.input(1), {}), DType::F32);
    } else {
      ratio_k = 0.5;
    }
  } else {
    ratio_k = c.attr_float("ratio", 0.5);
  }
  if (ratio_k && (*ratio_k < 0 || *ratio_k > 1)) c.fail("ratio must be in [0, 1], got ", *ratio_k);
  if (!training || (ratio_k && *ratio_k == 0)) {
    c.set_output(0, x);
    if (c.has_output(1)) c.set_output(1, Full(c.graph(), DType::Bool, x.shape(), 1.0));
    return;
  }
  Graph& g = c.graph();
  uint64_t salt = (opts ? opts->seed : 0) ^ fnv1a(c.name());
  if (auto s = c.attr_int_opt("seed")) salt ^= uint64_t(*s) * 0xD1B54A32D192ED03ull;
  Node key = g.scalar(salt);
  if (opts && opts->seed_node) {
    Node sn = *opts->seed_node;
    if (sn.graph() != &g)
      c.fail("TraceOptions::seed_node belongs to another graph (a Dropout inside a control-flow body cannot use it)");
    if (sn.dtype() != DType::U64) sn = Convert(sn, DType::U64);
    if (sn.rank() != 0) sn = Reshape(sn, {});
    key = key + sn * g.scalar(uint64_t(0x9E3779B97F4A7C15ull));
  }
  Node u = uniform_from_hash(g, key, x.shape());
  Node r = ratio_n ? *ratio_n : g.scalar(float(*ratio_k));
  Node mask = GreaterEqual(u, r);
  Node scale = ratio_n ? Convert(1.0 / (1.0 - *ratio_n), x.dtype())
                       : g.constant(known_scalar_tensor(x.dtype(), *ratio_k < 1 ? 1.0 / (1.0 - *ratio_k) : 0.0));
  c.set_output(0, Select(mask, x * scale, ScalarLike(x, 0)));
  if (c.has_output(1)) c.set_output(1, mask);
}
}  // namespace

Node uniform_from_hash(Graph& g, Node key, const Shape& shape) { return uniform(g, key, shape, DType::F32); }

Node mix_seed_node(OpContext& c, Node key) {
  const TraceOptions* opts = c.tracer().state().options;
  if (!opts || !opts->seed_node) return key;
  Graph& g = c.graph();
  Node sn = *opts->seed_node;
  if (sn.graph() != &g)
    c.fail("TraceOptions::seed_node belongs to another graph (a random op inside a control-flow body cannot use it)");
  if (sn.dtype() != DType::U64) sn = Convert(sn, DType::U64);
  if (sn.rank() != 0) sn = Reshape(sn, {});
  return key + sn * g.scalar(kGolden);
}

void register_random_ops(Registry& r) {
  auto add = [&](const char* op, int since, ConverterFn fn, const char* note) {
    auto& e = r.add("", op, since, std::move(fn));
    e.fold = false;
    e.note = note;
  };
  add("RandomNormal", 1, random_normal_op,
      "counter-based hash generator (no stateful RNG primitive): with `seed`, the same values in every session and "
      "run; without, `TraceOptions::seed`/`seed_node` when set, else fresh per run (InferenceSession feeds a run "
      "counter; ops inside control-flow bodies draw per trace); values do not match NumPy's generator");
  add("RandomUniform", 1, random_uniform_op, "as RandomNormal");
  add("RandomNormalLike", 1, random_normal_like_op, "as RandomNormal");
  add("RandomUniformLike", 1, random_uniform_like_op, "as RandomNormal");
  add("Bernoulli", 15, bernoulli_op, "as RandomNormal; 1 where a uniform draw < p");
  add("Multinomial", 7, multinomial_op, "as RandomNormal; inverse-CDF sampling of softmax(input)");
  r.add("", "Dropout", 1, dropout_op).note = "identity in inference; TraceOptions::training: seeded inverted dropout";
}

}  // namespace graft::onnx
