#pragma once
// Signed request events. Kafka does not stamp a record with the principal that produced it, so
// on a topic several teams write, a team is proven only by a signature: HMAC-SHA256 over the
// record value (the exact bytes) with the team's key, in the record header
// `switchyard-signature` as `sha256=<64 lowercase hex digits>` (the shape of GitHub's
// X-Hub-Signature-256). A team may hold several keys at once (rotation): any of them verifies;
// producers sign with the first.
//
// What a signature does not do: it binds the value, not the topic, partition or time, so a
// reader of a topic can replay a signed event. A replay is the same (team, request_id) and is
// deduplicated like any redelivery; its result goes where the signed event said.
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard {

inline constexpr std::string_view kSignatureHeader = "switchyard-signature";
// Shorter keys are refused by the config: 32 bytes is HMAC-SHA256's output size (RFC 2104
// recommends no less than it).
inline constexpr std::size_t kMinSigningKeyBytes = 32;

// `sha256=` and the hex HMAC-SHA256 of `value` under `key`.
std::string sign_event(std::string_view key, std::string_view value);

enum class SignatureCheck {
  kValid,
  kMissing,    // no header (or an empty one)
  kMalformed,  // not `sha256=` and 64 hex digits
  kMismatch,   // well formed, but no key of the team made it
};
const char* to_string(SignatureCheck c);

// Checks `header` (the header's value) against every key, in constant time per key.
SignatureCheck verify_event(std::span<const std::string> keys, std::string_view value,
                            std::string_view header);

// Keys from an environment variable's value: comma-separated, surrounding spaces dropped,
// empty entries skipped.
std::vector<std::string> split_signing_keys(std::string_view value);

}  // namespace switchyard
