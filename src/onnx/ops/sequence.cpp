// Sequence and optional ops: sequences are trace-time values (a list of tensor Values), so positions
// and lengths must be known while tracing: SequenceEmpty/Construct/At/Insert/Erase/Length,
// SplitToSequence, ConcatFromSequence, SequenceMap (unrolled). Optionals are trace-time too: an absent
// optional is a Value of kind None, a present one is its tensor or sequence.
#include "onnx/converter.h"
#include "onnx/tensor_proto.h"

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

// SequenceMap: the body runs once per element (unrolled: lengths are known while tracing); each
// additional input is a sequence read at the same position, or a tensor passed to every iteration.
void sequence_map_op(OpContext& c) {
  const ::onnx::GraphProto* body = c.attr_graph("body");
  if (!body) c.fail("missing body");
  Value first = sequence_input(c, 0);
  size_t n = first.seq.size();
  std::vector<Value> extra;
  for (int i = 1; i < c.num_inputs(); ++i) {
    extra.push_back(c.value(i));
    if (extra.back().kind == Value::Kind::Sequence && extra.back().seq.size() != n)
      c.fail("input ", i, " has ", extra.back().seq.size(), " elements, input 0 has ", n);
    if (extra.back().kind == Value::Kind::None) c.fail("input ", i, " is an absent optional");
  }
  std::vector<std::vector<Value>> outs(size_t(c.num_outputs()));
  for (size_t k = 0; k < n; ++k) {
    std::vector<Value> args{first.seq[k]};
    for (const Value& e : extra) args.push_back(e.kind == Value::Kind::Sequence ? e.seq[k] : e);
    auto res = c.tracer().inline_subgraph(*body, c.scope(), args);
    if (res.size() != outs.size()) c.fail("body has ", res.size(), " outputs for ", outs.size(), " node outputs");
    for (size_t j = 0; j < res.size(); ++j) {
      if (!res[j].is_tensor()) c.fail("body output ", j, " is not a tensor");
      outs[j].push_back(res[j]);
    }
  }
  for (size_t j = 0; j < outs.size(); ++j) {
    std::optional<ValueType> t;
    if (!outs[j].empty()) t = outs[j][0].type();
    c.set_value(int(j), make_sequence(std::move(outs[j]), t));
  }
}

// Optional(x): x itself; Optional() with a `type` attribute: an absent optional of that type.
void optional_op(OpContext& c) {
  if (c.has_input(0)) {
    c.set_value(0, c.value(0));
    return;
  }
  Value v;
  v.kind = Value::Kind::None;
  if (const auto* a = c.attr("type")) {
    const ::onnx::TypeProto* t = &a->tp();
    if (t->has_sequence_type()) t = &t->sequence_type().elem_type();
    if (t->has_tensor_type())
      if (auto d = dtype_from_onnx(t->tensor_type().elem_type())) v.elem_type = ValueType{*d, Shape{}};
  }
  c.set_value(0, v);
}

// OptionalHasElement: known while tracing (optionals are trace-time values); since opset 18 the input
// may itself be missing or a plain tensor/sequence.
void optional_has_element_op(OpContext& c) {
  bool has = c.has_input(0) && c.value(0).kind != Value::Kind::None;
  c.set_known(0, Tensor::scalar(has));
}

void optional_get_element_op(OpContext& c) {
  Value& v = c.value(0);
  if (v.kind == Value::Kind::None) c.fail("the optional input '", c.node().input(0), "' is empty");
  c.set_value(0, v);
}

}  // namespace

void register_sequence_ops(Registry& r) {
  r.add("", "SequenceMap", 17, sequence_map_op);
  r.add("", "Optional", 15, optional_op);
  r.add("", "OptionalHasElement", 15, optional_has_element_op);
  r.add("", "OptionalGetElement", 15, optional_get_element_op);
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
