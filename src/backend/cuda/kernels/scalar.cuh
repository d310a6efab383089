// graft's scalar semantics on the GPU: storage types, conversions and every element-wise op, written
// once for both compilers. nvcc includes this file into the backend's kernels; the element-wise code
// generator hands the same text to NVRTC as the header "graft_scalar.cuh" (embedded at build time), so
// fused and unfused element-wise code cannot disagree. It must therefore compile without any standard
// header (NVRTC has none): plain built-in types, own type traits, CUDA's built-in math functions.
//
// The contract is the CPU backend's (graft/graph/ops.h documents it): f16/bf16 compute in f32; integer
// +, -, * and negation wrap (two's complement); integer division by zero is an error (reported through
// an ErrorRecord, see below) and INT_MIN / -1 wraps; float Min/Max propagate NaN; Round is
// half-to-even; Convert follows ONNX Cast (float -> int truncates and saturates, NaN -> 0; int -> int
// wraps; anything -> bool is != 0; to f16/bf16 rounds to nearest even through f32).
#pragma once

namespace gs {

// ---- storage types ------------------------------------------------------------------------------------
// 16-bit floats are stored as their bit patterns, in distinct types so overloads can tell them apart.
struct half_t { unsigned short bits; };
struct bhalf_t { unsigned short bits; };

typedef long long i64;
typedef unsigned long long u64;

template <bool B, class X, class Y> struct conditional { typedef X type; };
template <class X, class Y> struct conditional<false, X, Y> { typedef Y type; };

template <class A, class B> struct same { static constexpr bool value = false; };
template <class A> struct same<A, A> { static constexpr bool value = true; };

template <class T> struct traits {  // integers: overridden below for the others
  static constexpr bool is_int = true;
  static constexpr bool is_float = false;
};
template <> struct traits<bool> { static constexpr bool is_int = false, is_float = false; };
template <> struct traits<half_t> { static constexpr bool is_int = false, is_float = true; };
template <> struct traits<bhalf_t> { static constexpr bool is_int = false, is_float = true; };
template <> struct traits<float> { static constexpr bool is_int = false, is_float = true; };
template <> struct traits<double> { static constexpr bool is_int = false, is_float = true; };

template <class T> struct unsigned_of { typedef T type; };
template <> struct unsigned_of<signed char> { typedef unsigned char type; };
template <> struct unsigned_of<short> { typedef unsigned short type; };
template <> struct unsigned_of<int> { typedef unsigned int type; };
template <> struct unsigned_of<long long> { typedef unsigned long long type; };

template <class T> struct is_signed_int { static constexpr bool value = false; };
template <> struct is_signed_int<signed char> { static constexpr bool value = true; };
template <> struct is_signed_int<short> { static constexpr bool value = true; };
template <> struct is_signed_int<int> { static constexpr bool value = true; };
template <> struct is_signed_int<long long> { static constexpr bool value = true; };

template <class T> struct limits;
template <> struct limits<signed char> { static constexpr signed char lo = -128, hi = 127; };
template <> struct limits<short> { static constexpr short lo = -32768, hi = 32767; };
template <> struct limits<int> { static constexpr int lo = -2147483647 - 1, hi = 2147483647; };
template <> struct limits<long long> { static constexpr long long lo = -9223372036854775807LL - 1, hi = 9223372036854775807LL; };
template <> struct limits<unsigned char> { static constexpr unsigned char lo = 0, hi = 255; };
template <> struct limits<unsigned short> { static constexpr unsigned short lo = 0, hi = 65535; };
template <> struct limits<unsigned int> { static constexpr unsigned int lo = 0, hi = 4294967295u; };
template <> struct limits<unsigned long long> { static constexpr unsigned long long lo = 0, hi = 18446744073709551615ULL; };

// The type arithmetic happens in.
template <class T> struct compute { typedef T type; };
template <> struct compute<half_t> { typedef float type; };
template <> struct compute<bhalf_t> { typedef float type; };

// ---- errors found while running (integer division by zero, out-of-range indices) -----------------------
// One record per executable, zeroed before a run; the first failing thread claims it with its code and
// fills in the op and details, which the host turns into a graft::Error after the run.
struct ErrorRecord {
  int code;  // 0: no error
  int op;    // the executable's op id
  long long a, b, c, d;
};
enum ErrorCode { kNoError = 0, kDivisionByZero = 1, kIndexOutOfRange = 2 };

enum ReduceKind { kSum = 0, kProd = 1, kMax = 2, kMin = 3, kAnd = 4, kOr = 5 };

// Everything below is device code; host C++ that includes this header sees only the types above.
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)

// ---- 16-bit float conversions (PTX: exact, round to nearest even, NaN stays NaN) ------------------------
__device__ __forceinline__ float to_compute(half_t h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h.bits));
  return f;
}
__device__ __forceinline__ float to_compute(bhalf_t h) { return __uint_as_float((unsigned int)h.bits << 16); }
template <class T> __device__ __forceinline__ T to_compute(T v) { return v; }

__device__ __forceinline__ half_t half_from_float(float f) {
  half_t h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(f));
  return h;
}
__device__ __forceinline__ bhalf_t bhalf_from_float(float f) {
  bhalf_t h;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h.bits) : "f"(f));
  return h;
}

// ---- Convert: ONNX Cast semantics from a compute value of type S to storage type D ----------------------
template <class D, class S> __device__ __forceinline__ D convert(S v) {
  if constexpr (same<D, bool>::value) {
    return v != S(0);
  } else if constexpr (same<D, half_t>::value) {
    return half_from_float(float(v));
  } else if constexpr (same<D, bhalf_t>::value) {
    return bhalf_from_float(float(v));
  } else if constexpr (traits<D>::is_int && traits<S>::is_float) {
    if (v != v) return D(0);
    if (v <= S(limits<D>::lo)) return limits<D>::lo;
    if (v >= S(limits<D>::hi)) return limits<D>::hi;
    return D(v);
  } else {
    return D(v);
  }
}

// Storage value from a compute value of the same dtype (rounds 16-bit floats).
template <class D> __device__ __forceinline__ D store(typename compute<D>::type v) {
  if constexpr (same<D, half_t>::value) return half_from_float(v);
  else if constexpr (same<D, bhalf_t>::value) return bhalf_from_float(v);
  else return v;
}

__device__ __forceinline__ void report(ErrorRecord* e, int code, int op, long long a = 0, long long b = 0,
                                       long long c = 0, long long d = 0) {
  if (e && atomicCAS(&e->code, 0, -1) == 0) {  // claimed: fill in, then publish the code
    e->op = op;
    e->a = a;
    e->b = b;
    e->c = c;
    e->d = d;
    __threadfence();
    atomicExch(&e->code, code);
  }
}

// ---- unary ops (T is the compute type) ----------------------------------------------------------------
#define GS_FLOAT_FN(name, f32, f64)                                             \
  __device__ __forceinline__ float name(float x) { return f32(x); }              \
  __device__ __forceinline__ double name(double x) { return f64(x); }
GS_FLOAT_FN(op_Exp, expf, exp)
GS_FLOAT_FN(op_Expm1, expm1f, expm1)
GS_FLOAT_FN(op_Log, logf, log)
GS_FLOAT_FN(op_Log1p, log1pf, log1p)
GS_FLOAT_FN(op_Sqrt, sqrtf, sqrt)
GS_FLOAT_FN(op_Sin, sinf, sin)
GS_FLOAT_FN(op_Cos, cosf, cos)
GS_FLOAT_FN(op_Tan, tanf, tan)
GS_FLOAT_FN(op_Asin, asinf, asin)
GS_FLOAT_FN(op_Acos, acosf, acos)
GS_FLOAT_FN(op_Atan, atanf, atan)
GS_FLOAT_FN(op_Sinh, sinhf, sinh)
GS_FLOAT_FN(op_Cosh, coshf, cosh)
GS_FLOAT_FN(op_Tanh, tanhf, tanh)
GS_FLOAT_FN(op_Asinh, asinhf, asinh)
GS_FLOAT_FN(op_Acosh, acoshf, acosh)
GS_FLOAT_FN(op_Atanh, atanhf, atanh)
GS_FLOAT_FN(op_Erf, erff, erf)
GS_FLOAT_FN(op_Floor, floorf, floor)
GS_FLOAT_FN(op_Ceil, ceilf, ceil)
GS_FLOAT_FN(op_Round, rintf, rint)  // half to even, as nearbyint in the default rounding mode
#undef GS_FLOAT_FN

template <class T> __device__ __forceinline__ T op_Rsqrt(T x) { return T(1) / op_Sqrt(x); }
template <class T> __device__ __forceinline__ T op_Reciprocal(T x) { return T(1) / x; }
template <class T> __device__ __forceinline__ T op_Logistic(T x) { return T(1) / (T(1) + op_Exp(-x)); }
template <class T> __device__ __forceinline__ bool op_IsNan(T x) { return x != x; }
template <class T> __device__ __forceinline__ bool op_IsInf(T x) { return x == T(1.0 / 0.0) || x == -T(1.0 / 0.0); }
__device__ __forceinline__ bool op_Not(bool x) { return !x; }
template <class T> __device__ __forceinline__ T op_BitwiseNot(T x) { return T(~x); }

template <class T> __device__ __forceinline__ T op_Neg(T x) {
  if constexpr (traits<T>::is_int) {
    typedef typename unsigned_of<T>::type U;
    return T(U(0) - U(x));
  } else {
    return -x;
  }
}
__device__ __forceinline__ float fabs_of(float x) { return fabsf(x); }
__device__ __forceinline__ double fabs_of(double x) { return fabs(x); }
template <class T> __device__ __forceinline__ T op_Abs(T x) {
  if constexpr (traits<T>::is_float) return fabs_of(x);
  else if constexpr (is_signed_int<T>::value) return x < T(0) ? op_Neg(x) : x;
  else return x;
}
template <class T> __device__ __forceinline__ T op_Sign(T x) {
  if constexpr (traits<T>::is_float) return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x);  // keeps NaN and -0
  else return T((x > T(0)) - (x < T(0)));
}

// ---- binary ops -----------------------------------------------------------------------------------------
template <class T> __device__ __forceinline__ T op_Add(T x, T y) {
  if constexpr (traits<T>::is_int) {
    typedef typename unsigned_of<T>::type U;
    return T(U(x) + U(y));
  } else {
    return x + y;
  }
}
template <class T> __device__ __forceinline__ T op_Sub(T x, T y) {
  if constexpr (traits<T>::is_int) {
    typedef typename unsigned_of<T>::type U;
    return T(U(x) - U(y));
  } else {
    return x - y;
  }
}
template <class T> __device__ __forceinline__ T op_Mul(T x, T y) {
  if constexpr (traits<T>::is_int) {
    typedef typename unsigned_of<T>::type U;
    return T(U(x) * U(y));
  } else {
    return x * y;
  }
}
// Integer Div/Rem/Fmod: division by zero is reported (result 0); x / -1 wraps instead of trapping.
template <class T> __device__ __forceinline__ T int_divide(T x, T y, bool rem, ErrorRecord* e, int op) {
  if (y == T(0)) {
    report(e, kDivisionByZero, op);
    return T(0);
  }
  if constexpr (is_signed_int<T>::value) {
    if (y == T(-1)) return rem ? T(0) : op_Neg(x);
  }
  return rem ? T(x % y) : T(x / y);
}
__device__ __forceinline__ float fmod_of(float x, float y) { return fmodf(x, y); }
__device__ __forceinline__ double fmod_of(double x, double y) { return fmod(x, y); }
template <class T> __device__ __forceinline__ T op_Div(T x, T y, ErrorRecord* e, int op) {
  if constexpr (traits<T>::is_int) return int_divide(x, y, false, e, op);
  else return x / y;
}
template <class T> __device__ __forceinline__ T op_Rem(T x, T y, ErrorRecord* e, int op) {
  if constexpr (traits<T>::is_int) return int_divide(x, y, true, e, op);
  else return fmod_of(x, y);  // C fmod: the sign of the dividend
}
template <class T> __device__ __forceinline__ T op_Fmod(T x, T y, ErrorRecord* e, int op) { return op_Rem(x, y, e, op); }

template <class T> __device__ __forceinline__ T op_Pow(T x, T y) {
  if constexpr (traits<T>::is_int) {  // exact integer power, wrapping; negative exponents as the CPU has them
    if constexpr (is_signed_int<T>::value) {
      if (y < T(0)) return x == T(1) ? T(1) : (x == T(-1) ? ((y % T(2)) ? T(-1) : T(1)) : T(0));
    }
    typedef typename unsigned_of<T>::type U;
    U result = 1, b = U(x), k = U(y);
    while (k) {
      if (k & U(1)) result = U(result * b);
      b = U(b * b);
      k = U(k >> 1);
    }
    return T(result);
  } else if constexpr (same<T, float>::value) {
    return powf(x, y);
  } else {
    return pow(x, y);
  }
}
template <class T> __device__ __forceinline__ T op_Min(T x, T y) {
  if constexpr (traits<T>::is_float) return (x != x || y != y) ? x + y : (x < y ? x : y);  // NaN propagates
  else return x < y ? x : y;
}
template <class T> __device__ __forceinline__ T op_Max(T x, T y) {
  if constexpr (traits<T>::is_float) return (x != x || y != y) ? x + y : (x > y ? x : y);
  else return x > y ? x : y;
}
__device__ __forceinline__ float op_Atan2(float x, float y) { return atan2f(x, y); }
__device__ __forceinline__ double op_Atan2(double x, double y) { return atan2(x, y); }

template <class T> __device__ __forceinline__ bool op_Equal(T x, T y) { return x == y; }
template <class T> __device__ __forceinline__ bool op_NotEqual(T x, T y) { return x != y; }
template <class T> __device__ __forceinline__ bool op_Less(T x, T y) { return x < y; }
template <class T> __device__ __forceinline__ bool op_LessEqual(T x, T y) { return x <= y; }
template <class T> __device__ __forceinline__ bool op_Greater(T x, T y) { return x > y; }
template <class T> __device__ __forceinline__ bool op_GreaterEqual(T x, T y) { return x >= y; }
__device__ __forceinline__ bool op_And(bool x, bool y) { return x && y; }
__device__ __forceinline__ bool op_Or(bool x, bool y) { return x || y; }
__device__ __forceinline__ bool op_Xor(bool x, bool y) { return x != y; }
template <class T> __device__ __forceinline__ T op_BitwiseAnd(T x, T y) { return T(x & y); }
template <class T> __device__ __forceinline__ T op_BitwiseOr(T x, T y) { return T(x | y); }
template <class T> __device__ __forceinline__ T op_BitwiseXor(T x, T y) { return T(x ^ y); }
// Shifts by a negative amount or by the bit width or more give 0 (or -1 for a right shift of a
// negative signed value), never undefined behaviour.
template <class T> __device__ __forceinline__ T op_ShiftLeft(T x, T y) {
  typedef typename unsigned_of<T>::type U;
  constexpr long long bits = sizeof(T) * 8;
  if ((long long)y < 0 || (long long)y >= bits || (!is_signed_int<T>::value && U(y) >= U(bits))) return T(0);
  return T(U(x) << U(y));
}
template <class T> __device__ __forceinline__ T op_ShiftRight(T x, T y) {
  typedef typename unsigned_of<T>::type U;
  constexpr long long bits = sizeof(T) * 8;
  if ((long long)y < 0 || (long long)y >= bits || (!is_signed_int<T>::value && U(y) >= U(bits)))
    return (is_signed_int<T>::value && x < T(0)) ? T(-1) : T(0);
  return T(x >> U(y));
}

template <class T> __device__ __forceinline__ T op_Select(bool p, T a, T b) { return p ? a : b; }

// ---- reductions (Reduce, Cumulative, ReduceWindow, Scatter combiners) -----------------------------------
// Accumulators are compute types (f32 for 16-bit floats); integer sums and products wrap (op_Add,
// op_Mul) and integer Min/Max compare in the type itself.
template <class A> __device__ __forceinline__ A combine(int op, A acc, A v) {
  if constexpr (same<A, bool>::value) {
    // Bool: Sum/Max/Or are "any", Prod/Min/And are "all".
    return (op == kSum || op == kMax || op == kOr) ? (acc || v) : (acc && v);
  } else {
    switch (op) {
      case kSum: return op_Add(acc, v);
      case kProd: return op_Mul(acc, v);
      case kMax:
        if constexpr (traits<A>::is_float) return (v != v || v > acc) ? v : acc;  // NaN wins
        else return v > acc ? v : acc;
      case kMin:
        if constexpr (traits<A>::is_float) return (v != v || v < acc) ? v : acc;
        else return v < acc ? v : acc;
      default: return acc;
    }
  }
}

template <class A> __device__ __forceinline__ A identity(int op) {
  if constexpr (same<A, bool>::value) {
    return !(op == kSum || op == kMax || op == kOr);
  } else {
    switch (op) {
      case kSum: return A(0);
      case kProd: return A(1);
      case kMax:
        if constexpr (traits<A>::is_float) return -A(1.0 / 0.0);
        else return limits<A>::lo;
      case kMin:
        if constexpr (traits<A>::is_float) return A(1.0 / 0.0);
        else return limits<A>::hi;
      default: return A(0);
    }
  }
}

#endif  // device code

}  // namespace gs
