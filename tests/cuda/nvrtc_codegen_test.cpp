// Everything the element-wise code generator can emit compiles with NVRTC, which needs no GPU: every
// unary and binary op on every dtype its builder accepts, Select, Convert between every pair of dtypes,
// Iota, literals of every dtype, and fused groups with broadcasts, mixed dtypes and integer division
// (which reports through the error record). Runs in CI on machines without a GPU.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "backend/cuda/codegen.h"
#include "backend/cuda/executable.h"
#include "backend/cuda/lowering.h"
#include "backend/cuda/nvrtc.h"
#include "graft/graph/ops.h"

using namespace graft;

namespace {

constexpr int kArch = 90;  // what the GPU machine has (H100); NVRTC compiles for it anywhere

const std::vector<DType> kAll = {DType::Bool, DType::I8,  DType::I16, DType::I32, DType::I64,  DType::U8,  DType::U16,
                                 DType::U32,  DType::U64, DType::F16, DType::BF16, DType::F32, DType::F64};

// Builds ops with `build` on a parameter of each dtype (skipping those the builder rejects), returns the
// graph with every result as an output.
template <typename F>
Graph graph_over_dtypes(F build, int* built) {
  Graph g("codegen");
  std::vector<Node> outs;
  *built = 0;
  for (DType t : kAll) {
    Node x = g.parameter("x" + std::string(dtype_name(t)), t, Shape{3, 5});
    Node y = g.parameter("y" + std::string(dtype_name(t)), t, Shape{5});
    try {
      for (Node n : build(x, y)) outs.push_back(n);
      ++*built;
    } catch (const Error&) {
      // not a dtype this op takes
    }
  }
  g.set_outputs(outs);
  return g;
}

// The codegen tests compile for real: no disk cache (a previous run's files would answer instead).
struct NoDiskCache : ::testing::Environment {
  void SetUp() override { ::setenv("GRAFT_CUDA_CACHE", "off", 1); }
};
const auto* const kNoDiskCache = ::testing::AddGlobalTestEnvironment(new NoDiskCache);

void expect_compiles(const Graph& g, int min_kernels) {
  int kernels = 0;
  const std::string src = cuda::generated_source(g, CompileOptions{}, &kernels);
  EXPECT_GE(kernels, min_kernels);
  try {
    auto cubin = cuda::compile_to_cubin(src, kArch);
    EXPECT_GT(cubin->size(), 0u);
  } catch (const Error& e) {
    ADD_FAILURE() << e.what();
  }
}

}  // namespace

TEST(CudaCodegen, EveryUnaryOpOnEveryDtypeCompiles) {
  int built = 0;
  Graph g = graph_over_dtypes(
      [](Node x, Node) {
        std::vector<Node> v;
        int accepted = 0;
#define TRY_UNARY(name)      \
  try {                      \
    v.push_back(name(x));    \
    ++accepted;              \
  } catch (const Error&) {   \
  }
        GRAFT_UNARY_OPS(TRY_UNARY)
#undef TRY_UNARY
        if (!accepted) fail("no unary op");
        return v;
      },
      &built);
  EXPECT_EQ(built, 13);
  // Each float dtype takes all 31 ops but Not and BitwiseNot; ints take Neg/Abs/Sign/BitwiseNot (unsigned no Neg).
  expect_compiles(g, 4 * 29 + 4 * 4 + 4 * 3 + 1);  // one kernel per op: they share only a parameter
}

TEST(CudaCodegen, EveryBinaryOpOnEveryDtypeCompiles) {
  int built = 0;
  Graph g = graph_over_dtypes(
      [](Node x, Node y) {
        std::vector<Node> v;
#define TRY_BINARY(name)       \
  try {                        \
    v.push_back(name(x, y));   \
  } catch (const Error&) {     \
  }
        GRAFT_BINARY_OPS(TRY_BINARY)
#undef TRY_BINARY
        if (v.empty()) fail("no binary op");
        return v;
      },
      &built);
  EXPECT_EQ(built, 13);
  expect_compiles(g, 13 * 2);
}

TEST(CudaCodegen, SelectAndIotaOnEveryDtypeCompile) {
  Graph g("select_iota");
  Node p = g.parameter("p", DType::Bool, Shape{2, 1, 4});
  std::vector<Node> outs;
  for (DType t : kAll) {
    Node a = g.parameter("a" + std::string(dtype_name(t)), t, Shape{3, 4});
    Node b = g.parameter("b" + std::string(dtype_name(t)), t, Shape{2, 3, 1});
    outs.push_back(Select(p, a, b));
    outs.push_back(Iota(g, t, Shape{2, 7}, 1));
  }
  g.set_outputs(outs);
  expect_compiles(g, 2 * 13);
}

TEST(CudaCodegen, ConvertBetweenEveryPairOfDtypesCompiles) {
  Graph g("convert");
  std::vector<Node> outs;
  for (DType from : kAll) {
    Node x = g.parameter("x" + std::string(dtype_name(from)), from, Shape{6});
    for (DType to : kAll)
      if (to != from) outs.push_back(Convert(x, to));
  }
  g.set_outputs(outs);
  expect_compiles(g, 13 * 12);
}

TEST(CudaCodegen, LiteralsOfEveryDtypeAreExactAndCompile) {
  Graph g("literals");
  std::vector<Node> outs;
  for (DType t : kAll) {
    Node x = g.parameter("x" + std::string(dtype_name(t)), t, Shape{4});
    Node c = g.scalar_like(t == DType::Bool ? 1.0 : 3.0, t);
    outs.push_back(t == DType::Bool ? Or(x, c) : Max(x, c));
  }
  // Values whose decimal printing would not round-trip, and the extremes of int64.
  Node f = g.parameter("f", DType::F32, Shape{4});
  outs.push_back(f * g.scalar(0.1f));
  Node d = g.parameter("d", DType::F64, Shape{4});
  outs.push_back(d + g.scalar(1.0 / 3.0));
  Node i = g.parameter("i", DType::I64, Shape{4});
  outs.push_back(Max(i, g.scalar(std::numeric_limits<int64_t>::min())));
  g.set_outputs(outs);
  const std::string src = cuda::generated_source(g, CompileOptions{});
  EXPECT_NE(src.find("__uint_as_float(1036831949u)"), std::string::npos) << "0.1f as its bit pattern";
  EXPECT_NE(src.find("(long long)0x8000000000000000ULL"), std::string::npos);
  expect_compiles(g, 13 + 3);
}

TEST(CudaCodegen, FusedGroupsWithBroadcastsAndMixedDtypesCompile) {
  Graph g("fused");
  Node x = g.parameter("x", DType::F32, Shape{2, 8, 16});
  Node bias = g.parameter("bias", DType::F32, Shape{16});
  Node scale = g.parameter("scale", DType::F16, Shape{8, 1});
  Node ids = g.parameter("ids", DType::I32, Shape{2, 8, 16});
  Node k = g.parameter("k", DType::I32, Shape{16});
  // A GELU-like chain, a mixed-precision scale, an iota mask, integer division and remainder.
  Node h = x + bias;
  Node gelu = h * 0.5 * (Erf(h * 0.7071067811865476) + 1.0);
  Node scaled = gelu * Convert(scale, DType::F32);
  Node mask = Less(Iota(g, DType::I32, Shape{2, 8, 16}, 2), ids);
  Node masked = Select(mask, scaled, Full(g, DType::F32, Shape{2, 8, 16}, -1e9));
  Node q = Div(ids, k) + Rem(ids, k);
  Node half = Convert(masked, DType::BF16);
  g.set_outputs({masked, Convert(q, DType::F32), half});
  int kernels = 0;
  const std::string src = cuda::generated_source(g, CompileOptions{}, &kernels);
  EXPECT_NE(src.find("gs::op_Div"), std::string::npos);
  EXPECT_NE(src.find("err,"), std::string::npos) << "integer division reports through the error record";
  try {
    cuda::compile_to_cubin(src, kArch);
  } catch (const Error& e) {
    ADD_FAILURE() << e.what();
  }
  // Fusion: the 20-odd element-wise ops land in a handful of kernels. Groups are cut where joining would
  // make a group wait on something computed after it starts (the broadcast fill, the second integer
  // division) and where shapes differ (the [8, 1] convert recorded in the middle of the chain).
  CompileOptions unfused;
  unfused.fuse_elementwise = false;
  int unfused_kernels = 0;
  cuda::generated_source(g, unfused, &unfused_kernels);
  EXPECT_LT(kernels, unfused_kernels);
  EXPECT_LE(kernels, 6);
}

TEST(CudaCodegen, LargeOutputsIndexWith64Bits) {
  cuda::EwGroup grp;
  grp.dims = {int64_t(1) << 20, 4096};  // 2^32 elements
  cuda::EwGroup::Input in;
  in.dtype = DType::F32;
  in.strides = {4096, 1};
  grp.inputs.push_back(in);
  cuda::EwInstr ins;
  ins.kind = OpKind::Exp;
  ins.dtype = DType::F32;
  ins.a = 0;
  grp.code.push_back(ins);
  grp.outputs.push_back({1, DType::F32});
  const std::string k = cuda::kernel_source(grp, "big");
  EXPECT_NE(k.find("long long i"), std::string::npos);
  cuda::compile_to_cubin(cuda::module_source({k}), kArch);
}

TEST(CudaCodegen, NvrtcErrorsComeWithTheLogAndTheSource) {
  try {
    cuda::compile_to_cubin("extern \"C\" __global__ void broken() { undefined_thing(); }\n", kArch);
    FAIL() << "compiled";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("NVRTC could not compile"), std::string::npos) << m;
    EXPECT_NE(m.find("undefined_thing"), std::string::npos) << m;
  }
}

TEST(CudaCodegen, CompiledKernelsAreCachedOnDiskKeyedBySource) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("graft_cuda_cache_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ::setenv("GRAFT_CUDA_CACHE", dir.string().c_str(), 1);
  const std::string src = cuda::module_source(
      {"extern \"C\" __global__ void cache_probe_" + std::to_string(::getpid()) + "(float* x) { x[0] = 1.0f; }\n"});
  cuda::CompileStats first, second;
  auto a = cuda::compile_to_cubin(src, kArch, &first);
  EXPECT_FALSE(first.memory_hit || first.disk_hit);
  auto b = cuda::compile_to_cubin(src, kArch, &second);
  EXPECT_TRUE(second.memory_hit);
  EXPECT_EQ(*a, *b);
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.path().extension() == ".cubin";
  EXPECT_EQ(files, 1);
  // A different architecture is another entry.
  cuda::compile_to_cubin(src, 80);
  files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.path().extension() == ".cubin";
  EXPECT_EQ(files, 2);
  ::setenv("GRAFT_CUDA_CACHE", "off", 1);
  fs::remove_all(dir);
}
