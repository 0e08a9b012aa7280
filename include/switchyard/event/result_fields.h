#pragma once
// Fields of a result as JSON object members, named as the result event (`usage`, `timing`) and the
// requests / cost_ledger columns name them. One writer for the result event (event/result.cpp)
// and the rows Postgres stores (store/postgres_store.cpp), so the two can never disagree.
#include "switchyard/event/result.h"

namespace switchyard {

// `w` is a RapidJSON Writer inside an object.
template <typename JsonWriter>
void write_usage_fields(JsonWriter& w, const Usage& usage) {
  w.Key("input_tokens");
  w.Int64(usage.input_tokens);
  w.Key("output_tokens");
  w.Int64(usage.output_tokens);
  w.Key("cached_input_tokens");
  w.Int64(usage.cached_input_tokens);
  w.Key("cache_creation_input_tokens");
  w.Int64(usage.cache_creation_input_tokens);
  w.Key("reasoning_tokens");
  w.Int64(usage.reasoning_tokens);
}

// queued_ms, provider_ms, total_ms.
template <typename JsonWriter>
void write_timing_fields(JsonWriter& w, const ResultEvent& r) {
  w.Key("queued_ms");
  w.Int64(r.queued_ms);
  w.Key("provider_ms");
  w.Int64(r.provider_ms);
  w.Key("total_ms");
  w.Int64(r.total_ms);
}

}  // namespace switchyard
