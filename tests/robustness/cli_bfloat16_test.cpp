// bfloat16 through `graft run`: NumPy has no bfloat16, so ONNX's test data and NumPy users store it as uint16
// bit patterns. graft run takes such a .npy for a bfloat16 input and writes bfloat16 outputs the same way.
#include "onnx/onnx_test_util.h"

namespace graft {
namespace {

namespace fs = std::filesystem;
using onnx::testing::ModelBuilder;
using onnx::testing::TempDir;

fs::path graft_binary() {
  if (const char* env = std::getenv("GRAFT_CLI")) return env;
  return fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "tools" / "graft" / "graft";
}

TEST(CliBfloat16, Uint16NpyInAndOut) {
  // y = x * 2 in bfloat16 (doubling only changes the exponent: exact), z = float(x).
  ModelBuilder b;
  b.input("x", DType::BF16, {3});
  b.output("y", DType::BF16, {3});
  b.output("z", DType::F32, {3});
  b.constant("two", Tensor::from_vector(std::vector<float>{2.f}).cast(DType::BF16));
  b.node("Mul", {"x", "two"}, {"y"});
  auto& cast = b.node("Cast", {"x"}, {"z"});
  ModelBuilder::attr(cast, "to", int64_t(::onnx::TensorProto::FLOAT));
  TempDir dir;
  onnx::testing::write_file(dir.path / "m.onnx", b.bytes());
  // bfloat16 bit patterns: 1.0 = 0x3F80, -1.5 = 0xBFC0, 0.25 = 0x3E80.
  write_npy(dir.path / "x.npy", Tensor::from_vector(std::vector<uint16_t>{0x3F80, 0xBFC0, 0x3E80}));
  std::string cmd = "'" + graft_binary().string() + "' run '" + (dir.path / "m.onnx").string() + "' --input x='" +
                    (dir.path / "x.npy").string() + "' --output-dir '" + (dir.path / "out").string() +
                    "' > /dev/null 2> '" + (dir.path / "err").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "see " << (dir.path / "err");
  Tensor y = read_npy(dir.path / "out" / "y.npy");
  ASSERT_EQ(y.dtype(), DType::U16);
  // 2.0 = 0x4000, -3.0 = 0xC040, 0.5 = 0x3F00.
  EXPECT_EQ(y.to_vector<uint16_t>(), std::vector<uint16_t>({0x4000, 0xC040, 0x3F00}));
  EXPECT_EQ(read_npy(dir.path / "out" / "z.npy").to_vector<float>(), std::vector<float>({1.f, -1.5f, 0.25f}));
}

}  // namespace
}  // namespace graft
