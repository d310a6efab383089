#pragma once
// Composite ops: one node that computes something every backend, the exporter and autodiff understand
// (a softmax, a normalization, an activation, attention, a recurrence) and that is defined by its
// decomposition into primitives. Each composite's parameters are one struct declared here, stored typed in
// CompositeAttrs and read through `composite_params<P>(op)` (graft/graph/graph.h) by gradient rules,
// kernels and exporters: no layer reads parameters by position.
//
// A backend runs a composite with a fused kernel when it has one and otherwise expands it (Decompose);
// autodiff has closed-form rules for some and differentiates the others through their decomposition.
// Adding a composite: its Params struct and a line in GRAFT_COMPOSITES here, its builder and decomposition
// in src/graph/<family>.cpp, and the completeness test (tests/graph/completeness_test.cpp) then names what
// else it needs (gradient rule or decomposition, kernels, export).
#include <any>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace graft {

// ---- activation ----------------------------------------------------------------------------------------
struct SoftmaxParams { int axis = -1; };     // axis normalized to [0, rank)
struct LogSoftmaxParams { int axis = -1; };
struct GeluParams { bool tanh_approximation = false; };
struct SiluParams {};

// ---- normalization -------------------------------------------------------------------------------------
// Normalizes over the trailing axes [axis, rank). Inputs x[, scale][, bias].
struct LayerNormParams {
  int axis = -1;
  bool has_scale = false, has_bias = false;
  double epsilon = 1e-5;
};
// Inputs x[, scale].
struct RmsNormParams {
  int axis = -1;
  bool has_scale = false;
  double epsilon = 1e-6;
};
// Inputs x [N, C, ...], scale [C], bias [C]; C splits into `groups` groups (InstanceNorm: groups = C).
struct GroupNormParams {
  int64_t groups = 1;
  double epsilon = 1e-5;
};
// Inference form with given statistics. Inputs x [N, C, ...], scale, bias, mean, var (all [C]).
struct BatchNormParams { double epsilon = 1e-5; };

// ---- attention -----------------------------------------------------------------------------------------
// Inputs q [.., Hq, Lq, D], k [.., Hkv, Lk, D], v [.., Hkv, Lk, Dv][, mask]; Hq a multiple of Hkv.
// mask: bool (true = attend) or additive, broadcast to [.., Hq, Lq, Lk]; causal is top-left aligned.
struct AttentionParams {
  bool causal = false;
  bool has_mask = false;
  double scale = 1.0;
};

// ---- recurrent -----------------------------------------------------------------------------------------
enum class RnnCell : uint8_t { Rnn, Gru, Lstm };
// The recurrences of one RNN/GRU/LSTM layer (ONNX semantics, default activations: sigmoid for gates, tanh
// for candidates and output) over a static sequence, for `directions` directions (direction 1 runs
// reversed). Operands come in per-direction blocks, D = directions:
//   xp[D]      [seq, batch, gates*hidden]  the input projection of every step, biases folded in (gate
//                                           order i, o, f, c for LSTM; z, r, h for GRU)
//   rt[D]      [hidden, gates*hidden]      the recurrent weight, transposed
//   h0[D], c0[D] [batch, hidden]           initial states (c0 unused but present for RNN/GRU)
//   [lens]     [batch] int64               when has_lens: steps past an entry's length keep the state, emit 0
//   [peep[D]]  [3*hidden]                  when has_peepholes (LSTM): i, o, f
//   [rbh[D]]   [hidden]                    when has_recurrent_bias (GRU linear_before_reset): the h gate's
//                                           recurrent bias, applied inside the reset product
// Outputs: Y[D] [seq, batch, hidden], last h[D], last c[D] [batch, hidden].
struct RnnScanParams {
  RnnCell cell = RnnCell::Lstm;
  int directions = 1;
  bool reverse = false;  // direction 0 runs reversed (ONNX direction="reverse")
  bool has_lens = false, has_peepholes = false, has_recurrent_bias = false;
  bool linear_before_reset = false;  // GRU
  bool input_forget = false;         // LSTM: f = 1 - i
  std::optional<double> clip;        // pre-activations clamped to [-clip, clip]
  int gates() const { return cell == RnnCell::Rnn ? 1 : cell == RnnCell::Gru ? 3 : 4; }
};

// ---- user-defined --------------------------------------------------------------------------------------
// A composite a user builds with graft::Composite(name, ...): its decomposition is a function it carries.
// `data` is for whoever defined it (a kernel of its own, say) and travels with the node unread by graft;
// backends use such composites, with data only they read, for their own fused forms after compiling.
struct CustomCompositeParams {
  std::string name;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::any data;
};

// X(Kind, "name", Params): every composite kind, in the order of CompositeParams' alternatives.
#define GRAFT_COMPOSITES(X)                                                                              \
  X(Softmax, "softmax", SoftmaxParams) X(LogSoftmax, "log_softmax", LogSoftmaxParams)                   \
  X(Gelu, "gelu", GeluParams) X(Silu, "silu", SiluParams) X(LayerNorm, "layer_norm", LayerNormParams)   \
  X(RmsNorm, "rms_norm", RmsNormParams) X(GroupNorm, "group_norm", GroupNormParams)                     \
  X(BatchNorm, "batch_norm", BatchNormParams) X(Attention, "attention", AttentionParams)                \
  X(RnnScan, "rnn_scan", RnnScanParams) X(Custom, "custom", CustomCompositeParams)

enum class CompositeKind : uint8_t {
#define GRAFT_COMPOSITE_ENUM(kind, name, params) kind,
  GRAFT_COMPOSITES(GRAFT_COMPOSITE_ENUM)
#undef GRAFT_COMPOSITE_ENUM
  kCount
};

// Alternative i holds the parameters of CompositeKind i (checked in src/graph/composites.cpp).
using CompositeParams =
    std::variant<SoftmaxParams, LogSoftmaxParams, GeluParams, SiluParams, LayerNormParams, RmsNormParams,
                 GroupNormParams, BatchNormParams, AttentionParams, RnnScanParams, CustomCompositeParams>;
static_assert(std::variant_size_v<CompositeParams> == size_t(CompositeKind::kCount));

// "layer_norm", ... ("custom" for user composites; CompositeAttrs::name() gives their own name).
std::string_view composite_name(CompositeKind k);

namespace detail {
template <typename P, typename V>
struct alternative_index;
template <typename P, typename... Ts>
struct alternative_index<P, std::variant<Ts...>> {
  static constexpr size_t value = [] {
    size_t i = 0;
    bool found = ((std::is_same_v<P, Ts> ? true : (++i, false)) || ...);
    return found ? i : sizeof...(Ts);
  }();
};
}  // namespace detail

// The kind whose parameters are P.
template <typename P>
constexpr CompositeKind composite_kind_of() {
  constexpr size_t i = detail::alternative_index<P, CompositeParams>::value;
  static_assert(i < size_t(CompositeKind::kCount), "not a composite's parameter struct");
  return CompositeKind(i);
}

}  // namespace graft
