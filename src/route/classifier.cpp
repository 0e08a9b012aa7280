#include "switchyard/route/classifier.h"

#include <array>
#include <optional>
#include <string_view>

#include "switchyard/route/router.h"

namespace switchyard {
namespace {

constexpr char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// True when `keyword` occurs at `start` of `text`, case-insensitively, with a word boundary on
// each side (a boundary is only required where the keyword itself begins/ends with a word char).
bool word_at(std::string_view text, std::size_t start, std::string_view keyword) {
  if (keyword.empty() || keyword.size() > text.size() - start) return false;
  if (start > 0 && is_word_char(text[start - 1]) && is_word_char(keyword.front())) return false;
  for (std::size_t i = 0; i < keyword.size(); ++i) {
    if (lower(text[start + i]) != lower(keyword[i])) return false;
  }
  const std::size_t end = start + keyword.size();
  return !(end < text.size() && is_word_char(text[end]) && is_word_char(keyword.back()));
}

struct KeywordHit {
  std::size_t message;
  const std::string* keyword;
};

// The first reasoning keyword in reading order (earliest message, earliest position; at one
// position the keyword listed first). One pass over the text: a position is only compared against
// keywords when it starts a word and its lower-cased character starts one of them, so the cost is
// a couple of comparisons per character rather than one per character and keyword. No allocation.
std::optional<KeywordHit> find_reasoning_keyword(const RequestEvent& request,
                                                 const std::vector<std::string>& keywords) {
  // Tables instead of branches: prose alternates word and non-word characters unpredictably, and
  // a mispredicted branch per word cost more than the keyword compares themselves.
  static constexpr std::array<bool, 256> kWord = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c)
      t[static_cast<std::size_t>(c)] = is_word_char(static_cast<char>(c));
    return t;
  }();
  std::array<bool, 256> starts{};  // both cases of every keyword's first character
  bool boundary_needed = true;     // all keywords start with a word char: only word starts count
  for (const auto& k : keywords) {
    if (k.empty()) continue;
    const char first = lower(k.front());
    starts[static_cast<unsigned char>(first)] = true;
    if (first >= 'a' && first <= 'z') starts[static_cast<unsigned char>(first - 'a' + 'A')] = true;
    boundary_needed = boundary_needed && is_word_char(first);
  }
  for (std::size_t m = 0; m < request.messages.size(); ++m) {
    const std::string_view text = request.messages[m].content;
    unsigned char prev = ' ';
    for (std::size_t pos = 0; pos < text.size(); ++pos) {
      const auto ch = static_cast<unsigned char>(text[pos]);
      const bool look = starts[ch] & !(boundary_needed & kWord[prev]);
      prev = ch;
      if (!look) continue;
      const char c = lower(static_cast<char>(ch));
      for (const auto& k : keywords) {
        if (!k.empty() && lower(k.front()) == c && word_at(text, pos, k)) return KeywordHit{m, &k};
      }
    }
  }
  return std::nullopt;
}

std::size_t count_fences(std::string_view text) {
  std::size_t fences = 0;
  for (std::size_t pos = text.find("```"); pos != std::string_view::npos;
       pos = text.find("```", pos + 3)) {
    ++fences;
  }
  return fences;
}

// Same 4-characters-a-token rule as estimate_input_tokens, over the system messages only.
std::int64_t estimate_system_tokens(const RequestEvent& request) {
  std::int64_t chars = 0;
  for (const auto& m : request.messages) {
    if (m.role == "system") chars += static_cast<std::int64_t>(m.content.size());
  }
  return (chars + 3) / 4;
}

TierChoice choose(const std::string& tier, std::string why) {
  return TierChoice{tier, "auto: " + std::move(why) + " -> " + tier};
}

}  // namespace

std::string with_thousands(std::int64_t value) {
  // Magnitude in unsigned arithmetic, so INT64_MIN does not overflow.
  const std::uint64_t magnitude =
      value < 0 ? 0 - static_cast<std::uint64_t>(value) : static_cast<std::uint64_t>(value);
  const std::string digits = std::to_string(magnitude);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3 + 1);
  if (value < 0) out.push_back('-');
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

TierChoice classify(const RequestEvent& request, const ClassifierConfig& config) {
  // 1. task_type
  if (!request.task_type.empty()) {
    auto it = config.task_type_tiers.find(request.task_type);
    if (it != config.task_type_tiers.end()) {
      return choose(it->second, "task_type " + request.task_type);
    }
  }

  // 2. long input
  const std::int64_t tokens = estimate_input_tokens(request);
  if (tokens >= config.long_input_tokens) {
    return choose(config.frontier_tier, with_thousands(tokens) + " estimated input tokens >= " +
                                            with_thousands(config.long_input_tokens));
  }

  // 3. reasoning keywords
  if (auto hit = find_reasoning_keyword(request, config.reasoning_keywords)) {
    const ChatMessage& m = request.messages[hit->message];
    return choose(config.frontier_tier, "reasoning keyword \"" + *hit->keyword + "\" in message " +
                                            std::to_string(hit->message + 1) + " (" + m.role + ")");
  }

  // 4. long system prompt
  const std::int64_t system_tokens = estimate_system_tokens(request);
  if (system_tokens >= config.long_system_prompt_tokens) {
    return choose(config.frontier_tier, with_thousands(system_tokens) +
                                            " estimated system prompt tokens >= " +
                                            with_thousands(config.long_system_prompt_tokens));
  }

  // 5. fenced code blocks: a block is a pair of fences; an unclosed fence still counts as one.
  std::size_t fences = 0;
  for (const auto& m : request.messages) fences += count_fences(m.content);
  if (fences > 0) {
    const std::size_t blocks = (fences + 1) / 2;
    return choose(config.code_tier,
                  std::to_string(blocks) + " fenced code block" + (blocks == 1 ? "" : "s"));
  }

  // 6. short input
  if (tokens <= config.short_input_tokens) {
    return choose(config.economy_tier, with_thousands(tokens) + " estimated input tokens <= " +
                                           with_thousands(config.short_input_tokens));
  }

  // 7. default
  return choose(config.default_tier, "no rule matched (" + with_thousands(tokens) +
                                         " estimated input tokens, no code, no reasoning keyword)");
}

}  // namespace switchyard
