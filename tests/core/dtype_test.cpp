#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "graft/core/dtype.h"
#include "graft/core/error.h"

using namespace graft;

// Expected bit patterns come from the IEEE-754 binary16 definition (sign, 5-bit exponent with bias 15,
// 10-bit fraction), worked out by hand in each comment.
TEST(Float16, ExactValues) {
  EXPECT_EQ(float16(1.0f).bits, 0x3C00);      // 0 01111 0000000000
  EXPECT_EQ(float16(-2.0f).bits, 0xC000);     // 1 10000 0000000000
  EXPECT_EQ(float16(65504.0f).bits, 0x7BFF);  // largest finite
  EXPECT_EQ(float16(0.0f).bits, 0x0000);
  EXPECT_EQ(float16(-0.0f).bits, 0x8000);
  EXPECT_EQ(float16(std::ldexp(1.0f, -24)).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(float16(std::ldexp(1.0f, -14)).bits, 0x0400);  // smallest normal
}

TEST(Float16, RoundingAndOverflow) {
  EXPECT_EQ(float16(65519.0f).bits, 0x7BFF);  // below the halfway point to 65536 rounds down
  EXPECT_EQ(float16(65520.0f).bits, 0x7C00);  // halfway rounds to even = infinity
  EXPECT_EQ(float16(1e10f).bits, 0x7C00);
  EXPECT_EQ(float16(-std::numeric_limits<float>::infinity()).bits, 0xFC00);
  EXPECT_TRUE(std::isnan(float(float16(std::nanf("")))));
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1.0).
  EXPECT_EQ(float16(1.0f + std::ldexp(1.0f, -11)).bits, 0x3C00);
  // 1 + 3 * 2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9 (even): rounds up.
  EXPECT_EQ(float16(1.0f + 3 * std::ldexp(1.0f, -11)).bits, 0x3C02);
  // Subnormal halfway: 1.5 * 2^-24 ties to 2 * 2^-24.
  EXPECT_EQ(float16(1.5f * std::ldexp(1.0f, -24)).bits, 0x0002);
  EXPECT_EQ(float16(0.5f * std::ldexp(1.0f, -24)).bits, 0x0000);
}

TEST(Float16, RoundTripsEveryPattern) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    float16 h = float16::from_bits(uint16_t(b));
    float f = float(h);
    if (std::isnan(f)) continue;
    ASSERT_EQ(float16(f).bits, b) << "pattern " << b;
  }
}

TEST(BFloat16, RoundsToNearestEven) {
  EXPECT_EQ(bfloat16(1.0f).bits, 0x3F80);
  EXPECT_EQ(float(bfloat16(3.140625f)), 3.140625f);  // exactly representable
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(bfloat16(1.0f + std::ldexp(1.0f, -8)).bits, 0x3F80);
  EXPECT_EQ(bfloat16(1.0f + 3 * std::ldexp(1.0f, -8)).bits, 0x3F82);
  EXPECT_TRUE(std::isnan(float(bfloat16(std::nanf("")))));
}

TEST(DType, NamesAndSizes) {
  EXPECT_EQ(dtype_name(DType::F32), "float32");
  EXPECT_EQ(dtype_name(DType::BF16), "bfloat16");
  EXPECT_EQ(dtype_size(DType::I64), 8u);
  EXPECT_EQ(dtype_size(DType::Bool), 1u);
  EXPECT_EQ(dtype_from_name("uint16"), DType::U16);
  EXPECT_THROW(dtype_from_name("float128"), Error);
  EXPECT_TRUE(is_floating(DType::F16));
  EXPECT_TRUE(is_unsigned_integer(DType::U8));
  EXPECT_FALSE(is_integer(DType::Bool));
}
