// Signed request events: HMAC-SHA256 over the record value, `sha256=<hex>` in a header.
#include "switchyard/event/signature.h"

#include <gtest/gtest.h>

namespace switchyard {
namespace {

const std::string kKey(32, 'k');
const std::string kOtherKey(40, 'o');

TEST(Signature, IsTheHmacSha256OfTheValueInLowercaseHex) {
  // RFC 4231, test case 2.
  EXPECT_EQ(sign_event("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Signature, VerifiesWithTheKeyThatMadeItAndWithNoOther) {
  const std::string value = R"({"request_id":"r1","team":"search"})";
  const std::string sig = sign_event(kKey, value);
  const std::vector<std::string> keys = {kKey};
  EXPECT_EQ(verify_event(keys, value, sig), SignatureCheck::kValid);
  const std::vector<std::string> other = {kOtherKey};
  EXPECT_EQ(verify_event(other, value, sig), SignatureCheck::kMismatch);
  // One byte of the value changed (the team, say) and the signature no longer fits.
  EXPECT_EQ(verify_event(keys, R"({"request_id":"r1","team":"searcH"})", sig),
            SignatureCheck::kMismatch);
  std::string upper = sig;
  for (std::size_t i = 7; i < upper.size(); ++i)
    upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_EQ(verify_event(keys, value, upper), SignatureCheck::kValid) << "hex in either case";
}

TEST(Signature, AnyKeyOfATeamVerifiesSoKeysCanRotate) {
  const std::string value = "v";
  const std::vector<std::string> keys = {kOtherKey, kKey};
  EXPECT_EQ(verify_event(keys, value, sign_event(kKey, value)), SignatureCheck::kValid);
  EXPECT_EQ(verify_event(keys, value, sign_event(kOtherKey, value)), SignatureCheck::kValid);
  EXPECT_EQ(verify_event({}, value, sign_event(kKey, value)), SignatureCheck::kMismatch);
}

TEST(Signature, MissingAndMalformedHeadersAreToldApart) {
  const std::vector<std::string> keys = {kKey};
  const std::string good = sign_event(kKey, "v");
  EXPECT_EQ(verify_event(keys, "v", ""), SignatureCheck::kMissing);
  EXPECT_EQ(verify_event(keys, "v", "sha1=" + good.substr(7)), SignatureCheck::kMalformed);
  EXPECT_EQ(verify_event(keys, "v", good.substr(0, good.size() - 1)), SignatureCheck::kMalformed);
  EXPECT_EQ(verify_event(keys, "v", good + "0"), SignatureCheck::kMalformed);
  std::string not_hex = good;
  not_hex[10] = 'g';
  EXPECT_EQ(verify_event(keys, "v", not_hex), SignatureCheck::kMalformed);
  std::string with_nul = good;
  with_nul[10] = '\0';
  EXPECT_EQ(verify_event(keys, "v", with_nul), SignatureCheck::kMalformed);
}

TEST(Signature, KeysAreSplitOnCommasWithSpacesAndEmptiesDropped) {
  EXPECT_EQ(split_signing_keys(" a , b,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(split_signing_keys("").empty());
  EXPECT_TRUE(split_signing_keys(" , ").empty());
}

}  // namespace
}  // namespace switchyard
