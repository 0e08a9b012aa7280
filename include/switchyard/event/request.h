#pragma once
// switchyard.request.v1: decoding and validation of the Kafka request event.
// Pure code: no I/O, safe to call from any thread.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/common/priority.h"

namespace switchyard {

struct ChatMessage {
  std::string role;     // system | user | assistant
  std::string content;  // text; content-part arrays are flattened to their text parts
};

struct RequestEvent {
  std::string request_id;
  std::string team;
  std::vector<ChatMessage> messages;
  std::optional<PriorityClass> priority;  // unset: the class of the topic it came from
  std::string model = "auto";
  std::string task_type;
  std::optional<std::int64_t> max_tokens;
  std::optional<double> temperature;
  std::optional<std::int64_t> deadline_unix_ms;
  std::string region;
  std::string metadata_json;  // the metadata object as compact JSON, empty when absent
  std::string reply_topic;
};

enum class DecodeStatus {
  kOk,          // valid request.v1
  kInvalid,     // request_id readable, something else wrong: DLQ + error result
  kUnreadable,  // not even a request_id: DLQ only
};

struct DecodedRequest {
  DecodeStatus status = DecodeStatus::kUnreadable;
  RequestEvent request;  // complete when kOk; request_id (and team if readable) when kInvalid
  std::vector<std::string> violations;  // one clear sentence per problem, naming the field

  std::string reason() const;  // violations joined with "; "
};

inline constexpr std::size_t kMaxRequestIdLength = 128;

// Decodes and validates one event value. `max_bytes` bounds the accepted size.
DecodedRequest decode_request(std::string_view bytes, std::size_t max_bytes);

// True when `id` is 1-128 chars of [A-Za-z0-9._:-].
bool is_valid_request_id(std::string_view id);

// Parses an RFC 3339 timestamp ("2026-11-21T10:00:00Z", offsets and fractions allowed).
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);

}  // namespace switchyard
