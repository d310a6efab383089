#include "backend/cpu/fusion.h"

#include <algorithm>
#include <map>

#include "backend/cpu/elementwise_program.h"
#include "backend/cpu/lowered.h"

namespace graft::cpu {

namespace {

constexpr int kMaxGroupOps = 40;

bool fusible(const Op& op, const Graph& g) {
  if (!ew_program_supports_op(op.kind) || op.outputs.size() != 1) return false;
  if (!ew_program_supports_dtype(op.outputs[0].dtype)) return false;
  for (const ValueRef& r : op.inputs) {
    const DType t = g.op(r.op).outputs[size_t(r.output)].dtype;
    // An integer operand only as what a Convert to f32/f64 reads (ConvInteger's and MatMulInteger's int32
    // results on their way to the scale): the program converts it as it loads.
    if (!ew_program_supports_dtype(t) && !(op.kind == OpKind::Convert && ew_program_converts_on_load(t, op.outputs[0].dtype)))
      return false;
  }
  return true;
}

bool uses_f64(const Op& op, const Graph& g) {
  if (op.outputs[0].dtype == DType::F64) return true;
  for (const ValueRef& r : op.inputs)
    if (g.op(r.op).outputs[size_t(r.output)].dtype == DType::F64) return true;
  return false;
}

struct Group {
  std::vector<int> members;  // op indices, increasing
  Shape shape;
  bool f64 = false;
};

}  // namespace

Graph fuse_elementwise(const Graph& g, int* num_groups) {
  const int n = g.num_ops();
  std::vector<int> group_of(static_cast<size_t>(n), -1);
  std::vector<Group> groups;
  for (int i = 0; i < n; ++i) {
    const Op& op = g.op(i);
    if (!fusible(op, g)) continue;
    bool f64 = uses_f64(op, g);
    int chosen = -1;
    for (const ValueRef& r : op.inputs) {
      int gi = group_of[size_t(r.op)];
      if (gi < 0 || gi == chosen) continue;
      Group& grp = groups[size_t(gi)];
      if (grp.shape != op.outputs[0].shape || grp.f64 != f64 || int(grp.members.size()) >= kMaxGroupOps) continue;
      // Joining is safe when every other operand is computed before the group starts (or inside it):
      // the fused op runs at the group's first member, so it must not wait on anything after that.
      bool ok = true;
      for (const ValueRef& r2 : op.inputs)
        ok &= group_of[size_t(r2.op)] == gi || r2.op < grp.members.front() || g.op(r2.op).inputs.empty();
      if (ok) {
        chosen = gi;
        break;
      }
    }
    if (chosen < 0) {
      chosen = int(groups.size());
      groups.push_back(Group{{}, op.outputs[0].shape, f64});
    }
    groups[size_t(chosen)].members.push_back(i);
    group_of[size_t(i)] = chosen;
  }

  // Values read outside their group (or returned) must be stored by the fused op.
  std::vector<bool> escapes(static_cast<size_t>(n), false);
  for (int i = 0; i < n; ++i)
    for (const ValueRef& r : g.op(i).inputs)
      if (group_of[size_t(r.op)] >= 0 && group_of[size_t(r.op)] != group_of[size_t(i)]) escapes[size_t(r.op)] = true;
  for (const ValueRef& r : g.outputs()) escapes[size_t(r.op)] = true;

  Graph out(g.name());
  std::vector<std::vector<Node>> map(static_cast<size_t>(n));
  *num_groups = 0;
  // Sources (parameters, constants, iotas) first: a fused op runs where its group's first member was,
  // and may read constants recorded after that point.
  for (int i = 0; i < n; ++i) {
    const Op& op = g.op(i);
    if (!op.inputs.empty()) continue;
    out.set_current_name(op.name);
    if (op.kind == OpKind::Parameter)
      map[size_t(i)] = {out.parameter(std::get<ParameterAttrs>(op.attrs).name, op.outputs[0].dtype, op.outputs[0].shape)};
    else
      map[size_t(i)] = out.add_op(op.kind, {}, op.attrs, op.outputs);
  }
  for (int i = 0; i < n; ++i) {
    const Op& op = g.op(i);
    if (op.inputs.empty()) continue;
    int gi = group_of[size_t(i)];
    out.set_current_name(op.name);
    auto mapped_inputs = [&](const Op& o) {
      std::vector<Node> in;
      for (const ValueRef& r : o.inputs) in.push_back(map[size_t(r.op)][size_t(r.output)]);
      return in;
    };
    if (gi < 0 || groups[size_t(gi)].members.size() == 1) {
      map[size_t(i)] = out.add_op(op.kind, mapped_inputs(op), op.attrs, op.outputs);
      continue;
    }
    const Group& grp = groups[size_t(gi)];
    if (grp.members.front() != i) continue;  // emitted with the group's first member
    ++*num_groups;
    auto prog = std::make_shared<EwProgram>();
    prog->compute = grp.f64 ? DType::F64 : DType::F32;
    prog->dims = grp.shape.dims();
    std::vector<Node> ext_inputs;
    std::map<std::pair<int, int>, int> reg_of;  // (op, output) -> register
    // External operands first: registers 0..m-1.
    for (int m : grp.members)
      for (const ValueRef& r : g.op(m).inputs) {
        if (group_of[size_t(r.op)] == gi || reg_of.count({r.op, r.output})) continue;
        reg_of[{r.op, r.output}] = int(ext_inputs.size());
        const ValueType& t = g.op(r.op).outputs[size_t(r.output)];
        prog->inputs.push_back({t.dtype, broadcast_strides(t.shape, grp.shape)});
        ext_inputs.push_back(map[size_t(r.op)][size_t(r.output)]);
      }
    const int num_ext = int(ext_inputs.size());
    int next = num_ext;
    std::vector<ValueType> out_types;
    std::vector<int> stored;
    // The members again as ops over registers (operand r: register r), for the group's decomposition.
    std::vector<Op> member_ops;
    std::vector<int> stored_regs;
    for (int m : grp.members) {
      const Op& mo = g.op(m);
      EwInstr ins{mo.kind, next, -1, -1, -1, mo.outputs[0].dtype};
      int* slots[3] = {&ins.a, &ins.b, &ins.c};
      Op replay{mo.kind, {}, mo.outputs, mo.attrs, mo.name};
      for (size_t k = 0; k < mo.inputs.size(); ++k) {
        *slots[k] = reg_of.at({mo.inputs[k].op, mo.inputs[k].output});
        replay.inputs.push_back(ValueRef{*slots[k], 0});
      }
      member_ops.push_back(std::move(replay));
      reg_of[{m, 0}] = next++;
      prog->code.push_back(ins);
      if (escapes[size_t(m)]) {
        prog->outputs.push_back({ins.dst, mo.outputs[0].dtype});
        out_types.push_back(mo.outputs[0]);
        stored.push_back(m);
        stored_regs.push_back(ins.dst);
      }
    }
    prog->num_regs = next;
    prog->collapse_axes();
    std::vector<Node> fused = record_lowered(
        ElementwiseGroup{prog}, ext_inputs, out_types,
        [member_ops, stored_regs, num_ext](std::span<const Node> in) {
          std::vector<Node> regs(in.begin(), in.end());
          regs.resize(size_t(num_ext));
          for (const Op& op : member_ops) {
            std::vector<Node> operands;
            for (const ValueRef& r : op.inputs) operands.push_back(regs[size_t(r.op)]);
            regs.push_back(Rebuild(*in[0].graph(), op, operands)[0]);
          }
          std::vector<Node> outs;
          for (int r : stored_regs) outs.push_back(regs[size_t(r)]);
          return outs;
        });
    for (size_t k = 0; k < stored.size(); ++k) map[size_t(stored[k])] = {fused[k]};
  }
  std::vector<Node> outs;
  for (const ValueRef& r : g.outputs()) outs.push_back(map[size_t(r.op)][size_t(r.output)]);
  out.set_outputs(outs);
  return out;
}

}  // namespace graft::cpu
