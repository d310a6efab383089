// .npy bytes -> graft::parse_npy -> a tensor whose every byte is read (so ASan sees any overrun), and the
// tensor written back and read again must give the same bytes.
#include <cstring>

#include "fuzz_util.h"
#include "graft/core/tensor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  graft::Tensor t;
  try {
    t = graft::parse_npy(data, size, "fuzz.npy");
  } catch (const graft::Error&) {
    return 0;
  }
  const auto* p = static_cast<const unsigned char*>(t.raw());
  unsigned sum = 0;
  for (size_t i = 0; i < t.nbytes(); ++i) sum += p[i];
  (void)sum;
  // Round trip through the writer (bfloat16 is written as its uint16 bit patterns, as NumPy has no bfloat16).
  const std::filesystem::path out = graft::fuzz::scratch_dir() / "roundtrip.npy";
  graft::write_npy(out, t);
  graft::Tensor back = graft::read_npy(out);
  if (back.shape() != t.shape() || back.nbytes() != t.nbytes() ||
      (t.nbytes() && std::memcmp(back.raw(), t.raw(), t.nbytes()) != 0))
    std::abort();
  return 0;
}
