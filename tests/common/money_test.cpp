#include "switchyard/common/money.h"

#include <gtest/gtest.h>

namespace switchyard {
namespace {

TEST(Money, ParsesCatalogPricesExactly) {
  EXPECT_EQ(parse_usd("1.5e-07"), 150'000);
  EXPECT_EQ(parse_usd("0.00000015"), 150'000);
  EXPECT_EQ(parse_usd("2.5E-6"), 2'500'000);
  EXPECT_EQ(parse_usd("3"), 3'000'000'000'000);
  EXPECT_EQ(parse_usd("1e-12"), 1);
  EXPECT_EQ(parse_usd("0.10"), 100'000'000'000);
  EXPECT_EQ(parse_usd("1.0000e-09"), 1000);
}

TEST(Money, RejectsNegativeGarbageAndSubPicodollarPrecision) {
  EXPECT_EQ(parse_usd("-1"), std::nullopt);
  EXPECT_EQ(parse_usd("abc"), std::nullopt);
  EXPECT_EQ(parse_usd("1e-13"), std::nullopt);
  EXPECT_EQ(parse_usd("1.5x"), std::nullopt);
  EXPECT_EQ(parse_usd(""), std::nullopt);
  EXPECT_EQ(parse_usd("99999999999"), std::nullopt);  // overflows int64 picodollars
}

TEST(Money, FormatsWithoutFloatingPoint) {
  EXPECT_EQ(format_usd(150'000), "0.00000015");
  EXPECT_EQ(format_usd(3'000'000'000'000), "3");
  EXPECT_EQ(format_usd(0), "0");
  EXPECT_EQ(format_usd(1), "0.000000000001");
  EXPECT_EQ(format_usd(-2'500'000), "-0.0000025");
}

}  // namespace
}  // namespace switchyard
