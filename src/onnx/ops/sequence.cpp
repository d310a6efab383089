// Sequence ops: sequences are trace-time values (a list of tensor Values), so positions and lengths
// must be known while tracing: SequenceEmpty/Construct/At/Insert/Erase/Length, SplitToSequence,
// ConcatFromSequence.
#include "onnx/converter.h"

namespace graft::onnx {

namespace {

Value& sequence_input(OpContext& c, int i) {
  Value& v = c.value(i);
  if (v.kind != Value::Kind::Sequence) c.fail("input ", i, " must be a sequence");
  return v;
}

Value make_sequence(std::vector<Value> elems, std::optional<ValueType> type) {
  Value v;
  v.kind = Value::Kind::Sequence;
  v.seq = std::move(elems);
  v.elem_type = std::move(type);
  return v;
}

// A position in [-n, n] (insert) or [-n, n-1] (at, erase).
int64_t position(OpContext& c, int input, int64_t n, bool allow_end) {
  auto p = c.require_ints(input, "position");
  if (p.size() != 1) c.fail("position must be a scalar");
  int64_t k = p[0] < 0 ? p[0] + n : p[0];
  if (k < 0 || k > n || (!allow_end && k == n)) c.fail("position ", p[0], " is out of range for a sequence of ", n);
  return k;
}

Value tensor_value(OpContext& c, int i) {
  Value v = c.value(i);
  if (!v.is_tensor()) c.fail("input ", i, " must be a tensor");
  return v;
}

void construct_op(OpContext& c) {
  std::vector<Value> elems;
  for (int i = 0; i < c.num_inputs(); ++i) elems.push_back(tensor_value(c, i));
  std::optional<ValueType> t;
  if (!elems.empty()) t = elems[0].type();
  c.set_value(0, make_sequence(std::move(elems), t));
}

void empty_op(OpContext& c) {
  ValueType t;
  t.dtype = onnx_dtype_attr(c, c.attr_int("dtype", 1));
  c.set_value(0, make_sequence({}, t));
}

void at_op(OpContext& c) {
  Value& s = sequence_input(c, 0);
  int64_t k = position(c, 1, int64_t(s.seq.size()), false);
  c.set_value(0, s.seq[size_t(k)]);
}

void insert_op(OpContext& c) {
  Value s = sequence_input(c, 0);
  int64_t n = int64_t(s.seq.size());
  int64_t k = c.has_input(2) ? position(c, 2, n, true) : n;
  Value t = tensor_value(c, 1);
  if (!s.elem_type) s.elem_type = t.type();
  s.seq.insert(s.seq.begin() + k, t);
  c.set_value(0, s);
}

void erase_op(OpContext& c) {
  Value s = sequence_input(c, 0);
  int64_t n = int64_t(s.seq.size());
  if (n == 0) c.fail("cannot erase from an empty sequence");
  int64_t k = c.has_input(1) ? position(c, 1, n, false) : n - 1;
  s.seq.erase(s.seq.begin() + k);
  c.set_value(0, s);
}

void length_op(OpContext& c) {
  c.set_known(0, Tensor::scalar(int64_t(sequence_input(c, 0).seq.size())));
}

void split_to_sequence_op(OpContext& c) {
  Node x = c.input(0);
  int axis = normalize_axis(c, c.attr_int("axis", 0), x.rank());
  bool keep = c.attr_int("keepdims", 1) != 0;
  int64_t n = x.dim(axis);
  std::vector<int64_t> sizes;
  bool scalar_split = false;
  if (c.has_input(1)) {
    const Tensor& t = c.require_known(1, "split");
    auto v = t.to_vector<int64_t>();
    if (t.rank() == 0) {
      if (v[0] <= 0) c.fail("split must be positive");
      for (int64_t off = 0; off < n; off += v[0]) sizes.push_back(std::min(v[0], n - off));
    } else {
      sizes = v;
    }
  } else {
    sizes.assign(size_t(n), 1);
    scalar_split = true;
  }
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  if (total != n) c.fail("split sizes sum to ", total, ", axis ", axis, " has ", n);
  std::vector<Value> elems;
  int64_t off = 0;
  for (int64_t s : sizes) {
    Node part = SliceAxis(x, axis, off, off + s);
    if (scalar_split && !keep) part = Squeeze(part, {axis});
    elems.push_back(Value::of(part));
    off += s;
  }
  std::optional<ValueType> t;
  if (!elems.empty()) t = elems[0].type();
  c.set_value(0, make_sequence(std::move(elems), t));
}

void concat_from_sequence_op(OpContext& c) {
  Value& s = sequence_input(c, 0);
  if (s.seq.empty()) c.fail("cannot concatenate an empty sequence");
  bool new_axis = c.attr_int("new_axis", 0) != 0;
  std::vector<Node> parts;
  for (size_t i = 0; i < s.seq.size(); ++i) parts.push_back(c.scope().node(s.seq[i], c.node().input(0) + "[" + std::to_string(i) + "]"));
  int rank = parts[0].rank() + (new_axis ? 1 : 0);
  int axis = normalize_axis(c, c.attr_int("axis", 0), rank);
  if (new_axis)
    for (auto& p : parts) p = ExpandDims(p, axis);
  c.set_output(0, Concatenate(parts, axis));
}

}  // namespace

void register_sequence_ops(Registry& r) {
  r.add("", "SequenceConstruct", 11, construct_op);
  r.add("", "SequenceEmpty", 11, empty_op);
  r.add("", "SequenceAt", 11, at_op);
  r.add("", "SequenceInsert", 11, insert_op);
  r.add("", "SequenceErase", 11, erase_op);
  r.add("", "SequenceLength", 11, length_op);
  r.add("", "SplitToSequence", 11, split_to_sequence_op);
  r.add("", "ConcatFromSequence", 11, concat_from_sequence_op);
}

}  // namespace graft::onnx
