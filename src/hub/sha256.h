#pragma once
// SHA-256 for graft::hub: the Hub names LFS blobs by the sha256 of their content, so every LFS download is
// verified against its name before it lands in the cache. The hashing is OpenSSL's libcrypto (EVP, with
// the CPU's SHA extensions where present); this is a small incremental wrapper around it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace graft::hub::detail {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void reset();
  void update(const void* data, std::size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // Finishes the hash; the object must be reset() before reuse.
  std::array<std::uint8_t, 32> digest();
  std::string hex_digest();

 private:
  struct Context;  // OpenSSL's EVP_MD_CTX, kept out of this header
  Context* ctx_;
};

std::string sha256_hex(std::string_view data);
// Hashes a whole file (streamed); throws graft::Error naming the file when it cannot be read.
std::string sha256_file_hex(const std::filesystem::path& file);
// Feeds the first `n` bytes of `file` into `h` (to resume hashing a partial download).
void sha256_update_from_file(Sha256& h, const std::filesystem::path& file, std::uint64_t n);

}  // namespace graft::hub::detail
