// Export of the linalg family: DotGeneral as MatMul (MatMulInteger for 8-bit operands with an int32
// result), batch and contracting axes moved into place and flattened where needed.
#include "onnx/export/exporter.h"

namespace graft::onnx {

namespace {

void dot(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<DotGeneralAttrs>(op.attrs);
  const ValueType& lt = e.in_type(g, op, 0);
  const ValueType& rt = e.in_type(g, op, 1);
  DType od = op.outputs[0].dtype;
  const Shape &ls = lt.shape, &rs = rt.shape;
  int rl = ls.rank(), rr = rs.rank();
  std::string l = in[0], r = in[1];
  bool integer = false;
  if (lt.dtype != od || rt.dtype != od) {
    bool int8 = (lt.dtype == DType::I8 || lt.dtype == DType::U8) && (rt.dtype == DType::I8 || rt.dtype == DType::U8);
    if (int8 && od == DType::I32) {
      integer = true;
    } else {
      l = e.cast(l, od);
      r = e.cast(r, od);
    }
  }
  const char* mm = integer ? "MatMulInteger" : "MatMul";
  std::vector<int64_t> lfree, rfree;
  for (int i = 0; i < rl; ++i)
    if (!contains(a.lhs_batch, i) && !contains(a.lhs_contract, i)) lfree.push_back(i);
  for (int i = 0; i < rr; ++i)
    if (!contains(a.rhs_batch, i) && !contains(a.rhs_contract, i)) rfree.push_back(i);
  int64_t nb = int64_t(a.lhs_batch.size());
  // [..., M, K] x [K, N] and [B..., M, K] x [B..., K, N] as they are.
  if (nb == 0 && a.lhs_contract == std::vector<int64_t>{rl - 1} && a.rhs_contract == std::vector<int64_t>{0} &&
      rr <= 2 && rl >= 1) {
    e.op(mm, {l, r}, out[0]);
    return;
  }
  if (a.lhs_batch == iota_vec(nb) && a.rhs_batch == iota_vec(nb) && rl == nb + 2 && rr == nb + 2 &&
      a.lhs_contract == std::vector<int64_t>{nb + 1} && a.rhs_contract == std::vector<int64_t>{nb}) {
    e.op(mm, {l, r}, out[0]);
    return;
  }
  // General: [batch, free, contract] x [batch, contract, free], flattened to matrices.
  std::vector<int64_t> lp = a.lhs_batch, rp = a.rhs_batch, bdims, lfd, rfd;
  for (int64_t b : a.lhs_batch) bdims.push_back(ls[int(b)]);
  lp.insert(lp.end(), lfree.begin(), lfree.end());
  lp.insert(lp.end(), a.lhs_contract.begin(), a.lhs_contract.end());
  rp.insert(rp.end(), a.rhs_contract.begin(), a.rhs_contract.end());
  rp.insert(rp.end(), rfree.begin(), rfree.end());
  int64_t m = 1, n = 1, kk = 1;
  for (int64_t i : lfree) lfd.push_back(ls[int(i)]), m *= ls[int(i)];
  for (int64_t i : rfree) rfd.push_back(rs[int(i)]), n *= rs[int(i)];
  for (int64_t i : a.lhs_contract) kk *= ls[int(i)];
  std::vector<int64_t> ld = bdims, rd = bdims, od_dims = bdims, final_dims = bdims;
  ld.push_back(m), ld.push_back(kk);
  rd.push_back(kk), rd.push_back(n);
  od_dims.push_back(m), od_dims.push_back(n);
  final_dims.insert(final_dims.end(), lfd.begin(), lfd.end());
  final_dims.insert(final_dims.end(), rfd.begin(), rfd.end());
  std::string lm = e.reshape(e.transpose(l, lp), ld);
  std::string rm = e.reshape(e.transpose(r, rp), rd);
  std::string prod = e.op(mm, {lm, rm}, od_dims == final_dims ? out[0] : "");
  if (od_dims != final_dims) e.reshape(prod, final_dims, out[0]);
}

}  // namespace

void register_linalg_emitters(EmitterTable& t) { t.add(OpKind::DotGeneral, dot); }

}  // namespace graft::onnx
