// Products: MatMul, Gemm and Einsum (contracted pairwise, diagonals and ellipses included).
#include <map>
#include <numeric>
#include <set>

#include "onnx/converter.h"

namespace graft::onnx {

namespace {

void gemm_op(OpContext& c) {
  Node a = c.input(0), b = c.input(1);
  if (a.rank() != 2 || b.rank() != 2) c.fail("A and B must be 2-D, got ", a.shape(), " and ", b.shape());
  if (c.attr_int("transA", 0)) a = Transpose(a, {1, 0});
  // A large transposed constant B (a layer's weight) is read in place by the product (its contracted axis is
  // 1), not transposed first: that Transpose would copy the whole weight on every trace that evaluates it
  // (Faster R-CNN's 51 MB box-head weight, on every new image) and on every compile that folds it. Other
  // operands keep the Transpose, which the int8 product patterns expect: small weights (the size tracing
  // evaluates eagerly, which includes DequantizeLinear of small int8 weights) and computed ones.
  const bool trans_b = c.attr_int("transB", 0) != 0;
  const bool in_place = trans_b && b.op().kind == OpKind::Constant && b.shape().size() > (int64_t(1) << 16);
  if (trans_b && !in_place) b = Transpose(b, {1, 0});
  const int64_t kb = in_place ? 1 : 0;
  if (a.dim(1) != b.dim(int(kb)))
    c.fail("inner dims ", a.dim(1), " vs ", b.dim(int(kb)), " (A' ", a.shape(), ", B ", b.shape(),
           in_place ? " transposed" : "", ")");
  double alpha = c.attr_float("alpha", 1.0), beta = c.attr_float("beta", 1.0);
  Node y = DotGeneral(a, b, {{}, {}, {1}, {kb}});
  if (alpha != 1.0) y = y * alpha;
  if (auto cc = c.optional_input(2); cc && beta != 0.0) {
    Node bias = Convert(*cc, y.dtype());
    if (beta != 1.0) bias = bias * beta;
    y = y + bias;
  }
  c.set_output(0, y);
}

// ---- Einsum ----------------------------------------------------------------------------------------------

std::vector<std::string> split_terms(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s) {
    if (ch == ',') {
      out.push_back(cur);
      cur.clear();
    } else if (ch != ' ') {
      cur += ch;
    }
  }
  out.push_back(cur);
  return out;
}

// Replaces "..." with the trailing `n` of `ell_rank` placeholder letters (digits, never used by
// equations), so ellipsis axes line up from the right as in NumPy broadcasting.
std::string expand_ellipsis(const OpContext& c, const std::string& term, int rank, int ell_rank) {
  auto pos = term.find("...");
  if (pos == std::string::npos) {
    if (int(term.size()) != rank) c.fail("term '", term, "' has ", term.size(), " letters for an operand of rank ", rank);
    return term;
  }
  int n = rank - int(term.size() - 3);
  if (n < 0) c.fail("term '", term, "' does not fit an operand of rank ", rank);
  std::string ell;
  for (int i = 0; i < n; ++i) ell += char('0' + (ell_rank - n) + i);
  return term.substr(0, pos) + ell + term.substr(pos + 3);
}

// Sums out letters of `x` (described by `t`) that are not in `keep`.
Node sum_out(Node x, std::string& t, const std::set<char>& keep) {
  Axes axes;
  std::string rest;
  for (size_t i = 0; i < t.size(); ++i) {
    if (!keep.count(t[i]))
      axes.push_back(int64_t(i));
    else
      rest += t[i];
  }
  if (axes.empty()) return x;
  t = rest;
  return ReduceSum(x, axes);
}

// Contracts two operands, keeping the letters in `keep`; returns the result and its letters.
std::pair<Node, std::string> contract(Node a, std::string ta, Node b, std::string tb, const std::set<char>& keep) {
  std::set<char> in_b(tb.begin(), tb.end()), in_a(ta.begin(), ta.end());
  std::set<char> keep_a = keep, keep_b = keep;
  keep_a.insert(tb.begin(), tb.end());
  keep_b.insert(ta.begin(), ta.end());
  a = sum_out(a, ta, keep_a);
  b = sum_out(b, tb, keep_b);
  DotGeneralAttrs d;
  std::string batch, afree, bfree;
  for (size_t i = 0; i < ta.size(); ++i) {
    char ch = ta[i];
    size_t j = tb.find(ch);
    if (j == std::string::npos) {
      afree += ch;
    } else if (keep.count(ch)) {
      d.lhs_batch.push_back(int64_t(i));
      d.rhs_batch.push_back(int64_t(j));
      batch += ch;
    } else {
      d.lhs_contract.push_back(int64_t(i));
      d.rhs_contract.push_back(int64_t(j));
    }
  }
  for (char ch : tb)
    if (ta.find(ch) == std::string::npos) bfree += ch;
  // Broadcast size-1 batch axes (ellipsis broadcasting).
  for (size_t i = 0; i < d.lhs_batch.size(); ++i) {
    int64_t la = a.dim(int(d.lhs_batch[i])), lb = b.dim(int(d.rhs_batch[i]));
    if (la != lb) {
      if (la == 1) {
        std::vector<int64_t> s = a.shape().dims();
        s[size_t(d.lhs_batch[i])] = lb;
        a = BroadcastTo(a, Shape(s));
      } else if (lb == 1) {
        std::vector<int64_t> s = b.shape().dims();
        s[size_t(d.rhs_batch[i])] = la;
        b = BroadcastTo(b, Shape(s));
      }
    }
  }
  Node out = DotGeneral(a, b, d);
  return {out, batch + afree + bfree};
}

// A letter repeated within one operand ("ii->i", "bii->bi") selects the diagonal of those axes: the two
// axes move to the end, merge into one of n*n elements, and every (n+1)-th element is the diagonal.
// Repeats until every letter of `t` is distinct.
Node take_diagonals(const OpContext& c, Node x, std::string& t) {
  for (;;) {
    size_t i = 0, j = std::string::npos;
    for (; i < t.size() && j == std::string::npos; ++i) j = t.find(t[i], i + 1);
    if (j == std::string::npos) return x;
    --i;
    int64_t n = x.dim(int(i));
    if (x.dim(int(j)) != n)
      c.fail("repeated index '", t[i], "' spans axes of sizes ", n, " and ", x.dim(int(j)), " in ", x.shape());
    Axes perm;
    std::vector<int64_t> dims;
    std::string rest;
    for (size_t k = 0; k < t.size(); ++k)
      if (k != i && k != j) {
        perm.push_back(int64_t(k));
        dims.push_back(x.dim(int(k)));
        rest += t[k];
      }
    perm.push_back(int64_t(i));
    perm.push_back(int64_t(j));
    dims.push_back(n * n);
    x = Reshape(Transpose(x, perm), dims);
    x = SliceAxis(x, int(dims.size()) - 1, 0, n * n, n + 1);
    t = rest + t[i];
  }
}

void einsum_op(OpContext& c) {
  std::string eq = c.attr_string("equation");
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  std::string lhs = eq, rhs;
  bool explicit_out = false;
  if (auto p = eq.find("->"); p != std::string::npos) {
    lhs = eq.substr(0, p);
    rhs = eq.substr(p + 2);
    explicit_out = true;
  }
  std::vector<std::string> terms = split_terms(lhs);
  std::vector<Node> xs;
  for (int i = 0; i < c.num_inputs(); ++i) xs.push_back(c.input(i));
  if (terms.size() != xs.size()) c.fail("equation '", eq, "' has ", terms.size(), " terms for ", xs.size(), " inputs");
  int ell_rank = 0;
  for (size_t i = 0; i < xs.size(); ++i)
    if (terms[i].find("...") != std::string::npos)
      ell_rank = std::max(ell_rank, xs[i].rank() - int(terms[i].size() - 3));
  for (size_t i = 0; i < xs.size(); ++i) terms[i] = expand_ellipsis(c, terms[i], xs[i].rank(), ell_rank);
  std::string ell;
  for (int i = 0; i < ell_rank; ++i) ell += char('0' + i);
  if (!explicit_out) {
    std::map<char, int> count;
    for (auto& t : terms)
      for (char ch : t) count[ch]++;
    rhs = ell;
    for (auto& [ch, n] : count)
      if (n == 1 && !(ch >= '0' && ch <= '9')) rhs += ch;
  } else if (auto p = rhs.find("..."); p != std::string::npos) {
    rhs = rhs.substr(0, p) + ell + rhs.substr(p + 3);
  }
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = take_diagonals(c, xs[i], terms[i]);
  std::set<char> out_set(rhs.begin(), rhs.end());
  Node acc = xs[0];
  std::string tacc = terms[0];
  for (size_t i = 1; i < xs.size(); ++i) {
    std::set<char> keep = out_set;
    for (size_t j = i + 1; j < xs.size(); ++j) keep.insert(terms[j].begin(), terms[j].end());
    std::tie(acc, tacc) = contract(acc, tacc, xs[i], terms[i], keep);
  }
  acc = sum_out(acc, tacc, out_set);
  Axes perm;
  for (char ch : rhs) {
    auto p = tacc.find(ch);
    if (p == std::string::npos) c.fail("output index '", ch, "' does not appear in the inputs");
    perm.push_back(int64_t(p));
  }
  c.set_output(0, Transpose(acc, perm));
}

}  // namespace

void register_linalg_ops(Registry& r) {
  r.add("", "MatMul", 1, [](OpContext& c) { c.set_output(0, MatMul(c.input(0), c.input(1))); });
  r.add("", "Gemm", 7, gemm_op);
  r.add("", "Einsum", 12, einsum_op);
}

}  // namespace graft::onnx
