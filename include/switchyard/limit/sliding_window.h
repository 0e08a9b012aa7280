#pragma once
// "At most `limit` per minute" in the strict sense the product promises: the amounts taken in
// ANY 60,000 ms window add up to at most `limit` (a provider's RPM/TPM never sees more from us),
// while a full limit may still be used in one burst.
//
// How: usage is recorded in 250 ms slots of a fixed ring. An amount taken in slot j counts
// until the start of slot j + 241, i.e. between 60,000 and 60,250 ms after it was taken, never
// less, so every 60 s window is covered. The price of the rounding is at most 0.4% of
// throughput under sustained saturation (limit per 60.25 s instead of per 60 s).
// Integer amounts throughout: exact, no drift. Fixed memory (241 int64 slots), no allocation;
// every operation is O(1) except ms_until(), which walks at most 241 slots.
//
// Invariants: used_ == sum of slots_; newest_slot_ only moves forward (a `now_ms` earlier than one
// already seen is treated as the newest slot seen, which only ever holds usage longer); every
// slot value >= 0.
// Thread-safety: none. The owner serialises every call.
#include <array>
#include <cstdint>
#include <optional>

#include "switchyard/limit/limit_units.h"

namespace switchyard::limit {

class SlidingWindowLimit {
 public:
  static constexpr std::int64_t kWindowMs = kMinuteMs;
  static constexpr std::int64_t kSlotMs = 250;
  static constexpr std::int64_t kSlots = kWindowMs / kSlotMs + 1;

  // `limit` per window; negative counts as 0, above kMaxAmount as kMaxAmount. Starts unused.
  SlidingWindowLimit(std::int64_t limit, std::int64_t now_ms);

  // Whether `amount` can be taken now while keeping `reserve` untouched: used + amount +
  // reserve <= limit. (The reserve is how DeploymentLimiter keeps a share for interactive work.)
  bool can_take(std::int64_t amount, std::int64_t now_ms, std::int64_t reserve = 0) const;
  // Takes `amount` if can_take(); otherwise takes nothing.
  bool try_take(std::int64_t amount, std::int64_t now_ms, std::int64_t reserve = 0);
  // Milliseconds until can_take() would be true if nothing else is taken (0 = now). kNeverMs when
  // amount + reserve > limit.
  std::int64_t ms_until(std::int64_t amount, std::int64_t now_ms, std::int64_t reserve = 0) const;

  // Records usage without checking (actual usage above the estimate: "debt"). May push used
  // above the limit; nothing more is granted until enough has left the window.
  void record(std::int64_t amount, std::int64_t now_ms);
  // Returns part of an amount taken at taken_at_ms (actual usage below the estimate). Credited
  // to the slot it was taken in, so the window stays exact; ignored once that slot has left the
  // window, and never more than the slot holds.
  void give_back(std::int64_t amount, std::int64_t taken_at_ms, std::int64_t now_ms);
  // Lowers what is available to `remaining` when that is less than our own view (never
  // raises it). The difference is recorded as usage that leaves the window at release_at_ms
  // (rounded up to a slot, clamped to [now, now + 60.25 s]); without release_at_ms, a full
  // window from now.
  void lower_available_to(std::int64_t remaining, std::optional<std::int64_t> release_at_ms,
                          std::int64_t now_ms);

  // Changes the limit; recorded usage is kept (a lower limit may leave used above it).
  void set_limit(std::int64_t limit);

  std::int64_t limit() const { return limit_; }
  std::int64_t used(std::int64_t now_ms) const;
  std::int64_t available(std::int64_t now_ms) const;  // max(0, limit - used)

 private:
  static std::int64_t slot_of(std::int64_t ms);
  static std::size_t index_of(std::int64_t slot);
  // Drops slots that left the window by now_ms and makes the slot of now_ms the newest.
  void advance(std::int64_t now_ms);

  std::array<std::int64_t, kSlots> slots_{};  // by absolute slot number modulo kSlots
  std::int64_t newest_slot_;                  // absolute slot number of the newest slot
  std::int64_t used_ = 0;
  std::int64_t limit_;
};

}  // namespace switchyard::limit
