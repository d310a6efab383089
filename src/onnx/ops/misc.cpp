// Ops of their own kind: ReverseSequence, Det (unrolled LU with partial pivoting), and the data-dependent
// Unique and TfIdfVectorizer, computed on the host from values known while tracing (a graph input they read
// makes the session specialize on its value: execution in stages).
#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>

#include "graft/core/limits.h"
#include "onnx/converter.h"

namespace graft::onnx {

namespace {

void reverse_sequence_op(OpContext& c) {
  Node x = c.input(0);
  Node lens = Convert(c.input(1), DType::I64);
  int ta = normalize_axis(c, c.attr_int("time_axis", 0), x.rank());
  int ba = normalize_axis(c, c.attr_int("batch_axis", 1), x.rank());
  if (ta == ba) c.fail("time_axis and batch_axis must differ");
  int64_t T = x.dim(ta), B = x.dim(ba);
  if (lens.shape() != Shape{B}) c.fail("sequence_lens must be [", B, "], got ", lens.shape());
  // idx[t, b] = t < len[b] ? len[b] - 1 - t : t, laid out on (time_axis, batch_axis) of x.
  std::vector<int64_t> shape(size_t(x.rank()), 1);
  shape[size_t(ta)] = T;
  shape[size_t(ba)] = B;
  Node t = Iota(c.graph(), DType::I64, Shape(shape), ta);
  std::vector<int64_t> lshape(size_t(x.rank()), 1);
  lshape[size_t(ba)] = B;
  Node l = Reshape(lens, lshape);
  Node idx = Select(Less(t, l), l - t - ScalarLike(l, 1), t);
  c.set_output(0, TakeAlongAxis(x, BroadcastTo(idx, x.shape()), ta));
}

void det_op(OpContext& c) {
  Node a = c.input(0);
  int r = a.rank();
  if (r < 2 || a.dim(-1) != a.dim(-2)) c.fail("input must be [..., M, M], got ", a.shape());
  int64_t m = a.dim(-1);
  DType dt = a.dtype();
  Graph& g = c.graph();
  std::vector<int64_t> batch(a.shape().dims().begin(), a.shape().dims().end() - 2);
  Node det = Full(g, dt, Shape(batch), 1.0);
  std::vector<int64_t> col_shape = batch;
  col_shape.push_back(m);
  Node rows = Iota(g, DType::I64, Shape(col_shape), r - 2);  // [..., M] row numbers
  for (int64_t k = 0; k < m; ++k) {
    // Pivot: the largest |a[i, k]| among rows i >= k.
    Node col = Squeeze(SliceAxis(a, r - 1, k, k + 1), {r - 1});  // [..., M]
    Node cand = Select(GreaterEqual(rows, ScalarLike(rows, double(k))), Abs(col), ScalarLike(col, -1));
    Node p = ArgMax(cand, r - 2, true);  // [..., 1]
    Node kk = ScalarLike(rows, double(k));
    Node perm = Select(Equal(rows, kk), BroadcastTo(p, Shape(col_shape)), Select(Equal(rows, p), BroadcastTo(kk, Shape(col_shape)), rows));
    a = TakeAlongAxis(a, BroadcastTo(ExpandDims(perm, -1), a.shape()), r - 2);
    Node swapped = Reshape(NotEqual(p, ScalarLike(p, double(k))), batch);
    det = Select(swapped, -det, det);
    Node pivot_row = SliceAxis(a, r - 2, k, k + 1);  // [..., 1, M]
    Node piv = Reshape(SliceAxis(pivot_row, r - 1, k, k + 1), batch);
    det = det * piv;
    if (k + 1 == m) break;
    Node safe = Select(Equal(piv, ScalarLike(piv, 0)), ScalarLike(piv, 1), piv);
    Node colk = Squeeze(SliceAxis(a, r - 1, k, k + 1), {r - 1});
    Node factor = Select(Greater(rows, kk), colk / ExpandDims(safe, -1), ScalarLike(colk, 0));  // [..., M]
    a = a - ExpandDims(factor, -1) * pivot_row;
  }
  c.set_output(0, det);
}

// ---- Unique ----------------------------------------------------------------------------------------------

void unique_op(OpContext& c) {
  const Tensor& x = c.require_known(0, "X");
  bool sorted = c.attr_int("sorted", 1) != 0;
  std::optional<int64_t> axis_attr = c.attr_int_opt("axis");
  Tensor v = x;
  int axis = 0;
  if (!axis_attr) {
    v = x.reshape(Shape{x.size()});
  } else {
    axis = normalize_axis(c, *axis_attr, x.rank());
  }
  const auto& dims = v.shape().dims();
  int64_t n = v.rank() ? dims[size_t(axis)] : 1;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= dims[size_t(i)];
  for (int i = axis + 1; i < v.rank(); ++i) inner *= dims[size_t(i)];
  std::vector<double> vals = v.to_vector<double>();
  // Slice j along the axis: elements (o, j, i) for every outer o and inner i.
  auto elem = [&](int64_t j, int64_t o, int64_t i) { return vals[size_t((o * n + j) * inner + i)]; };
  auto less = [&](int64_t a, int64_t b) {
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        double p = elem(a, o, i), q = elem(b, o, i);
        if (p < q) return true;
        if (p > q) return false;
      }
    return false;
  };
  auto equal = [&](int64_t a, int64_t b) { return !less(a, b) && !less(b, a); };
  std::vector<int64_t> firsts;  // first occurrence of each distinct slice, in order of appearance
  std::vector<int64_t> inverse(static_cast<size_t>(n));
  std::vector<int64_t> counts;
  for (int64_t j = 0; j < n; ++j) {
    int64_t found = -1;
    for (size_t u = 0; u < firsts.size() && found < 0; ++u)
      if (equal(firsts[u], j)) found = int64_t(u);
    if (found < 0) {
      found = int64_t(firsts.size());
      firsts.push_back(j);
      counts.push_back(0);
    }
    inverse[size_t(j)] = found;
    counts[size_t(found)]++;
  }
  std::vector<int64_t> order(firsts.size());
  std::iota(order.begin(), order.end(), 0);
  if (sorted) std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return less(firsts[size_t(a)], firsts[size_t(b)]); });
  std::vector<int64_t> rank(order.size());
  for (size_t u = 0; u < order.size(); ++u) rank[size_t(order[u])] = int64_t(u);
  int64_t k = int64_t(order.size());
  std::vector<int64_t> ydims = dims;
  if (v.rank()) ydims[size_t(axis)] = k;
  Tensor y = Tensor::uninitialized(v.dtype(), Shape(ydims));
  size_t es = dtype_size(v.dtype());
  const char* src = static_cast<const char*>(v.raw());
  char* dst = static_cast<char*>(y.raw());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t u = 0; u < k; ++u)
      std::memcpy(dst + size_t((o * k + u) * inner) * es, src + size_t((o * n + firsts[size_t(order[size_t(u)])]) * inner) * es,
                  size_t(inner) * es);
  std::vector<int64_t> idx, cnt, inv(static_cast<size_t>(n));
  for (int64_t u = 0; u < k; ++u) {
    idx.push_back(firsts[size_t(order[size_t(u)])]);
    cnt.push_back(counts[size_t(order[size_t(u)])]);
  }
  for (int64_t j = 0; j < n; ++j) inv[size_t(j)] = rank[size_t(inverse[size_t(j)])];
  c.set_known(0, y);
  c.set_known(1, Tensor::from_vector(idx, Shape{k}));
  c.set_known(2, Tensor::from_vector(inv, Shape{n}));
  c.set_known(3, Tensor::from_vector(cnt, Shape{k}));
}

// ---- TfIdfVectorizer --------------------------------------------------------------------------------------

void tfidf_op(OpContext& c) {
  const Tensor& x = c.require_known(0, "X");
  if (!is_integer(x.dtype())) c.fail("only integer inputs are supported (string inputs are not), got ", dtype_name(x.dtype()));
  if (x.rank() < 1 || x.rank() > 2) c.fail("X must be [C] or [N, C], got ", x.shape());
  std::string mode = c.attr_string("mode");
  int64_t min_n = c.attr_int("min_gram_length", 1), max_n = c.attr_int("max_gram_length", 1);
  int64_t max_skip = c.attr_int("max_skip_count", 0);
  std::vector<int64_t> counts = c.attr_ints("ngram_counts"), indexes = c.attr_ints("ngram_indexes");
  std::vector<int64_t> pool = c.attr_ints("pool_int64s");
  if (pool.empty() && !c.attr_strings("pool_strings").empty()) c.fail("string pools are not supported");
  std::vector<float> weights = c.attr_floats("weights");
  if (mode != "TF" && mode != "IDF" && mode != "TFIDF") c.fail("unknown mode '", mode, "'");
  // Pool: ngram_counts[i] is where the (i+1)-grams start (offsets into the pool, non-decreasing).
  for (size_t g = 0; g < counts.size(); ++g)
    if (counts[g] < 0 || counts[g] > int64_t(pool.size()) || (g > 0 && counts[g] < counts[g - 1]))
      c.fail("ngram_counts ", counts[g], " at ", g, " is not a non-decreasing offset into the pool of ", pool.size());
  std::map<std::vector<int64_t>, int64_t> pool_index;  // n-gram -> pool position
  for (size_t g = 0; g < counts.size(); ++g) {
    int64_t len = int64_t(g) + 1;
    int64_t begin = counts[g], end = g + 1 < counts.size() ? counts[g + 1] : int64_t(pool.size());
    for (int64_t p = begin, pos = begin; p + len <= end; p += len, ++pos) {
      (void)pos;
      std::vector<int64_t> gram(pool.begin() + p, pool.begin() + p + len);
      pool_index[gram] = int64_t(pool_index.size());
    }
  }
  if (!weights.empty() && weights.size() < pool_index.size())
    c.fail("weights has ", weights.size(), " entries for ", pool_index.size(), " n-grams");
  int64_t out_size = 0;
  for (int64_t i : indexes) {
    if (i < 0 || i >= (int64_t(1) << 32)) c.fail("ngram_indexes holds ", i, ", outside [0, 2^32)");
    out_size = std::max(out_size, i + 1);
  }
  int64_t rows = x.rank() == 2 ? x.shape()[0] : 1, cols = x.shape()[x.rank() - 1];
  std::vector<int64_t> data = x.to_vector<int64_t>();
  check_memory(uint64_t(rows) * uint64_t(out_size) * 4, c.describe() + ": the output");
  std::vector<float> out(size_t(rows * out_size), 0.f);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t* row = data.data() + r * cols;
    std::vector<int64_t> tf(pool_index.size(), 0);
    for (int64_t n = std::max<int64_t>(min_n, 1); n <= max_n; ++n) {
      for (int64_t skip = 0; skip <= (n == 1 ? 0 : max_skip); ++skip) {
        int64_t span = (n - 1) * (skip + 1) + 1;
        for (int64_t s = 0; s + span <= cols; ++s) {
          std::vector<int64_t> gram;
          for (int64_t k = 0; k < n; ++k) gram.push_back(row[s + k * (skip + 1)]);
          auto it = pool_index.find(gram);
          if (it != pool_index.end()) tf[size_t(it->second)]++;
        }
      }
    }
    for (size_t p = 0; p < tf.size(); ++p) {
      if (!tf[p] || p >= indexes.size()) continue;
      double w = weights.empty() ? 1.0 : weights[p];
      double v = mode == "TF" ? double(tf[p]) : mode == "IDF" ? w : double(tf[p]) * w;
      out[size_t(r * out_size + indexes[p])] = float(v);
    }
  }
  Shape s = x.rank() == 2 ? Shape{rows, out_size} : Shape{out_size};
  c.set_known(0, Tensor::from_vector(out, s));
}

}  // namespace

void register_misc_ops(Registry& r) {
  r.add("", "ReverseSequence", 10, reverse_sequence_op);
  r.add("", "Det", 11, det_op);
  r.add("", "Unique", 11, unique_op);
  r.add("", "TfIdfVectorizer", 9, tfidf_op);
}

}  // namespace graft::onnx
