#include <gtest/gtest.h>

#include <fstream>

#include "graft/context/checkpoint.h"

using namespace graft;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("graft_ckpt_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void spit(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}
// A safetensors file assembled by hand from a header string and data bytes.
std::string raw_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}
void expect_error(const std::string& bytes, const std::string& needle) {
  try {
    parse_safetensors(bytes.data(), bytes.size(), "bad.safetensors");
    FAIL() << "accepted: " << needle;
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("bad.safetensors"), std::string::npos) << m;
    EXPECT_NE(m.find(needle), std::string::npos) << m;
  }
}
}  // namespace

TEST(Safetensors, ExactByteLayout) {
  // Built by hand from the format spec: header length (LE u64), JSON, data; padded to 8 with spaces.
  std::string bytes = serialize_safetensors({{"a", Tensor({1.f, 2.f})}, {"b", Tensor::scalar<int64_t>(7)}},
                                            {{"format", "pt"}});
  std::string header =
      R"({"__metadata__":{"format":"pt"},"a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]},)"
      R"("b":{"data_offsets":[8,16],"dtype":"I64","shape":[]}})";
  while (header.size() % 8) header += ' ';
  float f[2] = {1.f, 2.f};
  int64_t i = 7;
  std::string data(reinterpret_cast<char*>(f), 8);
  data.append(reinterpret_cast<char*>(&i), 8);
  EXPECT_EQ(bytes, raw_file(header, data));
}

TEST(Safetensors, RoundTripAllDtypes) {
  fs::path d = temp_dir("rt");
  std::vector<std::pair<std::string, Tensor>> ts = {
      {"f32", Tensor({{1.f, -2.f}, {3.f, 4.5f}})},
      {"f64", Tensor({1.0, 2.0})},
      {"f16", Tensor({1.f, 0.5f}).cast(DType::F16)},
      {"bf16", Tensor({1.f, 3.f}).cast(DType::BF16)},
      {"i64", Tensor::from_vector<int64_t>({1, 2, 3})},
      {"i32", Tensor::from_vector<int32_t>({-1})},
      {"u8", Tensor::from_vector<uint8_t>({255})},
      {"bool", Tensor::from_vector<bool>({true, false})},
      {"empty", Tensor::zeros(DType::F32, {0, 3})}};
  write_safetensors(d / "x.safetensors", ts, {{"k", "v"}});
  SafetensorsFile f = read_safetensors(d / "x.safetensors");
  EXPECT_EQ(f.metadata.at("k"), "v");
  ASSERT_EQ(f.tensors.size(), ts.size());
  for (const auto& [n, t] : ts) {
    const Tensor* r = f.find(n);
    ASSERT_NE(r, nullptr) << n;
    EXPECT_EQ(r->dtype(), t.dtype()) << n;
    EXPECT_EQ(r->shape(), t.shape()) << n;
    EXPECT_EQ(std::memcmp(r->raw(), t.raw(), t.nbytes()), 0) << n;
  }
  // no temp files left behind
  int files = 0;
  for (auto it = fs::directory_iterator(d); it != fs::directory_iterator(); ++it) ++files;
  EXPECT_EQ(files, 1);
  fs::remove_all(d);
}

TEST(Safetensors, CorruptFilesRejected) {
  std::string good_h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string data(8, '\0');
  parse_safetensors(raw_file(good_h, data).data(), raw_file(good_h, data).size(), "ok");  // sanity
  expect_error(std::string("\x01\x02", 2), "truncated");
  std::string big = raw_file(good_h, data);
  big[0] = char(0xff), big[1] = char(0xff);
  expect_error(big, "beyond the file");
  expect_error(raw_file(good_h, data).substr(0, 30), "beyond the file");        // truncated header
  expect_error(raw_file(good_h, data.substr(0, 4)), "out of range");            // truncated data
  expect_error(raw_file("{\"a\":", "xxxx"), "not valid JSON");
  expect_error(raw_file(R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", data), "F33");
  expect_error(raw_file(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", data), "needs 16");  // dtype mismatch
  expect_error(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                        data),
               "overlaps");
  expect_error(raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data), "gap");
  expect_error(raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", data), "trailing");
  expect_error(raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", data), "out of range");
  expect_error(raw_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", data), "negative");
  expect_error(raw_file(R"({"a":{"dtype":"F32"}})", data), "data_offsets");
  expect_error(raw_file(R"({"__metadata__":{"x":1}})", ""), "not a string");
  // the file reader names the path
  fs::path d = temp_dir("corrupt");
  spit(d / "t.safetensors", std::string("\x10\0\0\0\0\0\0\0{", 9));
  try {
    read_safetensors(d / "t.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((d / "t.safetensors").string()), std::string::npos);
  }
  EXPECT_THROW(read_safetensors(d / "missing.safetensors"), Error);
  fs::remove_all(d);
}

TEST(Checkpoint, SaveLoadContextAndKeepLastN) {
  fs::path d = temp_dir("mgr");
  Context ctx;
  ctx.in("enc").variable("w", Tensor({1.f, 2.f}));
  ctx.variable("/optimizer/step", Tensor::scalar<int64_t>(5));
  ctx.in("enc").variable("frozen", Tensor({3.f}), false);
  ctx.set_hparam("lr", 0.1);
  ctx.set_hparam("epochs", int64_t(2));
  CheckpointManager mgr(d, 2);
  EXPECT_FALSE(mgr.latest().has_value());
  Context empty;
  EXPECT_FALSE(mgr.restore(empty).has_value());
  for (int s = 1; s <= 4; ++s) {
    ctx.at("/enc/w").value = Tensor({float(s), 2.f});
    mgr.save(ctx, s * 10, {{"note", std::string("x")}});
  }
  EXPECT_EQ(mgr.steps(), (std::vector<int64_t>{30, 40}));
  Context back;
  auto extra = mgr.restore(back);
  ASSERT_TRUE(extra.has_value());
  EXPECT_EQ(std::get<int64_t>(extra->at("step")), 40);
  EXPECT_EQ(std::get<std::string>(extra->at("note")), "x");
  EXPECT_EQ(back.value("/enc/w").to_vector<float>(), (std::vector<float>{4.f, 2.f}));
  EXPECT_FALSE(back.at("/enc/frozen").trainable);
  EXPECT_EQ(back.value("/optimizer/step").item<int64_t>(), 5);
  EXPECT_DOUBLE_EQ(back.hparam<double>("lr"), 0.1);
  EXPECT_EQ(back.hparam<int>("epochs"), 2);
  // restoring into a context with a mismatched variable fails, naming both
  Context wrong;
  wrong.in("enc").variable("w", Tensor({1.f, 2.f, 3.f}));
  EXPECT_THROW(mgr.restore(wrong, 30), Error);
  // strict: a variable missing from the file is an error
  Context more = ctx.clone();
  more.variable("extra", Tensor({1.f}));
  EXPECT_THROW(mgr.restore(more), Error);
  // a corrupted checkpoint names the file
  std::string b = slurp(mgr.path_for(40));
  spit(mgr.path_for(40), b.substr(0, b.size() - 3));
  try {
    mgr.restore(back);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ckpt-000000040.safetensors"), std::string::npos) << e.what();
  }
  fs::remove_all(d);
}
