#pragma once
// What `switchyard publish` does with one line of JSONL input. Pure code: no I/O, thread-safe.
//
// A line is one of:
//  - a switchyard.request.v1 event (has "request_id"): published as it is, key = request_id.
//    When it has no "team" and a default team is given, the team is added (the value is then
//    re-serialised); otherwise the original bytes are kept, unvalidated beyond the request_id —
//    the worker validates events and answers invalid ones with an error result.
//  - an OpenAI Batch API input line ("custom_id", "method", "url", "body"): converted to a
//    request.v1 event: request_id = custom_id, team = the default team (required),
//    messages/model/max_tokens/temperature from body, metadata {"batch_url": url}.
//  - blank (only whitespace): ignored, not an error.
// Anything else is rejected with a reason that says what is wrong.
#include <string>
#include <string_view>

namespace switchyard {

enum class PublishLineKind {
  kRequestEvent,  // a request.v1 event
  kBatchApiLine,  // an OpenAI Batch API line, converted
  kBlank,         // nothing to publish, not an error
  kRejected,      // see `error`
};

struct PublishLine {
  PublishLineKind kind = PublishLineKind::kRejected;
  std::string request_id;  // the Kafka key
  std::string value;       // the Kafka value (request.v1 JSON)
  std::string error;       // why the line was rejected; empty otherwise

  bool ok() const {
    return kind == PublishLineKind::kRequestEvent || kind == PublishLineKind::kBatchApiLine;
  }
};

// `line` without its newline (a trailing '\r' is dropped). `default_team` is --team; may be empty.
PublishLine convert_publish_line(std::string_view line, const std::string& default_team);

}  // namespace switchyard
