#include "switchyard/limit/sliding_window.h"

#include <algorithm>

namespace switchyard::limit {
namespace {

std::int64_t clamp_amount(std::int64_t amount) {
  return std::clamp<std::int64_t>(amount, 0, kMaxAmount);
}

// A slot never holds more than this, so used_ (at most kSlots slots) cannot overflow.
constexpr std::int64_t kMaxSlotValue = 4 * kMaxAmount;

}  // namespace

SlidingWindowLimit::SlidingWindowLimit(std::int64_t limit, std::int64_t now_ms)
    : newest_slot_(slot_of(now_ms)), limit_(clamp_amount(limit)) {}

std::int64_t SlidingWindowLimit::slot_of(std::int64_t ms) {
  // Floor division, so negative steady times (unusual but legal) still map to ordered slots.
  return ms >= 0 ? ms / kSlotMs : -((-ms + kSlotMs - 1) / kSlotMs);
}

std::size_t SlidingWindowLimit::index_of(std::int64_t slot) {
  const std::int64_t r = slot % kSlots;
  return static_cast<std::size_t>(r < 0 ? r + kSlots : r);
}

void SlidingWindowLimit::advance(std::int64_t now_ms) {
  const std::int64_t slot = slot_of(now_ms);
  if (slot <= newest_slot_) return;
  if (slot - newest_slot_ >= kSlots) {
    slots_.fill(0);
    used_ = 0;
  } else {
    // Slot s reuses the ring position of slot s - kSlots, which has just left the window.
    for (std::int64_t s = newest_slot_ + 1; s <= slot; ++s) {
      std::int64_t& value = slots_[index_of(s)];
      used_ -= value;
      value = 0;
    }
  }
  newest_slot_ = slot;
}

std::int64_t SlidingWindowLimit::used(std::int64_t now_ms) const {
  const std::int64_t slot = slot_of(now_ms);
  if (slot <= newest_slot_) return used_;
  if (slot - newest_slot_ >= kSlots) return 0;
  std::int64_t used = used_;
  for (std::int64_t s = newest_slot_ + 1; s <= slot; ++s) used -= slots_[index_of(s)];
  return used;
}

std::int64_t SlidingWindowLimit::available(std::int64_t now_ms) const {
  return std::max<std::int64_t>(0, limit_ - used(now_ms));
}

bool SlidingWindowLimit::can_take(std::int64_t amount, std::int64_t now_ms,
                                  std::int64_t reserve) const {
  return used(now_ms) + clamp_amount(amount) + clamp_amount(reserve) <= limit_;
}

bool SlidingWindowLimit::try_take(std::int64_t amount, std::int64_t now_ms, std::int64_t reserve) {
  if (!can_take(amount, now_ms, reserve)) return false;
  record(amount, now_ms);
  return true;
}

std::int64_t SlidingWindowLimit::ms_until(std::int64_t amount, std::int64_t now_ms,
                                          std::int64_t reserve) const {
  const std::int64_t allowed = limit_ - clamp_amount(amount) - clamp_amount(reserve);
  if (allowed < 0) return kNeverMs;
  std::int64_t used_now = used(now_ms);
  if (used_now <= allowed) return 0;
  // Walk the slots still in the window, oldest first; slot s leaves at the start of s + kSlots.
  const std::int64_t now_slot = std::max(slot_of(now_ms), newest_slot_);
  for (std::int64_t s = now_slot - kSlots + 1; s <= now_slot; ++s) {
    if (s > newest_slot_) break;  // nothing recorded in later slots
    used_now -= slots_[index_of(s)];
    if (used_now <= allowed) return std::max<std::int64_t>(0, (s + kSlots) * kSlotMs - now_ms);
  }
  return std::max<std::int64_t>(0, (newest_slot_ + kSlots) * kSlotMs - now_ms);
}

void SlidingWindowLimit::record(std::int64_t amount, std::int64_t now_ms) {
  advance(now_ms);
  std::int64_t& value = slots_[index_of(newest_slot_)];
  const std::int64_t added = std::min(clamp_amount(amount), kMaxSlotValue - value);
  value += added;
  used_ += added;
}

void SlidingWindowLimit::give_back(std::int64_t amount, std::int64_t taken_at_ms,
                                   std::int64_t now_ms) {
  advance(now_ms);
  // A take is recorded in the newest slot seen at the time, never earlier than its own slot.
  // Crediting its own slot (or an older one, when time went backwards) never returns capacity
  // sooner than the window allows.
  const std::int64_t slot = std::min(slot_of(taken_at_ms), newest_slot_);
  if (slot <= newest_slot_ - kSlots) return;  // already left the window
  std::int64_t& value = slots_[index_of(slot)];
  const std::int64_t credit = std::min(clamp_amount(amount), value);
  value -= credit;
  used_ -= credit;
}

void SlidingWindowLimit::lower_available_to(std::int64_t remaining,
                                            std::optional<std::int64_t> release_at_ms,
                                            std::int64_t now_ms) {
  advance(now_ms);
  const std::int64_t ours = limit_ - used_;
  const std::int64_t theirs = clamp_amount(remaining);
  if (theirs >= ours) return;
  // Usage recorded in slot s leaves at the start of slot s + kSlots: pick the earliest slot
  // that leaves at or after release_at_ms, within the window.
  std::int64_t slot = newest_slot_;
  if (release_at_ms) {
    const std::int64_t release_slot = slot_of(*release_at_ms) + (*release_at_ms % kSlotMs != 0);
    slot = std::clamp(release_slot - kSlots, newest_slot_ - kSlots + 1, newest_slot_);
  }
  std::int64_t& value = slots_[index_of(slot)];
  const std::int64_t added = std::min(ours - theirs, kMaxSlotValue - value);
  value += added;
  used_ += added;
}

void SlidingWindowLimit::set_limit(std::int64_t limit) {
  limit_ = clamp_amount(limit);
}

}  // namespace switchyard::limit
