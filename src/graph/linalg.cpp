// Dot-general and NumPy matmul builders.
#include <numeric>

#include "graft/graph/ops.h"
#include "graph/builder_util.h"

namespace graft {

using detail::axes_str;
using detail::normalize_axes;

namespace {
bool contains(const Axes& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }
bool is_int8(DType t) { return t == DType::I8 || t == DType::U8; }
}  // namespace

Node DotGeneral(Node lhs, Node rhs, DotGeneralAttrs a, std::optional<DType> out_dtype) {
  std::string what = "DotGeneral of " + lhs.describe() + " " + lhs.shape().str() + " and " + rhs.describe() + " " +
                     rhs.shape().str();
  DType out = out_dtype.value_or(lhs.dtype());
  if (lhs.dtype() != rhs.dtype())
    GRAFT_CHECK(is_int8(lhs.dtype()) && is_int8(rhs.dtype()) && out == DType::I32, what, ": operand dtypes ",
                dtype_name(lhs.dtype()), " and ", dtype_name(rhs.dtype()), " differ");
  GRAFT_CHECK(lhs.dtype() != DType::Bool, what, ": bool operands");
  GRAFT_CHECK(out == lhs.dtype() || (is_integer(lhs.dtype()) && out == DType::I32) ||
                  (is_floating(lhs.dtype()) && is_floating(out)),
              what, ": cannot produce ", dtype_name(out), " from ", dtype_name(lhs.dtype()));
  a.lhs_batch = normalize_axes(a.lhs_batch, lhs.rank(), what);
  a.rhs_batch = normalize_axes(a.rhs_batch, rhs.rank(), what);
  a.lhs_contract = normalize_axes(a.lhs_contract, lhs.rank(), what);
  a.rhs_contract = normalize_axes(a.rhs_contract, rhs.rank(), what);
  GRAFT_CHECK(a.lhs_batch.size() == a.rhs_batch.size() && a.lhs_contract.size() == a.rhs_contract.size(), what,
              ": batch/contracting dimension lists differ in length");
  std::vector<int64_t> dims;
  for (size_t i = 0; i < a.lhs_batch.size(); ++i) {
    int64_t l = lhs.shape()[int(a.lhs_batch[i])], r = rhs.shape()[int(a.rhs_batch[i])];
    GRAFT_CHECK(l == r, what, ": batch dims ", l, " vs ", r);
    dims.push_back(l);
  }
  for (size_t i = 0; i < a.lhs_contract.size(); ++i) {
    int64_t l = lhs.shape()[int(a.lhs_contract[i])], r = rhs.shape()[int(a.rhs_contract[i])];
    GRAFT_CHECK(l == r, what, ": inner dims ", l, " vs ", r);
  }
  for (int i = 0; i < lhs.rank(); ++i)
    if (!contains(a.lhs_batch, i) && !contains(a.lhs_contract, i)) dims.push_back(lhs.shape()[i]);
  for (int i = 0; i < rhs.rank(); ++i)
    if (!contains(a.rhs_batch, i) && !contains(a.rhs_contract, i)) dims.push_back(rhs.shape()[i]);
  return lhs.graph()->add_op1(OpKind::DotGeneral, {lhs, rhs}, a, ValueType{out, Shape(dims)});
}

Node MatMul(Node a, Node b) {
  GRAFT_CHECK(a.rank() >= 1 && b.rank() >= 1, "MatMul of ", a.describe(), " and ", b.describe(),
              ": scalar operands");
  bool a_vec = a.rank() == 1, b_vec = b.rank() == 1;
  if (a_vec) a = ExpandDims(a, 0);
  if (b_vec) b = ExpandDims(b, 1);
  int ra = a.rank(), rb = b.rank();
  GRAFT_CHECK(a.shape()[-1] == b.shape()[-2], "MatMul of ", a.describe(), " ", a.shape(), " and ", b.describe(), " ",
              b.shape(), ": inner dims ", a.shape()[-1], " vs ", b.shape()[-2]);
  Node out;
  if (rb == 2) {
    // [..., M, K] x [K, N]: the lhs batch axes are free axes of one big product, no broadcast needed.
    out = DotGeneral(a, b, {{}, {}, {ra - 1}, {0}});
  } else {
    std::vector<int64_t> ba(a.shape().dims().begin(), a.shape().dims().end() - 2);
    std::vector<int64_t> bb(b.shape().dims().begin(), b.shape().dims().end() - 2);
    Shape batch = broadcast_shapes(Shape(ba), Shape(bb), "MatMul batch axes of " + a.describe() + " and " + b.describe());
    auto full = [&](Node x) {
      std::vector<int64_t> d = batch.dims();
      d.push_back(x.shape()[-2]);
      d.push_back(x.shape()[-1]);
      return BroadcastTo(x, Shape(d));
    };
    a = full(a);
    b = full(b);
    int nb = batch.rank();
    Axes batch_axes(static_cast<size_t>(nb));
    std::iota(batch_axes.begin(), batch_axes.end(), 0);
    out = DotGeneral(a, b, {batch_axes, batch_axes, {nb + 1}, {nb}});
  }
  if (a_vec) out = Squeeze(out, {-2});
  if (b_vec) out = Squeeze(out, {-1});
  return out;
}

}  // namespace graft
