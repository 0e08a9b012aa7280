// Fault scripts: the JSON form of SimOptions::faults and the checks shared with start().
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <array>
#include <string>

#include "switchyard/common/enum_names.h"
#include "switchyard/sim/provider_sim.h"

namespace switchyard {

namespace {

constexpr std::array<std::pair<std::string_view, FaultKind>, 8> kKinds{{
    {"down", FaultKind::down},
    {"errors", FaultKind::errors},
    {"rate_limit", FaultKind::rate_limit},
    {"slow_first_byte", FaultKind::slow_first_byte},
    {"malformed", FaultKind::malformed},
    {"no_usage", FaultKind::no_usage},
    {"absurd_usage", FaultKind::absurd_usage},
    {"leak_key", FaultKind::leak_key},
}};

constexpr std::int64_t kMaxDelayMs = 3'600'000;
constexpr std::int64_t kMaxRetryAfterS = 86'400;

std::string number_text(double value) {
  std::string text = std::to_string(value);
  while (!text.empty() && text.back() == '0') text.pop_back();
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}

// Which optional fields apply to which kinds (a field given for another kind is a mistake).
bool field_applies(std::string_view field, FaultKind kind) {
  if (field == "status") return kind == FaultKind::errors;
  if (field == "retry_after_s") return kind == FaultKind::rate_limit;
  if (field == "delay_ms") return kind == FaultKind::down || kind == FaultKind::slow_first_byte;
  return true;
}

// Reads one rule; appends its problems.
FaultRule read_rule(const rapidjson::Value& value, const std::string& where,
                    std::vector<std::string>& problems) {
  FaultRule rule;
  if (!value.IsObject()) {
    problems.push_back(where + " must be an object");
    return rule;
  }
  const std::size_t before = problems.size();
  auto kind = value.FindMember("kind");
  bool kind_known = false;
  if (kind == value.MemberEnd()) {
    problems.push_back(where +
                       ".kind is required (down, errors, rate_limit, slow_first_byte, "
                       "malformed, no_usage, absurd_usage or leak_key)");
  } else if (!kind->value.IsString()) {
    problems.push_back(where + ".kind must be a string");
  } else {
    std::string_view name(kind->value.GetString(), kind->value.GetStringLength());
    for (const auto& [known, k] : kKinds) {
      if (name == known) {
        rule.kind = k;
        kind_known = true;
      }
    }
    if (!kind_known) {
      problems.push_back(where + ".kind '" + std::string(name) +
                         "' is not one of down, errors, rate_limit, slow_first_byte, malformed, "
                         "no_usage, absurd_usage, leak_key");
    }
  }

  auto integer = [&](const rapidjson::Value& field, const std::string& name, auto& target) {
    if (!field.IsInt64()) {
      problems.push_back(where + "." + name + " must be an integer");
      return;
    }
    target = field.GetInt64();
  };
  for (const auto& member : value.GetObject()) {
    std::string name(member.name.GetString(), member.name.GetStringLength());
    const auto& field = member.value;
    if (kind_known && !field_applies(name, rule.kind)) {
      problems.push_back(where + "." + name + " does not apply to kind " +
                         std::string(to_string(rule.kind)));
      continue;
    }
    if (name == "kind") {
      continue;
    } else if (name == "comment") {
      if (!field.IsString()) problems.push_back(where + ".comment must be a string");
    } else if (name == "model") {
      if (field.IsString()) {
        rule.model.assign(field.GetString(), field.GetStringLength());
        if (rule.model.empty())
          problems.push_back(where + ".model must not be empty (leave it out for every model)");
      } else {
        problems.push_back(where + ".model must be a string");
      }
    } else if (name == "from_ms") {
      integer(field, name, rule.from_ms);
    } else if (name == "until_ms") {
      std::int64_t until = 0;
      std::size_t count = problems.size();
      integer(field, name, until);
      if (problems.size() == count) rule.until_ms = until;
    } else if (name == "rate") {
      if (field.IsNumber()) {
        rule.rate = field.GetDouble();
      } else {
        problems.push_back(where + ".rate must be a number between 0 and 1");
      }
    } else if (name == "status") {
      std::int64_t status = rule.status;
      integer(field, name, status);
      rule.status = static_cast<int>(std::clamp<std::int64_t>(status, -1, 100'000));
    } else if (name == "retry_after_s") {
      std::int64_t seconds = rule.retry_after_s;
      integer(field, name, seconds);
      rule.retry_after_s =
          static_cast<int>(std::clamp<std::int64_t>(seconds, -1, kMaxRetryAfterS + 1));
    } else if (name == "delay_ms") {
      std::int64_t delay = rule.delay_ms;
      integer(field, name, delay);
      rule.delay_ms = static_cast<int>(std::clamp<std::int64_t>(delay, -1, kMaxDelayMs + 1));
    } else {
      problems.push_back(where + ": unknown field '" + name +
                         "' (known: kind, model, from_ms, until_ms, rate, status, retry_after_s, "
                         "delay_ms, comment)");
    }
  }
  if (kind_known && rule.kind == FaultKind::slow_first_byte && !value.HasMember("delay_ms"))
    problems.push_back(where + ".delay_ms is required for kind slow_first_byte");
  if (problems.size() == before) {
    for (auto& problem : validate_fault_rule(rule, where)) problems.push_back(std::move(problem));
  }
  return rule;
}

}  // namespace

std::string_view to_string(FaultKind kind) {
  for (const auto& [name, k] : kKinds) {
    if (k == kind) return name;
  }
  return "unknown";
}

std::string_view to_string(SimEndpoint endpoint) {
  static constexpr std::array kNames{"openai", "azure", "anthropic"};
  static_assert(kNames.size() == static_cast<std::size_t>(SimEndpoint::anthropic) + 1);
  return enum_name(endpoint, kNames);
}

std::vector<std::string> validate_fault_rule(const FaultRule& rule, std::string_view where) {
  std::vector<std::string> problems;
  std::string at(where);
  if (rule.from_ms < 0)
    problems.push_back(at + ".from_ms must be >= 0, got " + std::to_string(rule.from_ms));
  if (rule.until_ms && *rule.until_ms <= rule.from_ms) {
    problems.push_back(at + ".until_ms must be greater than from_ms (" +
                       std::to_string(rule.from_ms) + "), got " + std::to_string(*rule.until_ms));
  }
  if (!(rule.rate >= 0.0 && rule.rate <= 1.0))
    problems.push_back(at + ".rate must be between 0 and 1, got " + number_text(rule.rate));
  if (rule.kind == FaultKind::errors && (rule.status < 400 || rule.status > 599))
    problems.push_back(at + ".status must be between 400 and 599, got " +
                       std::to_string(rule.status));
  if (rule.kind == FaultKind::rate_limit &&
      (rule.retry_after_s < 0 || rule.retry_after_s > kMaxRetryAfterS)) {
    problems.push_back(at + ".retry_after_s must be between 0 and " +
                       std::to_string(kMaxRetryAfterS) + ", got " +
                       std::to_string(rule.retry_after_s));
  }
  if (rule.delay_ms < 0 || rule.delay_ms > kMaxDelayMs) {
    problems.push_back(at + ".delay_ms must be between 0 and " + std::to_string(kMaxDelayMs) +
                       ", got " + std::to_string(rule.delay_ms));
  } else if (rule.kind == FaultKind::slow_first_byte && rule.delay_ms == 0) {
    problems.push_back(at + ".delay_ms must be > 0 for kind slow_first_byte");
  }
  return problems;
}

std::optional<std::vector<FaultRule>> parse_fault_script(std::string_view json,
                                                         std::string& error) {
  error.clear();
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) {
    error = std::string("fault script is not valid JSON: ") +
            rapidjson::GetParseError_En(doc.GetParseError()) + " at offset " +
            std::to_string(doc.GetErrorOffset());
    return std::nullopt;
  }
  std::vector<std::string> problems;
  const rapidjson::Value* rules = &doc;
  if (doc.IsObject()) {
    for (const auto& member : doc.GetObject()) {
      std::string_view name(member.name.GetString(), member.name.GetStringLength());
      if (name != "faults" && name != "comment")
        problems.push_back("unknown top-level field '" + std::string(name) +
                           "' (known: faults, comment)");
    }
    auto faults = doc.FindMember("faults");
    rules = faults == doc.MemberEnd() ? nullptr : &faults->value;
  }
  if (rules == nullptr || !rules->IsArray()) {
    problems.push_back("a fault script is an array of rules or an object {\"faults\": [rules]}");
  }
  std::vector<FaultRule> result;
  if (rules != nullptr && rules->IsArray()) {
    for (rapidjson::SizeType i = 0; i < rules->Size(); ++i) {
      result.push_back(read_rule((*rules)[i], "faults[" + std::to_string(i) + "]", problems));
    }
  }
  if (!problems.empty()) {
    for (const auto& problem : problems) {
      if (!error.empty()) error += '\n';
      error += problem;
    }
    return std::nullopt;
  }
  return result;
}

}  // namespace switchyard
