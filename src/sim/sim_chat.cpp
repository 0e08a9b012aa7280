// The provider simulator's chat answers: the deterministic outcome of each request (ok, error,
// 429, drop, malformed, fault rules), its usage and rate-limit headers in the dialect's shape, and
// the accounting behind /stats and the request log.
#include "sim/sim_server.h"

namespace switchyard::sim_server {

void Server::append_dialect_headers(std::string& head, const Exchange& x, std::uint64_t tokens,
                                    bool limited) {
  auto usage = window_.record(tokens);
  auto remaining = [](std::uint64_t limit, std::uint64_t used) {
    return used >= limit ? 0 : limit - used;
  };
  std::uint64_t requests_left =
      limited ? 0 : remaining(options_.requests_per_minute, usage.requests);
  std::uint64_t tokens_left = remaining(options_.tokens_per_minute, usage.tokens);
  if (x.dialect == SimEndpoint::anthropic) {
    head.append("request-id: ");
    append_anthropic_request_id(head, x.request_id);
    head.append("\r\nanthropic-ratelimit-requests-limit: ");
    append_uint(head, options_.requests_per_minute);
    head.append("\r\nanthropic-ratelimit-requests-remaining: ");
    append_uint(head, requests_left);
    head.append("\r\nanthropic-ratelimit-requests-reset: ");
    append_rfc3339(head, usage.reset_at_s);
    head.append("\r\nanthropic-ratelimit-tokens-limit: ");
    append_uint(head, options_.tokens_per_minute);
    head.append("\r\nanthropic-ratelimit-tokens-remaining: ");
    append_uint(head, tokens_left);
    head.append("\r\nanthropic-ratelimit-tokens-reset: ");
    append_rfc3339(head, usage.reset_at_s);
    head.append("\r\n");
    return;
  }
  head.append("x-ratelimit-limit-requests: ");
  append_uint(head, options_.requests_per_minute);
  head.append("\r\nx-ratelimit-limit-tokens: ");
  append_uint(head, options_.tokens_per_minute);
  head.append("\r\nx-ratelimit-remaining-requests: ");
  append_uint(head, requests_left);
  head.append("\r\nx-ratelimit-remaining-tokens: ");
  append_uint(head, tokens_left);
  head.append("\r\nx-ratelimit-reset-requests: ");
  append_uint(head, usage.seconds_to_reset);
  head.append("s\r\nx-ratelimit-reset-tokens: ");
  append_uint(head, usage.seconds_to_reset);
  head.append("s\r\n");
}

std::optional<int> Server::over_limit(std::uint64_t prompt_tokens) {
  const auto now_s = static_cast<std::uint64_t>(std::time(nullptr));
  std::lock_guard lock(enforce_mutex_);
  if (now_s / 60 != enforced_minute_) {
    enforced_minute_ = now_s / 60;
    enforced_requests_ = 0;
    enforced_tokens_ = 0;
  }
  if (enforced_requests_ + 1 > options_.requests_per_minute ||
      enforced_tokens_ + prompt_tokens > options_.tokens_per_minute)
    return static_cast<int>(60 - now_s % 60);
  ++enforced_requests_;
  enforced_tokens_ += prompt_tokens;
  return std::nullopt;
}

void Server::account(const Exchange& x, std::string_view model, Outcome outcome, int status,
                     int fault_rule) {
  switch (outcome) {
    case Outcome::ok:
      ok_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Outcome::error:
      errors_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Outcome::rate_limited:
      rate_limited_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Outcome::bad_request:
      bad_requests_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Outcome::dropped:
      dropped_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Outcome::malformed:
      malformed_.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  if (!model.empty()) {
    std::lock_guard lock(x.shard.model_counts.mutex);
    auto& counts = x.shard.model_counts.by_model;
    auto it = counts.find(model);
    if (it == counts.end()) {
      std::string_view key = counts.size() < kMaxModelsPerShard ? model : kOtherModels;
      it = counts.find(key);
      if (it == counts.end()) it = counts.emplace(std::string(key), SimCounts{}).first;
    }
    count(it->second, outcome);
  }
  if (options_.record_requests) {
    auto arrival_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(x.arrival - started_at_).count();
    std::lock_guard lock(log_mutex_);
    if (log_.size() < options_.request_log_limit) {
      log_.push_back(
          SimRequestRecord{std::string(model), x.dialect, arrival_ms, status, fault_rule});
    } else {
      ++unrecorded_;
    }
  }
}

ChatDecision Server::refuse(const Exchange& x, std::string_view model,
                            const RequestProblem& problem) {
  write_error_body(x.conn.body, x.dialect, problem.type, problem.message, problem.param,
                   problem.code, x.request_id);
  start_head(x.conn.head, problem.status);
  if (x.dialect == SimEndpoint::anthropic) {
    x.conn.head.append("request-id: ");
    append_anthropic_request_id(x.conn.head, x.request_id);
    x.conn.head.append("\r\n");
  }
  finish_head(x.conn.head, kJson, x.conn.body.size(), x.keep_alive);
  account(x, model, Outcome::bad_request, problem.status, -1);
  return ChatDecision{problem.status, {}, false};
}

ChatDecision Server::answer_error(const Exchange& x, std::string_view model, int status,
                                  int fault_rule) {
  std::string message;
  switch (status) {
    case 500:
      message = "The server had an error while processing your request (simulated).";
      break;
    case 503:
      message = "The service is temporarily unavailable (simulated).";
      break;
    case 529:
      message = "Overloaded (simulated).";
      break;
    default:
      message = std::string(reason_phrase(status)) + " (simulated).";
  }
  write_error_body(x.conn.body, x.dialect, error_type_for_status(status), message, {}, {},
                   x.request_id);
  start_head(x.conn.head, status);
  append_dialect_headers(x.conn.head, x, 0, false);
  finish_head(x.conn.head, kJson, x.conn.body.size(), x.keep_alive);
  account(x, model, Outcome::error, status, fault_rule);
  return ChatDecision{status, {}, false};
}

ChatDecision Server::answer_rate_limited(const Exchange& x, std::string_view model,
                                         int retry_after_s, int fault_rule) {
  std::string seconds = std::to_string(retry_after_s);
  std::string message;
  std::string_view code;
  switch (x.dialect) {
    case SimEndpoint::openai:
      message =
          "Rate limit reached for requests (simulated). Please try again in " + seconds + "s.";
      code = "rate_limit_exceeded";
      break;
    case SimEndpoint::azure:
      message =
          "Requests to the ChatCompletions_Create Operation have exceeded the call rate "
          "limit of your current pricing tier (simulated). Please retry after " +
          seconds + " seconds.";
      break;
    case SimEndpoint::anthropic:
      message =
          "This request would exceed the rate limit for your organization (simulated). "
          "Please try again in " +
          seconds + "s.";
      break;
  }
  write_error_body(x.conn.body, x.dialect, ErrorType::rate_limit, message, {}, code, x.request_id);
  start_head(x.conn.head, 429);
  x.conn.head.append("Retry-After: ");
  x.conn.head.append(seconds);
  x.conn.head.append("\r\n");
  append_dialect_headers(x.conn.head, x, 0, true);
  finish_head(x.conn.head, kJson, x.conn.body.size(), x.keep_alive);
  account(x, model, Outcome::rate_limited, 429, fault_rule);
  return ChatDecision{429, {}, false};  // rate limiters answer at once
}

bool Server::prompt_cache_hit(std::string_view model, std::uint64_t prefix_hash) {
  std::uint64_t key = mix64(prefix_hash ^ std::hash<std::string_view>{}(model));
  std::lock_guard lock(prompt_cache_mutex_);
  if (prompt_cache_.count(key) != 0) return true;
  if (prompt_cache_.size() >= kCacheMaxPrefixes) prompt_cache_.clear();
  prompt_cache_.insert(key);
  return false;
}

std::uint64_t Server::context_window(std::string_view model) const {
  if (context_windows_.empty()) return options_.default_context_window;
  auto it = context_windows_.find(model);
  return it == context_windows_.end() ? options_.default_context_window : it->second;
}

void Server::answer_ok(const Exchange& x, const ChatRequest& chat, std::uint64_t n, bool malformed,
                       FaultKind lie) {
  Completion reply;
  reply.model = chat.model;
  reply.id = draw(options_.seed, n, 2);
  reply.created_s = static_cast<std::uint64_t>(std::time(nullptr));
  reply.prompt_tokens = chat.prompt_tokens;
  auto completion = static_cast<std::uint32_t>(options_.output_tokens);
  if (chat.max_tokens && *chat.max_tokens < completion) {
    completion = static_cast<std::uint32_t>(*chat.max_tokens);
    reply.finish = Completion::Finish::length;
  }
  if (chat.content_filter) {
    reply.finish = Completion::Finish::content_filter;
    completion = 0;
  } else if (x.dialect != SimEndpoint::anthropic && is_reasoning_model(chat.model)) {
    reply.reasoning_tokens = completion * kReasoningSharePercent / 100;
  }
  reply.completion_tokens = completion;
  reply.omit_usage = lie == FaultKind::no_usage;
  if (std::uint32_t visible = completion - reply.reasoning_tokens; visible > 0) {
    reply.text = std::string_view(reply_text_).substr(0, word_ends_[visible - 1]);
  }
  if (chat.prefix_tokens >= kCacheMinPrefixTokens) {
    bool hit = prompt_cache_hit(chat.model, chat.prefix_hash);
    if (x.dialect == SimEndpoint::anthropic) {
      (hit ? reply.cache_read_tokens : reply.cache_creation_tokens) = chat.prefix_tokens;
    } else if (hit) {
      reply.cached_tokens = chat.prefix_tokens / kCacheIncrementTokens * kCacheIncrementTokens;
    }
  }
  if (x.dialect == SimEndpoint::anthropic) {
    write_anthropic_message(x.conn.body, reply);
  } else {
    write_openai_completion(x.conn.body, reply, x.dialect == SimEndpoint::azure);
  }
  if (malformed) x.conn.body.resize(x.conn.body.size() / 2);
  if (lie == FaultKind::absurd_usage) {
    // After the text is written: the count lies, the reply does not.
    const std::string_view key =
        x.dialect == SimEndpoint::anthropic ? R"("output_tokens":)" : R"("completion_tokens":)";
    if (auto at = x.conn.body.rfind(key); at != std::string::npos) {
      const auto digits = at + key.size();
      const auto end = x.conn.body.find_first_not_of("0123456789", digits);
      x.conn.body.replace(digits, end - digits, "4000000000");
    }
  }
  start_head(x.conn.head, 200);
  append_dialect_headers(x.conn.head, x, std::uint64_t{reply.prompt_tokens} + completion, false);
  finish_head(x.conn.head, kJson, x.conn.body.size(), x.keep_alive);
}

ChatDecision Server::handle_chat(Shard& shard, Connection& conn, const Route& route,
                                 Request& request, bool keep_alive) {
  std::uint64_t request_number = requests_.fetch_add(1, std::memory_order_relaxed);
  const Exchange x{shard,      conn,         route.dialect,
                   keep_alive, Clock::now(), mix64(options_.seed ^ request_number)};
  auto invalid = [](int status, ErrorType type, std::string message) {
    RequestProblem problem;
    problem.status = status;
    problem.type = type;
    problem.message = std::move(message);
    return problem;
  };

  // Credentials and versions, before the body, as the providers' gateways check them.
  if (route.dialect == SimEndpoint::azure) {
    if (header_value(request, "api-key").empty() &&
        header_value(request, "authorization").empty()) {
      return refuse(x, route.deployment,
                    invalid(401, ErrorType::authentication,
                            "Access denied due to invalid subscription key or wrong API "
                            "endpoint (simulated: send an api-key header)."));
    }
    if (!query_parameter(route.query, "api-version").value_or("").size()) {
      return refuse(x, route.deployment, invalid(404, ErrorType::not_found, "Resource not found"));
    }
  } else if (route.dialect == SimEndpoint::anthropic) {
    if (header_value(request, "x-api-key").empty()) {
      return refuse(x, {}, invalid(401, ErrorType::authentication, "x-api-key header is required"));
    }
    std::string_view version = header_value(request, "anthropic-version");
    if (version.empty()) {
      return refuse(
          x, {}, invalid(400, ErrorType::invalid_request, "anthropic-version: header is required"));
    }
    if (version != "2023-06-01" && version != "2023-01-01") {
      return refuse(
          x, {},
          invalid(400, ErrorType::invalid_request,
                  "anthropic-version: \"" + std::string(version) + "\" is not a valid version"));
    }
  }

  // The arena lives in the shard: this function runs to completion on the shard's thread
  // without suspending, and the document does not outlive it.
  std::string& request_body = request.body();
  rapidjson::MemoryPoolAllocator<> arena(shard.parse_arena, sizeof shard.parse_arena);
  JsonDocument doc(&arena, 1024, &arena);
  doc.ParseInsitu(request_body.data());
  if (doc.HasParseError()) {
    std::string message = "We could not parse the JSON body of your request (";
    message += rapidjson::GetParseError_En(doc.GetParseError());
    message += " at offset ";
    message += std::to_string(doc.GetErrorOffset());
    message += ").";
    return refuse(x, route.deployment, invalid(400, ErrorType::invalid_request, message));
  }

  ChatRequest chat;
  auto problem = route.dialect == SimEndpoint::anthropic ? read_anthropic_messages(doc, chat)
                                                         : read_openai_chat(doc, chat);
  if (route.dialect == SimEndpoint::azure) chat.model = route.deployment;
  if (problem) return refuse(x, chat.model, *problem);

  if (std::uint64_t window = context_window(chat.model); window > 0) {
    std::uint64_t asked = chat.max_tokens.value_or(0);
    if (chat.prompt_tokens + asked > window) {
      return refuse(x, chat.model,
                    context_window_problem(route.dialect, chat.prompt_tokens, asked, window));
    }
  }
  if (route.dialect == SimEndpoint::azure && chat.content_filter) {
    write_azure_content_filter_error(conn.body);
    start_head(conn.head, 400);
    finish_head(conn.head, kJson, conn.body.size(), keep_alive);
    account(x, chat.model, Outcome::bad_request, 400, -1);
    return ChatDecision{400, {}, false};
  }

  // The n-th request that passed validation: its outcome and latency depend only on (seed, n)
  // and, for fault windows, its arrival time.
  std::uint64_t n = next_decision_.fetch_add(1, std::memory_order_relaxed);
  ChatDecision decision;
  if (options_.latency_ms > 0 || options_.latency_jitter_ms > 0) {
    double tail_ms =
        options_.latency_jitter_ms > 0
            ? -options_.latency_jitter_ms * std::log1p(-unit_interval(draw(options_.seed, n, 1)))
            : 0.0;
    decision.delay = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double, std::milli>(options_.latency_ms + tail_ms));
  }
  sim_logger().debug("provider-sim request n={} dialect={} model={} prompt_tokens={}", n,
                     to_string(route.dialect), chat.model, chat.prompt_tokens);

  int fault = -1;
  if (!options_.faults.empty()) {
    auto since_start_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(x.arrival - started_at_).count();
    // One draw against the running sum of the matching rules' rates: each rule takes its rate
    // as a share of the same requests (0.2 and 0.1 -> 20% and 10%, not 20% and 8%).
    double draw_value = unit_interval(fault_draw(options_.seed, n));
    double shares = 0.0;
    for (std::size_t i = 0; i < options_.faults.size(); ++i) {
      const FaultRule& rule = options_.faults[i];
      if (!rule.model.empty() && rule.model != chat.model) continue;
      if (since_start_ms < rule.from_ms || (rule.until_ms && since_start_ms >= *rule.until_ms))
        continue;
      shares += rule.rate;
      if (rule.rate >= 1.0 || draw_value < shares) {
        fault = static_cast<int>(i);
        break;
      }
    }
  }

  if (fault >= 0) {
    const FaultRule& rule = options_.faults[static_cast<std::size_t>(fault)];
    switch (rule.kind) {
      case FaultKind::down:
        account(x, chat.model, Outcome::dropped, 0, fault);
        return ChatDecision{0, std::chrono::milliseconds(rule.delay_ms), true};
      case FaultKind::errors:
        if (rule.status == 429)
          return answer_rate_limited(x, chat.model, options_.retry_after_s, fault);
        answer_error(x, chat.model, rule.status, fault);
        decision.status = rule.status;
        return decision;
      case FaultKind::rate_limit:
        return answer_rate_limited(x, chat.model, rule.retry_after_s, fault);
      case FaultKind::slow_first_byte:
        decision.delay += std::chrono::milliseconds(rule.delay_ms);
        answer_ok(x, chat, n, false);
        account(x, chat.model, Outcome::ok, 200, fault);
        return decision;
      case FaultKind::malformed:
        answer_ok(x, chat, n, true);
        account(x, chat.model, Outcome::malformed, 200, fault);
        return decision;
      case FaultKind::leak_key: {
        std::string credential(header_value(request, "authorization"));
        if (credential.empty()) credential = header_value(request, "api-key");
        if (credential.empty()) credential = header_value(request, "x-api-key");
        RequestProblem problem;
        problem.status = 401;
        problem.type = ErrorType::authentication;
        problem.message = "Incorrect API key provided: " + credential + ".";
        return refuse(x, chat.model, problem);
      }
      case FaultKind::no_usage:
        answer_ok(x, chat, n, false, FaultKind::no_usage);
        account(x, chat.model, Outcome::ok, 200, fault);
        return decision;
      case FaultKind::absurd_usage:
        answer_ok(x, chat, n, false, FaultKind::absurd_usage);
        account(x, chat.model, Outcome::malformed, 200, fault);
        return decision;
    }
  }

  if (options_.enforce_limits) {
    if (const std::optional<int> wait = over_limit(chat.prompt_tokens))
      return answer_rate_limited(x, chat.model, *wait, -1);
  }
  double outcome = unit_interval(draw(options_.seed, n, 0));
  if (outcome < options_.error_rate) {
    int status = route.dialect == SimEndpoint::anthropic ? 529 : 500;
    answer_error(x, chat.model, status, -1);
    decision.status = status;
    return decision;
  }
  if (outcome < options_.error_rate + options_.rate_limit_rate)
    return answer_rate_limited(x, chat.model, options_.retry_after_s, -1);
  answer_ok(x, chat, n, false);
  account(x, chat.model, Outcome::ok, 200, -1);
  return decision;
}

}  // namespace switchyard::sim_server
