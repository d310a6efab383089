// Export of the indexing family: Gather and Scatter (XLA dimension numbers) as ONNX Gather, GatherND and
// ScatterND, with the general forms built from full element coordinates.
#include "onnx/export/exporter.h"

namespace graft::onnx {

namespace {

// Index vectors as the last axis: [batch..., K].
std::string index_vectors(Exporter& e, const std::string& idx, const ValueType& it, int64_t ivd) {
  int ir = it.shape.rank();
  if (ivd == ir) {
    std::vector<int64_t> d = it.shape.dims();
    d.push_back(1);
    return e.reshape(idx, d);
  }
  if (ivd == ir - 1) return idx;
  std::vector<int64_t> perm;
  for (int i = 0; i < ir; ++i)
    if (i != ivd) perm.push_back(i);
  perm.push_back(ivd);
  return e.transpose(idx, perm);
}

// [window..., rank(window)]: the coordinates of every position of a window.
std::string coordinate_grid(Exporter& e, const std::vector<int64_t>& window) {
  Graph sg("grid");
  Shape ws(window);
  std::vector<int64_t> with_one = window;
  with_one.push_back(1);
  std::vector<Node> coords;
  for (int i = 0; i < ws.rank(); ++i) coords.push_back(Reshape(Iota(sg, DType::I64, ws, i), with_one));
  sg.set_outputs({coords.size() == 1 ? coords[0] : Concatenate(coords, ws.rank())});
  std::string out = e.tmp("grid");
  e.emit_inline(sg, {}, {out});
  return out;
}

void gather(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<GatherAttrs>(op.attrs);
  const Shape& xs = e.in_type(g, op, 0).shape;
  const ValueType& it = e.in_type(g, op, 1);
  int r = xs.rank(), ir = it.shape.rank();
  // NumPy take: ONNX Gather.
  if (a.index_vector_dim == ir && a.start_index_map.size() == 1 && a.collapsed_slice_dims == a.start_index_map) {
    int64_t axis = a.start_index_map[0];
    bool take = true;
    std::vector<int64_t> offs;
    for (int i = 0; i < r; ++i) {
      if (i == axis) continue;
      take &= a.slice_sizes[size_t(i)] == xs[i];
      offs.push_back(i < axis ? i : i - 1 + ir);
    }
    if (take && offs == a.offset_dims) {
      e.op("Gather", {in[0], in[1]}, out[0], [&](OnnxNode& n) { n.i("axis", axis); });
      return;
    }
  }
  std::string iv = index_vectors(e, in[1], it, a.index_vector_dim);
  std::vector<int64_t> batch;
  for (int i = 0; i < ir; ++i)
    if (i != a.index_vector_dim) batch.push_back(it.shape[i]);
  int64_t k = int64_t(a.start_index_map.size()), nb = int64_t(batch.size());
  // Leading axes indexed whole: GatherND.
  bool nd = a.start_index_map == iota_vec(k) && a.collapsed_slice_dims == a.start_index_map &&
            a.offset_dims == iota_vec(r - k, nb);
  for (int64_t i = k; i < r && nd; ++i) nd = a.slice_sizes[size_t(i)] == xs[int(i)];
  if (nd) {
    e.op("GatherND", {in[0], iv}, out[0]);
    return;
  }
  // General: full start coordinates (index vectors times a selection matrix), plus the window grid, then
  // GatherND element by element, drop the collapsed axes and order the axes as offset_dims says.
  Tensor sel = Tensor::zeros(DType::I64, Shape{k, int64_t(r)});
  for (int64_t p = 0; p < k; ++p) sel.data<int64_t>()[p * r + a.start_index_map[size_t(p)]] = 1;
  std::string start = e.op("MatMul", {iv, e.constant(sel, "select")});
  std::vector<int64_t> sd = batch;
  for (int i = 0; i < r; ++i) sd.push_back(1);
  sd.push_back(r);
  std::string full = e.op("Add", {e.reshape(start, sd), coordinate_grid(e, a.slice_sizes)});
  std::string gathered = e.op("GatherND", {in[0], full});
  std::vector<int64_t> kept = batch, offsets;
  for (int i = 0; i < r; ++i)
    if (!contains(a.collapsed_slice_dims, i)) offsets.push_back(a.slice_sizes[size_t(i)]);
  kept.insert(kept.end(), offsets.begin(), offsets.end());
  int out_rank = int(kept.size());
  std::vector<int64_t> perm;
  int64_t bi = 0, oi = 0;
  for (int i = 0; i < out_rank; ++i) perm.push_back(contains(a.offset_dims, i) ? nb + oi++ : bi++);
  if (perm == iota_vec(out_rank)) {
    e.reshape(gathered, kept, out[0]);
  } else {
    e.transpose(e.reshape(gathered, kept), perm, out[0]);
  }
}

void scatter(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<ScatterAttrs>(op.attrs);
  const ValueType& xt = e.in_type(g, op, 0);
  const Shape& xs = xt.shape;
  const ValueType& it = e.in_type(g, op, 1);
  const Shape& us = e.in_type(g, op, 2).shape;
  int r = xs.rank(), ur = us.rank();
  std::string reduction;
  switch (a.combiner) {
    case ReduceOp::Replace: break;
    case ReduceOp::Sum: reduction = "add"; break;
    case ReduceOp::Prod: reduction = "mul"; break;
    case ReduceOp::Max:
    case ReduceOp::Or: reduction = "max"; break;
    case ReduceOp::Min:
    case ReduceOp::And: reduction = "min"; break;
    default: e.unsupported(op, "no ScatterND reduction for " + std::string(reduce_op_name(a.combiner)));
  }
  if (!reduction.empty()) {
    int64_t need = reduction == "add" || reduction == "mul" ? 16 : 18;
    if (e.opset() < need)
      e.unsupported(op, "ScatterND reduction '" + reduction + "' needs opset " + std::to_string(need));
  }
  auto scatter = [&](const std::string& idx, const std::string& upd) {
    e.op("ScatterND", {in[0], idx, upd}, out[0], [&](OnnxNode& n) {
      if (!reduction.empty()) n.s("reduction", reduction);
    });
  };
  std::string iv = index_vectors(e, in[1], it, a.index_vector_dim);
  int64_t k = int64_t(a.scatter_dims_to_operand_dims.size());
  int64_t nb = ur - int64_t(a.update_window_dims.size());
  bool nd = a.scatter_dims_to_operand_dims == iota_vec(k) && a.inserted_window_dims == iota_vec(k) &&
            a.update_window_dims == iota_vec(ur - nb, nb);
  for (int64_t i = k; i < r && nd; ++i) nd = us[int(nb + i - k)] == xs[int(i)];
  if (nd) {
    scatter(iv, in[2]);
    return;
  }
  // General: element coordinates of every update (start + window offset), updates laid out to match.
  std::vector<int64_t> batch, window_full, perm;
  for (int i = 0; i < ur; ++i)
    if (!contains(a.update_window_dims, i)) {
      batch.push_back(us[i]);
      perm.push_back(i);
    }
  for (int64_t w : a.update_window_dims) perm.push_back(w);
  size_t wi = 0;
  for (int i = 0; i < r; ++i)
    window_full.push_back(contains(a.inserted_window_dims, i) ? 1 : us[int(a.update_window_dims[wi++])]);
  Tensor sel = Tensor::zeros(DType::I64, Shape{k, int64_t(r)});
  for (int64_t p = 0; p < k; ++p) sel.data<int64_t>()[p * r + a.scatter_dims_to_operand_dims[size_t(p)]] = 1;
  std::string start = e.op("MatMul", {iv, e.constant(sel, "select")});
  std::vector<int64_t> sd = batch;
  for (int i = 0; i < r; ++i) sd.push_back(1);
  sd.push_back(r);
  std::string full = e.op("Add", {e.reshape(start, sd), coordinate_grid(e, window_full)});
  std::vector<int64_t> ud = batch;
  ud.insert(ud.end(), window_full.begin(), window_full.end());
  scatter(full, e.reshape(e.transpose(in[2], perm), ud));
}

}  // namespace

void register_indexing_emitters(EmitterTable& t) {
  t.add(OpKind::Gather, gather);
  t.add(OpKind::Scatter, scatter);
}

}  // namespace graft::onnx
