// SHA-256 through OpenSSL's EVP interface (sha256.h).
#include "hub/sha256.h"

#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <vector>

#include "graft/core/error.h"

namespace graft::hub::detail {

struct Sha256::Context {
  EVP_MD_CTX* md = nullptr;
};

Sha256::Sha256() : ctx_(new Context) {
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md) {
    delete ctx_;
    throw Error("hub: OpenSSL could not allocate a SHA-256 context");
  }
  reset();
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(ctx_->md);
  delete ctx_;
}

void Sha256::reset() {
  GRAFT_CHECK(EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) == 1, "hub: OpenSSL SHA-256 initialization failed");
}

void Sha256::update(const void* data, std::size_t n) {
  if (n == 0) return;
  GRAFT_CHECK(EVP_DigestUpdate(ctx_->md, data, n) == 1, "hub: OpenSSL SHA-256 update failed");
}

std::array<std::uint8_t, 32> Sha256::digest() {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  GRAFT_CHECK(EVP_DigestFinal_ex(ctx_->md, out.data(), &len) == 1 && len == out.size(),
              "hub: OpenSSL SHA-256 finalization failed");
  return out;
}

std::string Sha256::hex_digest() {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(64);
  for (std::uint8_t b : digest()) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.hex_digest();
}

void sha256_update_from_file(Sha256& h, const std::filesystem::path& file, std::uint64_t n) {
  std::ifstream in(file, std::ios::binary);
  GRAFT_CHECK(in, "hub: cannot read ", file.string(), " to hash it");
  std::vector<char> buf(1 << 20);
  while (n > 0) {
    std::size_t want = std::size_t(std::min<std::uint64_t>(n, buf.size()));
    in.read(buf.data(), std::streamsize(want));
    std::size_t got = std::size_t(in.gcount());
    GRAFT_CHECK(got > 0, "hub: short read while hashing ", file.string());
    h.update(buf.data(), got);
    n -= got;
  }
}

std::string sha256_file_hex(const std::filesystem::path& file) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  GRAFT_CHECK(!ec, "hub: cannot stat ", file.string(), ": ", ec.message());
  Sha256 h;
  sha256_update_from_file(h, file, size);
  return h.hex_digest();
}

}  // namespace graft::hub::detail
