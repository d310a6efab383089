#include "graft/core/dtype.h"

#include <array>
#include <bit>
#include <cmath>

#include "graft/core/error.h"

namespace graft {

namespace {
struct DTypeInfo {
  std::string_view name;
  size_t size;
};
constexpr std::array<DTypeInfo, kNumDTypes> kInfo = {{
    {"bool", 1}, {"int8", 1}, {"int16", 2}, {"int32", 4}, {"int64", 8}, {"uint8", 1}, {"uint16", 2},
    {"uint32", 4}, {"uint64", 8}, {"float16", 2}, {"bfloat16", 2}, {"float32", 4}, {"float64", 8},
}};
}  // namespace

size_t dtype_size(DType t) { return kInfo[size_t(t)].size; }
std::string_view dtype_name(DType t) { return kInfo[size_t(t)].name; }

DType dtype_from_name(std::string_view n) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (kInfo[i].name == n) return DType(i);
  fail("unknown dtype name '", n, "'");
}

bool is_floating(DType t) { return t == DType::F16 || t == DType::BF16 || t == DType::F32 || t == DType::F64; }
bool is_signed_integer(DType t) { return t == DType::I8 || t == DType::I16 || t == DType::I32 || t == DType::I64; }
bool is_unsigned_integer(DType t) { return t == DType::U8 || t == DType::U16 || t == DType::U32 || t == DType::U64; }
bool is_integer(DType t) { return is_signed_integer(t) || is_unsigned_integer(t); }

// Round-to-nearest-even f32 -> f16, with overflow to inf, subnormals, and NaN kept quiet.
float16::float16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t abs = x & 0x7fffffffu;
  uint16_t out;
  if (abs >= 0x7f800000u) {  // inf or nan
    out = uint16_t(abs > 0x7f800000u ? 0x7e00u : 0x7c00u);
  } else if (abs >= 0x477ff000u) {  // rounds to >= 65520: overflow
    out = 0x7c00u;
  } else if (abs < 0x38800000u) {  // below the smallest normal f16 (2^-14): subnormal or zero
    // Scale into the subnormal range with float arithmetic, which rounds to nearest even.
    float a = std::bit_cast<float>(abs);
    float scaled = a * 16777216.0f;  // 2^24: one f16 subnormal ulp becomes 1.0
    out = uint16_t(std::nearbyint(scaled));
  } else {
    uint32_t mant_odd = (abs >> 13) & 1u;
    abs += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round to nearest even
    out = uint16_t(abs >> 13);
  }
  bits = uint16_t(out | sign);
}

float16::operator float() const {
  uint32_t sign = uint32_t(bits & 0x8000u) << 16;
  uint32_t exp = (bits >> 10) & 0x1fu;
  uint32_t mant = bits & 0x3ffu;
  uint32_t out;
  if (exp == 0) {
    float v = float(mant) * 5.9604644775390625e-8f;  // 2^-24
    return sign ? -v : v;
  } else if (exp == 31) {
    out = sign | 0x7f800000u | (mant << 13);
  } else {
    out = sign | ((exp + 112) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(out);
}

bfloat16::bfloat16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    bits = uint16_t((u >> 16) | 0x40u);  // quiet NaN
    return;
  }
  u += 0x7fffu + ((u >> 16) & 1u);
  bits = uint16_t(u >> 16);
}

}  // namespace graft
