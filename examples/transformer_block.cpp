// A transformer encoder block written with graft's builder, compiled and run on the CPU backend.
// Run without arguments: it uses built-in sizes (batch 2, sequence 7, hidden 384, 12 heads) and
// deterministic weights, prints the output and the compiled program's statistics.
#include <graft/graft.h>

#include <cmath>
#include <cstdio>
#include <random>

using namespace graft;

namespace {
Tensor random(Shape s, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.f, scale);
  std::vector<float> v(size_t(s.size()));
  for (float& x : v) x = n(rng);
  return Tensor::from_vector(v, s);
}
}  // namespace

int main() {
  const int64_t B = 2, S = 7, H = 384, heads = 12, D = H / heads, F = 4 * H;
  Graph g("encoder_block");
  Node x = g.parameter("hidden", DType::F32, {B, S, H});
  uint32_t seed = 1;
  auto weight = [&](Shape s) { return g.constant(random(s, seed++, 1.f / std::sqrt(float(s[0])))); };
  auto dense = [&](Node in, int64_t in_dim, int64_t out_dim) {
    return MatMul(in, weight({in_dim, out_dim})) + g.constant(random({out_dim}, seed++, 0.02f));
  };
  auto split_heads = [&](Node t) { return Transpose(Reshape(t, {B, S, heads, D}), {0, 2, 1, 3}); };
  Node q = split_heads(dense(x, H, H)), k = split_heads(dense(x, H, H)), v = split_heads(dense(x, H, H));
  Node attn = Reshape(Transpose(ScaledDotProductAttention(q, k, v), {0, 2, 1, 3}), {B, S, H});
  Node h1 = LayerNorm(x + dense(attn, H, H), g.constant(Tensor::full(DType::F32, {H}, 1)),
                      g.constant(Tensor::full(DType::F32, {H}, 0)), -1, 1e-12);
  Node ffn = dense(Gelu(dense(h1, H, F)), F, H);
  Node out = LayerNorm(h1 + ffn, std::nullopt, std::nullopt, -1, 1e-12);
  g.set_outputs({out});

  auto exe = cpu_backend()->compile(g);
  Tensor y = exe->run({random({B, S, H}, 99, 1.f)})[0];
  std::printf("Output: %s\n", y.str().c_str());
  const ExecutableStats& st = exe->stats();
  std::printf("%d ops -> %d kernels (%d fused element-wise groups), arena %.1f KiB (%.1f KiB without reuse), "
              "compiled in %.2f ms\n",
              g.num_ops(), st.num_kernels, st.num_fused_groups, st.arena_bytes / 1024.0, st.naive_bytes / 1024.0,
              st.compile_ms);
  return 0;
}
