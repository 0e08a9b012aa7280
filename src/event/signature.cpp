#include "switchyard/event/signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

namespace switchyard {

namespace {

constexpr std::string_view kPrefix = "sha256=";
constexpr std::size_t kDigestBytes = 32;

using Digest = std::array<unsigned char, kDigestBytes>;

Digest hmac_sha256(std::string_view key, std::string_view value) {
  Digest out{};
  unsigned int len = 0;
  // One-shot HMAC() (not deprecated in OpenSSL 3); an empty key is still a valid HMAC key.
  static const unsigned char kEmpty = 0;
  HMAC(EVP_sha256(), key.empty() ? static_cast<const void*>(&kEmpty) : key.data(),
       static_cast<int>(key.size()),
       value.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(value.data()), value.size(),
       out.data(), &len);
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string sign_event(std::string_view key, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  const Digest d = hmac_sha256(key, value);
  std::string out(kPrefix);
  out.reserve(kPrefix.size() + 2 * kDigestBytes);
  for (unsigned char b : d) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

const char* to_string(SignatureCheck c) {
  switch (c) {
    case SignatureCheck::kValid:
      return "valid";
    case SignatureCheck::kMissing:
      return "missing";
    case SignatureCheck::kMalformed:
      return "malformed";
    case SignatureCheck::kMismatch:
      return "mismatch";
  }
  return "mismatch";
}

SignatureCheck verify_event(std::span<const std::string> keys, std::string_view value,
                            std::string_view header) {
  if (header.empty()) return SignatureCheck::kMissing;
  if (header.size() != kPrefix.size() + 2 * kDigestBytes ||
      header.substr(0, kPrefix.size()) != kPrefix)
    return SignatureCheck::kMalformed;
  Digest given{};
  for (std::size_t i = 0; i < kDigestBytes; ++i) {
    const int hi = hex_value(header[kPrefix.size() + 2 * i]);
    const int lo = hex_value(header[kPrefix.size() + 2 * i + 1]);
    if (hi < 0 || lo < 0) return SignatureCheck::kMalformed;
    given[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  bool valid = false;
  for (const auto& key : keys) {
    const Digest expected = hmac_sha256(key, value);
    // Constant time per key: how much of a guess matched never shows in the timing.
    valid |= CRYPTO_memcmp(expected.data(), given.data(), kDigestBytes) == 0;
  }
  return valid ? SignatureCheck::kValid : SignatureCheck::kMismatch;
}

std::vector<std::string> split_signing_keys(std::string_view value) {
  std::vector<std::string> keys;
  while (!value.empty()) {
    const auto comma = value.find(',');
    std::string_view part = value.substr(0, comma);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (!part.empty()) keys.emplace_back(part);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return keys;
}

}  // namespace switchyard
