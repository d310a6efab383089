#include <gtest/gtest.h>

#include "hub/sha256.h"
#include "hub/test_util.h"

using graft::hub::detail::Sha256;
using graft::hub::detail::sha256_file_hex;
using graft::hub::detail::sha256_hex;

// Test vectors from FIPS 180-4 / NIST CSRC examples (the hashing itself is OpenSSL's).
TEST(HubSha256, FipsVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(HubSha256, MillionA) {
  Sha256 h;
  std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.update(chunk);
  EXPECT_EQ(h.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(HubSha256, IncrementalEqualsOneShotAtEveryBoundary) {
  const std::string data = hubtest::payload(300, 7);
  const std::string want = sha256_hex(data);
  for (std::size_t split = 0; split <= data.size(); split += 13) {
    Sha256 h;
    h.update(data.substr(0, split));
    for (std::size_t i = split; i < data.size(); i += 5) h.update(data.substr(i, 5));
    EXPECT_EQ(h.hex_digest(), want) << "split at " << split;
  }
  for (std::size_t n : {55u, 56u, 63u, 64u, 65u, 119u, 120u})
    EXPECT_EQ(sha256_hex(std::string(n, 'x')).size(), 64u);
}

TEST(HubSha256, File) {
  hubtest::TempDir dir;
  const std::string data = hubtest::payload(3 << 20, 3);
  hubtest::write_file(dir.path() / "f.bin", data);
  EXPECT_EQ(sha256_file_hex(dir.path() / "f.bin"), sha256_hex(data));
  EXPECT_THROW(sha256_file_hex(dir.path() / "missing"), graft::Error);
}

TEST(HubSha256, ResetStartsOver) {
  Sha256 h;
  h.update("some bytes that are thrown away");
  h.reset();
  h.update("abc");
  EXPECT_EQ(h.hex_digest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  h.reset();  // usable again after a digest
  EXPECT_EQ(h.hex_digest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
