#include "backend/cuda/lowering.h"

#include <algorithm>
#include <map>

namespace graft::cuda {

namespace {

constexpr int kMaxGroupOps = 64;

// Element strides of an operand of shape `in` broadcast NumPy-style against `out`.
std::vector<int64_t> broadcast_strides_of(const Shape& in, const Shape& out) {
  std::vector<int64_t> s(size_t(out.rank()), 0);
  const std::vector<int64_t> own = in.strides();
  const int shift = out.rank() - in.rank();
  for (int i = 0; i < in.rank(); ++i)
    if (in.dims()[size_t(i)] != 1) s[size_t(i + shift)] = own[size_t(i)];
  return s;
}

bool is_alias(OpKind k) { return k == OpKind::Reshape || k == OpKind::StopGradient; }

// A value whose producer has no operands (parameter, constant) is ready before any group runs.
bool is_source(const Graph& g, int op) { return g.op(op).inputs.empty() && g.op(op).kind != OpKind::Iota; }

bool literal_constant(const Op& op) {
  return op.kind == OpKind::Constant && op.outputs[0].shape.size() == 1;
}

}  // namespace

bool is_fusible(const Op& op) {
  if (op.outputs.size() != 1) return false;
  return is_unary_elementwise(op.kind) || is_binary_elementwise(op.kind) || op.kind == OpKind::Select ||
         op.kind == OpKind::Convert || op.kind == OpKind::Iota;
}

int64_t EwGroup::count() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

bool EwGroup::may_fail() const {
  for (const EwInstr& ins : code)
    if ((ins.kind == OpKind::Div || ins.kind == OpKind::Rem || ins.kind == OpKind::Fmod) && is_integer(ins.dtype))
      return true;
  return false;
}

void EwGroup::collapse_axes() {
  // Everything indexed by the output coordinates: the inputs, and the iotas.
  std::vector<std::vector<int64_t>*> walkers;
  for (Input& in : inputs) walkers.push_back(&in.strides);
  for (EwInstr& ins : code)
    if (ins.kind == OpKind::Iota) walkers.push_back(&ins.iota_strides);
  std::vector<int64_t> nd;
  std::vector<std::vector<int64_t>> ns(walkers.size());
  for (size_t ax = 0; ax < dims.size(); ++ax) {
    if (dims[ax] == 1) continue;
    nd.push_back(dims[ax]);
    for (size_t k = 0; k < walkers.size(); ++k) ns[k].push_back((*walkers[k])[ax]);
  }
  // Axis i merges into i+1 when every walker has stride[i] == stride[i+1] * dims[i+1].
  for (int ax = int(nd.size()) - 2; ax >= 0; --ax) {
    bool ok = true;
    for (size_t k = 0; k < walkers.size() && ok; ++k) ok = ns[k][size_t(ax)] == ns[k][size_t(ax + 1)] * nd[size_t(ax + 1)];
    if (!ok) continue;
    nd[size_t(ax)] *= nd[size_t(ax + 1)];
    nd.erase(nd.begin() + ax + 1);
    for (auto& s : ns) {
      s[size_t(ax)] = s[size_t(ax + 1)];
      s.erase(s.begin() + ax + 1);
    }
  }
  dims = nd;
  for (size_t k = 0; k < walkers.size(); ++k) *walkers[k] = ns[k];
}

Lowered lower(const Graph& g, bool fuse) {
  const int n = g.num_ops();
  std::vector<int> group_of(static_cast<size_t>(n), -1);
  struct Group {
    std::vector<int> members;
    Shape shape;
  };
  std::vector<Group> groups;
  for (int i = 0; i < n; ++i) {
    const Op& op = g.op(i);
    if (!is_fusible(op)) continue;
    int chosen = -1;
    if (fuse) {
      for (const ValueRef& r : op.inputs) {
        const int gi = group_of[size_t(r.op)];
        if (gi < 0 || gi == chosen) continue;
        const Group& grp = groups[size_t(gi)];
        if (grp.shape != op.outputs[0].shape || int(grp.members.size()) >= kMaxGroupOps) continue;
        bool ok = true;
        for (const ValueRef& r2 : op.inputs)
          ok &= group_of[size_t(r2.op)] == gi || r2.op < grp.members.front() || is_source(g, r2.op);
        if (ok) {
          chosen = gi;
          break;
        }
      }
    }
    if (chosen < 0) {
      chosen = int(groups.size());
      groups.push_back(Group{{}, op.outputs[0].shape});
    }
    groups[size_t(chosen)].members.push_back(i);
    group_of[size_t(i)] = chosen;
  }

  // Values read outside their group, or returned, are stored. A read through an alias (reshape) counts.
  std::vector<bool> escapes(static_cast<size_t>(n), false);
  for (int i = 0; i < n; ++i)
    for (const ValueRef& r : g.op(i).inputs)
      if (group_of[size_t(r.op)] >= 0 && group_of[size_t(r.op)] != group_of[size_t(i)]) escapes[size_t(r.op)] = true;
  for (const ValueRef& r : g.outputs()) escapes[size_t(r.op)] = true;

  Lowered out;
  for (int i = 0; i < n; ++i) {
    const Op& op = g.op(i);
    if (op.kind == OpKind::Parameter || op.kind == OpKind::Constant || is_alias(op.kind)) continue;
    const int gi = group_of[size_t(i)];
    if (gi < 0) {
      LoweredStep s;
      s.op = i;
      s.inputs = op.inputs;
      for (int k = 0; k < int(op.outputs.size()); ++k) s.outputs.push_back(ValueRef{i, k});
      out.steps.push_back(std::move(s));
      continue;
    }
    const Group& grp = groups[size_t(gi)];
    if (grp.members.front() != i) continue;  // emitted with the first member
    if (grp.members.size() > 1) {
      ++out.num_groups;
      out.num_fused_ops += int(grp.members.size());
    }
    auto eg = std::make_shared<EwGroup>();
    eg->dims = grp.shape.dims();
    LoweredStep s;
    s.op = i;
    s.members = grp.members;
    std::map<std::pair<int, int>, int> reg_of;  // (op, output) -> register
    // External operands first (registers 0..m-1); single-element constants become literals.
    for (int m : grp.members)
      for (const ValueRef& r : g.op(m).inputs) {
        if (group_of[size_t(r.op)] == gi || reg_of.count({r.op, r.output})) continue;
        reg_of[{r.op, r.output}] = int(eg->inputs.size());
        const Op& src = g.op(r.op);
        const ValueType& t = src.outputs[size_t(r.output)];
        EwGroup::Input in;
        in.dtype = t.dtype;
        in.strides = broadcast_strides_of(t.shape, grp.shape);
        if (literal_constant(src)) {
          in.literal = true;
          in.value = std::get<ConstantAttrs>(src.attrs).value;
        } else {
          s.inputs.push_back(r);
        }
        eg->inputs.push_back(std::move(in));
      }
    int next = int(eg->inputs.size());
    for (int m : grp.members) {
      const Op& mo = g.op(m);
      EwInstr ins;
      ins.kind = mo.kind;
      ins.dtype = mo.outputs[0].dtype;
      ins.op_id = m;
      int* slots[3] = {&ins.a, &ins.b, &ins.c};
      for (size_t k = 0; k < mo.inputs.size() && k < 3; ++k) *slots[k] = reg_of.at({mo.inputs[k].op, mo.inputs[k].output});
      if (!mo.inputs.empty()) {
        const ValueRef& typed = mo.kind == OpKind::Select ? mo.inputs[1] : mo.inputs[0];
        ins.operand_dtype = g.op(typed.op).outputs[size_t(typed.output)].dtype;
      }
      if (mo.kind == OpKind::Iota) {
        const int axis = std::get<IotaAttrs>(mo.attrs).axis;
        ins.iota_strides.assign(grp.shape.dims().size(), 0);
        ins.iota_strides[size_t(axis)] = 1;
        ins.operand_dtype = DType::I64;
      }
      reg_of[{m, 0}] = next;
      eg->code.push_back(std::move(ins));
      if (escapes[size_t(m)]) {
        eg->outputs.push_back({next, mo.outputs[0].dtype});
        s.outputs.push_back(ValueRef{m, 0});
      }
      ++next;
    }
    eg->collapse_axes();
    s.group = std::move(eg);
    out.steps.push_back(std::move(s));
  }
  return out;
}

}  // namespace graft::cuda
