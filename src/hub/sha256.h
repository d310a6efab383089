#pragma once
// SHA-256 (FIPS 180-4), written for graft::hub: the Hub names LFS blobs by the sha256 of their content, so
// every LFS download is verified against its name before it lands in the cache.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace graft::hub::detail {

class Sha256 {
 public:
  Sha256() { reset(); }
  void reset();
  void update(const void* data, std::size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // Finishes the hash; the object must be reset() before reuse.
  std::array<std::uint8_t, 32> digest();
  std::string hex_digest();

 private:
  void block(const std::uint8_t* p);
  std::uint32_t h_[8];
  std::uint8_t buf_[64];
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0;
};

std::string sha256_hex(std::string_view data);
// Hashes a whole file (streamed); throws graft::Error naming the file when it cannot be read.
std::string sha256_file_hex(const std::filesystem::path& file);
// Feeds the first `n` bytes of `file` into `h` (to resume hashing a partial download).
void sha256_update_from_file(Sha256& h, const std::filesystem::path& file, std::uint64_t n);

}  // namespace graft::hub::detail
