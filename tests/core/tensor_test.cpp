#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "graft/core/tensor.h"

using namespace graft;

TEST(Shape, BroadcastAndErrors) {
  EXPECT_EQ(broadcast_shapes(Shape{2, 1, 3}, Shape{4, 1}), (Shape{2, 4, 3}));
  EXPECT_EQ(broadcast_shapes(Shape{}, Shape{5}), (Shape{5}));
  EXPECT_EQ(broadcast_shapes(Shape{0, 3}, Shape{1, 3}), (Shape{0, 3}));
  try {
    broadcast_shapes(Shape{2, 3}, Shape{4}, "Add");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3] and [4]"), std::string::npos) << e.what();
  }
  Shape s{2, 7, 384};
  EXPECT_EQ(s.size(), 2 * 7 * 384);
  EXPECT_EQ(s[-1], 384);
  EXPECT_EQ(s.strides(), (std::vector<int64_t>{7 * 384, 384, 1}));
  EXPECT_THROW(s.normalize_axis(3), Error);
  EXPECT_THROW((Shape{2, -1}), Error);
}

TEST(Tensor, NestedInitializerLists) {
  Tensor t{{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}};
  EXPECT_EQ(t.dtype(), DType::F32);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ((t.at<float>({1, 2})), 6.f);
  Tensor i{{{int64_t(1)}, {int64_t(2)}}};
  EXPECT_EQ(i.dtype(), DType::I64);
  EXPECT_EQ(i.shape(), (Shape{1, 2, 1}));
  EXPECT_THROW((Tensor{{1.f, 2.f}, {3.f}}), Error);  // ragged
}

TEST(Tensor, AccessChecks) {
  Tensor t = Tensor::from_vector(std::vector<int32_t>{1, 2, 3, 4}, Shape{2, 2});
  EXPECT_THROW(t.data<float>(), Error);
  EXPECT_THROW((t.at<int32_t>({2, 0})), Error);
  EXPECT_THROW((t.at<int32_t>({0})), Error);
  EXPECT_THROW(Tensor::from_vector(std::vector<float>{1, 2, 3}, Shape{2, 2}), Error);
  EXPECT_EQ(t.to_vector<double>(), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(t.reshape(Shape{4}).shape(), (Shape{4}));
  EXPECT_THROW(t.reshape(Shape{3}), Error);
  Tensor c = t.clone();
  c.data<int32_t>()[0] = 9;
  EXPECT_EQ(t.data<int32_t>()[0], 1);  // clone is deep
  Tensor shared = t;
  shared.data<int32_t>()[0] = 7;
  EXPECT_EQ(t.data<int32_t>()[0], 7);  // copies share storage
}

TEST(Tensor, CastAndFull) {
  Tensor f = Tensor::full(DType::F16, Shape{3}, 1.5);
  EXPECT_EQ(f.to_vector<float>(), (std::vector<float>{1.5f, 1.5f, 1.5f}));
  Tensor c = Tensor{2.7f, -2.7f}.cast(DType::I32);
  EXPECT_EQ(c.to_vector<int32_t>(), (std::vector<int32_t>{2, -2}));
}

TEST(Tensor, Printing) {
  Tensor t{{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}};
  EXPECT_EQ(t.str(), "[2][3]float32{ {{1, 2, 3}, {4, 5, 6}} }");
  EXPECT_EQ(Tensor::scalar<int64_t>(-3).str(), "int64(-3)");
  EXPECT_EQ((Tensor{true, false}).str(), "[2]bool{ {true, false} }");
  std::vector<float> v(2 * 7 * 384);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i) * 0.001f;
  std::string s = Tensor::from_vector(v, Shape{2, 7, 384}).str();
  EXPECT_EQ(s.rfind("[2][7][384]float32{ {{{0, 0.001, 0.002, ..., 0.381, 0.382, 0.383}", 0), 0u) << s;
  EXPECT_NE(s.find("..."), std::string::npos);
  EXPECT_LT(s.size(), 1000u);  // long axes are elided
}

TEST(Npy, RoundTripAllTypes) {
  auto dir = std::filesystem::temp_directory_path() / "graft_npy_test";
  std::filesystem::create_directories(dir);
  std::vector<Tensor> ts = {
      Tensor{{1.f, 2.f}, {3.f, 4.f}},
      Tensor::from_vector(std::vector<int64_t>{-1, 5, 7}),
      Tensor::scalar<double>(2.5),
      Tensor{true, false, true},
      Tensor::from_vector(std::vector<uint8_t>{0, 255}),
      Tensor::full(DType::F16, Shape{2, 0, 3}, 0),
  };
  for (size_t i = 0; i < ts.size(); ++i) {
    auto p = dir / ("t" + std::to_string(i) + ".npy");
    write_npy(p, ts[i]);
    Tensor back = read_npy(p);
    EXPECT_EQ(back.dtype(), ts[i].dtype());
    EXPECT_EQ(back.shape(), ts[i].shape());
    EXPECT_EQ(std::memcmp(back.raw(), ts[i].raw(), ts[i].nbytes()), 0);
  }
  // No temporary files are left behind.
  for (auto& e : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << e.path();
  std::filesystem::remove_all(dir);
}

// A .npy file written by hand following NumPy's format spec: version 1.0, Fortran order.
TEST(Npy, ParsesFortranOrderAndRejectsTruncation) {
  std::string header = "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += char(header.size() & 0xff);
  bytes += char(header.size() >> 8);
  bytes += header;
  // Column-major data of [[1, 2, 3], [4, 5, 6]]: 1 4 2 5 3 6.
  for (int32_t v : {1, 4, 2, 5, 3, 6}) bytes.append(reinterpret_cast<const char*>(&v), 4);
  Tensor t = parse_npy(bytes.data(), bytes.size());
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.to_vector<int32_t>(), (std::vector<int32_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_THROW(parse_npy(bytes.data(), bytes.size() - 1), Error);
  EXPECT_THROW(parse_npy(bytes.data(), 5), Error);
  EXPECT_THROW(read_npy("/nonexistent/file.npy"), Error);
  try {
    parse_npy(bytes.data(), bytes.size() - 4, "x.npy");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.npy"), std::string::npos);
  }
}

TEST(Compare, AllCloseAndMaxAbsDiff) {
  Tensor a{1.f, 2.f, NAN};
  Tensor b{1.f, 2.00001f, NAN};
  EXPECT_TRUE(allclose(a, b, 1e-4));
  EXPECT_FALSE(allclose(a, b, 1e-7, 0));
  EXPECT_NEAR(max_abs_diff(a, b), 1e-5, 1e-6);
  EXPECT_FALSE(allclose(a, Tensor{1.f, 2.f}));
}
