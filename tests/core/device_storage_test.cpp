// Tensors with a device copy, against a fake device that keeps its "device memory" in host memory and
// counts what it is asked to do: when copies happen, which copy is current, when device memory is freed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>

#include "graft/core/tensor.h"

using namespace graft;

namespace {

class FakeDevice final : public Device {
 public:
  explicit FakeDevice(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  DeviceKind kind() const override { return DeviceKind::CUDA; }
  void* allocate(size_t nbytes) override {
    void* p = std::malloc(nbytes ? nbytes : 1);
    live[p] = nbytes;
    return p;
  }
  void deallocate(void* p, size_t nbytes) noexcept override {
    EXPECT_EQ(live.count(p), 1u);
    EXPECT_EQ(live[p], nbytes);
    live.erase(p);
    std::free(p);
  }
  void copy_to_host(void* dst, const void* src, size_t n) override {
    EXPECT_EQ(owner_of(src), true);
    ++downloads;
    std::memcpy(dst, src, n);
  }
  void copy_from_host(void* dst, const void* src, size_t n) override {
    EXPECT_EQ(owner_of(dst), true);
    ++uploads;
    std::memcpy(dst, src, n);
  }
  void copy_on_device(void* dst, const void* src, size_t n) override {
    EXPECT_TRUE(owner_of(dst) && owner_of(src));
    ++device_copies;
    std::memcpy(dst, src, n);
  }
  bool owner_of(const void* p) const {
    for (auto& [q, n] : live)
      if (p >= q && static_cast<const char*>(p) < static_cast<const char*>(q) + std::max<size_t>(n, 1)) return true;
    return false;
  }
  std::map<void*, size_t> live;
  int uploads = 0, downloads = 0, device_copies = 0;

 private:
  std::string name_;
};

}  // namespace

TEST(DeviceStorage, HostAccessDownloadsOnceAndMutableAccessDropsTheDeviceCopy) {
  auto dev = std::make_shared<FakeDevice>("fake:0");
  Tensor t = Tensor::empty_on(dev, DType::F32, Shape{4});
  EXPECT_EQ(t.device(), DeviceKind::CUDA);
  EXPECT_TRUE(t.is_on_device());
  EXPECT_FALSE(t.is_on_host());
  EXPECT_EQ(t.device_name(), "fake:0");
  // Write "device memory" directly, as a kernel would.
  float* d = static_cast<float*>(t.device_data_for_overwrite(dev));
  for (int i = 0; i < 4; ++i) d[i] = float(i + 1);

  TransferCounters before = transfer_counters();
  const Tensor& c = t;
  EXPECT_EQ(c.data<float>()[2], 3.f);  // first host read: one download
  EXPECT_EQ(c.value_as_double(3), 4.0);
  EXPECT_EQ(dev->downloads, 1);
  EXPECT_TRUE(t.is_on_host());
  EXPECT_TRUE(t.is_on_device());  // reading keeps the device copy
  EXPECT_EQ(t.device(), DeviceKind::CPU);
  TransferCounters after = transfer_counters();
  EXPECT_EQ(after.to_host - before.to_host, 1u);
  EXPECT_EQ(after.to_host_bytes - before.to_host_bytes, 16u);

  t.data<float>()[0] = 10.f;  // mutable access: the device copy is released
  EXPECT_FALSE(t.is_on_device());
  EXPECT_TRUE(dev->live.empty());
  // Uploaded again on the next device read; the host copy stays current.
  const float* back = static_cast<const float*>(t.to_device(dev).device_data(dev));
  EXPECT_EQ(dev->uploads, 1);
  EXPECT_EQ(back[0], 10.f);
  EXPECT_TRUE(t.is_on_host() && t.is_on_device());
  t.to_device(dev);
  EXPECT_EQ(dev->uploads, 1);  // already current: nothing copied
}

TEST(DeviceStorage, DeviceWritesMakeTheHostCopyStaleForEveryTensorSharingTheStorage) {
  auto dev = std::make_shared<FakeDevice>("fake:0");
  Tensor a = Tensor::from_vector(std::vector<int32_t>{1, 2, 3, 4, 5, 6}, Shape{2, 3});
  Tensor b = a.reshape(Shape{6});  // shares the storage
  int32_t* d = static_cast<int32_t*>(a.mutable_device_data(dev));
  EXPECT_EQ(dev->uploads, 1);
  d[5] = 60;
  EXPECT_FALSE(b.is_on_host());
  EXPECT_EQ(std::as_const(b).data<int32_t>()[5], 60);
  EXPECT_EQ(dev->downloads, 1);
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 3, 4, 5, 60}));
  EXPECT_EQ(dev->downloads, 1);
}

TEST(DeviceStorage, CloneOfADeviceTensorStaysOnTheDevice) {
  auto dev = std::make_shared<FakeDevice>("fake:0");
  Tensor t = Tensor::empty_on(dev, DType::I16, Shape{3});
  int16_t* d = static_cast<int16_t*>(t.device_data_for_overwrite(dev));
  d[0] = 7, d[1] = 8, d[2] = 9;
  Tensor c = t.clone();
  EXPECT_EQ(dev->device_copies, 1);
  EXPECT_FALSE(c.is_on_host());
  EXPECT_NE(c.device_data(dev), t.device_data(dev));
  EXPECT_EQ(c.to_vector<int64_t>(), (std::vector<int64_t>{7, 8, 9}));
  EXPECT_EQ(dev->downloads, 1);
}

TEST(DeviceStorage, MovesBetweenDevicesThroughTheHostAndFreesDeviceMemory) {
  auto d0 = std::make_shared<FakeDevice>("fake:0");
  auto d1 = std::make_shared<FakeDevice>("fake:1");
  {
    Tensor t = Tensor::from_vector(std::vector<double>{1.5, -2.5});
    t.to_device(d0);
    double* p = static_cast<double*>(t.mutable_device_data(d0));
    p[1] = 4.0;
    const double* q = static_cast<const double*>(t.device_data(d1));
    EXPECT_EQ(q[1], 4.0);
    EXPECT_EQ(d0->downloads, 1);
    EXPECT_TRUE(d0->live.empty());  // left d0
    EXPECT_EQ(d1->live.size(), 1u);
    EXPECT_EQ(t.device_name(), "fake:1");
  }
  EXPECT_TRUE(d1->live.empty());  // freed with the storage
}

TEST(DeviceStorage, RegistryFindsDevicesByName) {
  auto dev = std::make_shared<FakeDevice>("fakereg:0");
  register_device(dev);
  EXPECT_EQ(find_device("fakereg"), dev);
  EXPECT_EQ(find_device("fakereg:0"), dev);
  EXPECT_EQ(find_device("fakereg:1"), nullptr);
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2}).to_device("fakereg");
  EXPECT_TRUE(t.is_on_device());
  try {
    t.to_device("nosuch:3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no device 'nosuch:3'"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(t.to_device("cpu").is_on_host());
}

TEST(DeviceStorage, EmptyTensorsNeedNoCopies) {
  auto dev = std::make_shared<FakeDevice>("fake:0");
  Tensor t = Tensor::empty_on(dev, DType::F32, Shape{0, 3});
  EXPECT_EQ(t.to_vector<float>().size(), 0u);
  EXPECT_EQ(dev->downloads, 0);
}
