#include "backend/cuda/codegen.h"

#include <cstring>
#include <sstream>

namespace graft::cuda {

const char* storage_type_name(DType t) {
  switch (t) {
    case DType::Bool: return "bool";
    case DType::I8: return "signed char";
    case DType::I16: return "short";
    case DType::I32: return "int";
    case DType::I64: return "long long";
    case DType::U8: return "unsigned char";
    case DType::U16: return "unsigned short";
    case DType::U32: return "unsigned int";
    case DType::U64: return "unsigned long long";
    case DType::F16: return "gs::half_t";
    case DType::BF16: return "gs::bhalf_t";
    case DType::F32: return "float";
    case DType::F64: return "double";
  }
  return "float";
}

const char* compute_type_name(DType t) {
  return (t == DType::F16 || t == DType::BF16) ? "float" : storage_type_name(t);
}

namespace {

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llxULL", (unsigned long long)v);
  return buf;
}

// A constant as an exact C++ expression of its compute type.
std::string literal(const Tensor& t) {
  const void* p = t.raw();
  switch (t.dtype()) {
    case DType::Bool: return *static_cast<const bool*>(p) ? "true" : "false";
    case DType::I8: return "(signed char)(" + std::to_string(*static_cast<const int8_t*>(p)) + ")";
    case DType::I16: return "(short)(" + std::to_string(*static_cast<const int16_t*>(p)) + ")";
    case DType::I32: return "(int)(" + std::to_string(*static_cast<const int32_t*>(p)) + ")";
    case DType::I64: {
      int64_t v = *static_cast<const int64_t*>(p);
      return "(long long)" + hex(uint64_t(v));  // exact, also for INT64_MIN
    }
    case DType::U8: return "(unsigned char)(" + std::to_string(*static_cast<const uint8_t*>(p)) + "u)";
    case DType::U16: return "(unsigned short)(" + std::to_string(*static_cast<const uint16_t*>(p)) + "u)";
    case DType::U32: return "(unsigned int)(" + std::to_string(*static_cast<const uint32_t*>(p)) + "u)";
    case DType::U64: return "(unsigned long long)" + hex(*static_cast<const uint64_t*>(p));
    case DType::F16: return "gs::to_compute(gs::half_t{" + std::to_string(*static_cast<const uint16_t*>(p)) + "})";
    case DType::BF16: return "gs::to_compute(gs::bhalf_t{" + std::to_string(*static_cast<const uint16_t*>(p)) + "})";
    case DType::F32: {
      uint32_t bits;
      std::memcpy(&bits, p, 4);
      return "__uint_as_float(" + std::to_string(bits) + "u)";
    }
    case DType::F64: {
      uint64_t bits;
      std::memcpy(&bits, p, 8);
      return "__longlong_as_double((long long)" + hex(bits) + ")";
    }
  }
  return "0";
}

bool divides(OpKind k) { return k == OpKind::Div || k == OpKind::Rem || k == OpKind::Fmod; }

// The expression for instruction `ins` (its operands are registers r<a>, r<b>, r<c>).
std::string expression(const EwInstr& ins) {
  auto r = [](int i) { return "r" + std::to_string(i); };
  const std::string name(op_name(ins.kind));
  if (ins.kind == OpKind::Convert)
    return std::string("gs::to_compute(gs::convert<") + storage_type_name(ins.dtype) + ">(" + r(ins.a) + "))";
  if (ins.kind == OpKind::Select) return "gs::op_Select(" + r(ins.a) + ", " + r(ins.b) + ", " + r(ins.c) + ")";
  if (is_unary_elementwise(ins.kind)) return "gs::op_" + name + "(" + r(ins.a) + ")";
  if (divides(ins.kind))
    return "gs::op_" + name + "(" + r(ins.a) + ", " + r(ins.b) + ", err, " + std::to_string(ins.op_id) + ")";
  return "gs::op_" + name + "(" + r(ins.a) + ", " + r(ins.b) + ")";
}

}  // namespace

std::string kernel_source(const EwGroup& g, const std::string& name) {
  const int64_t total = g.count();
  const int rank = int(g.dims.size());
  // 32-bit index arithmetic when every offset fits (inputs are never larger than the output).
  const bool narrow = total < (int64_t(1) << 31);
  const char* I = narrow ? "unsigned int" : "long long";
  std::ostringstream s;
  s << "extern \"C\" __global__ void __launch_bounds__(256) " << name << "(";
  bool first = true;
  auto param = [&](const std::string& p) {
    s << (first ? "" : ", ") << p;
    first = false;
  };
  for (size_t k = 0; k < g.inputs.size(); ++k)
    if (!g.inputs[k].literal) param(std::string("const ") + storage_type_name(g.inputs[k].dtype) + "* __restrict__ in" + std::to_string(k));
  for (size_t k = 0; k < g.outputs.size(); ++k)
    param(std::string(storage_type_name(g.outputs[k].dtype)) + "* __restrict__ out" + std::to_string(k));
  param("gs::ErrorRecord* err");
  s << ") {\n";
  s << "  (void)err;\n";
  const std::string C = std::string("(") + I + ")";  // a C-style cast: "long long" is two words
  s << "  for (" << I << " i = " << C << "blockIdx.x * blockDim.x + threadIdx.x; i < " << C << total
    << "LL; i += " << C << "gridDim.x * blockDim.x) {\n";
  // Output coordinates, when some input or iota is not walked like the output itself.
  std::vector<int64_t> contiguous(size_t(rank), 1);
  for (int a = rank - 2; a >= 0; --a) contiguous[size_t(a)] = contiguous[size_t(a + 1)] * g.dims[size_t(a + 1)];
  auto offset_expr = [&](const std::vector<int64_t>& strides) -> std::string {
    if (strides == contiguous) return "i";
    std::ostringstream e;
    bool any = false;
    for (int a = 0; a < rank; ++a) {
      if (strides[size_t(a)] == 0) continue;
      e << (any ? " + " : "") << "c" << a;
      if (strides[size_t(a)] != 1) e << " * " << C << strides[size_t(a)] << "LL";
      any = true;
    }
    return any ? e.str() : C + "0";
  };
  bool need_coords = false;
  for (const auto& in : g.inputs) need_coords |= !in.literal && in.strides != contiguous;
  for (const auto& ins : g.code) need_coords |= ins.kind == OpKind::Iota && ins.iota_strides != contiguous;
  if (need_coords && rank > 0) {
    s << "    " << I << " rem = i;\n";
    for (int a = rank - 1; a >= 0; --a) {
      if (a > 0) {
        s << "    const " << I << " c" << a << " = rem % " << C << g.dims[size_t(a)] << "LL; rem /= " << C
          << g.dims[size_t(a)] << "LL;\n";
      } else {
        s << "    const " << I << " c0 = rem;\n";
      }
    }
  }
  for (size_t k = 0; k < g.inputs.size(); ++k) {
    const auto& in = g.inputs[k];
    s << "    const " << compute_type_name(in.dtype) << " r" << k << " = ";
    if (in.literal)
      s << literal(in.value) << ";\n";
    else
      s << "gs::to_compute(in" << k << "[" << offset_expr(in.strides) << "]);\n";
  }
  int reg = int(g.inputs.size());
  for (const EwInstr& ins : g.code) {
    s << "    const " << compute_type_name(ins.dtype) << " r" << reg << " = ";
    if (ins.kind == OpKind::Iota)
      s << "gs::to_compute(gs::convert<" << storage_type_name(ins.dtype) << ">((long long)(" << offset_expr(ins.iota_strides)
        << ")));\n";
    else
      s << expression(ins) << ";\n";
    ++reg;
  }
  for (size_t k = 0; k < g.outputs.size(); ++k)
    s << "    out" << k << "[i] = gs::store<" << storage_type_name(g.outputs[k].dtype) << ">(r" << g.outputs[k].reg << ");\n";
  s << "  }\n}\n";
  return s.str();
}

std::string module_source(const std::vector<std::string>& kernels) {
  std::string s = "// generated by graft's CUDA backend (src/backend/cuda/codegen.cpp)\n#include \"graft_scalar.cuh\"\n\n";
  for (const std::string& k : kernels) s += k + "\n";
  return s;
}

}  // namespace graft::cuda
