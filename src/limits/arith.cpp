// The pure reservation arithmetic: GCRA for request rates, fixed windows for budgets, a
// counter for concurrency. No clock is read here; time is passed in.
#include <algorithm>
#include <chrono>

#include "limits/limits.h"

namespace warden::limits {
namespace {

// GCRA emission interval: one request every window/amount microseconds, with a burst of
// `amount` (the tolerance is window - interval).
Micros interval(const Spec& spec) {
  return std::max<Micros>(1, spec.window / std::max<std::int64_t>(1, spec.amount));
}

Micros window_start(const Spec& spec, Micros now) {
  return window_of(spec, now).start;
}

// A budget window that has passed starts empty; reservations taken in it no longer count.
void roll(const Spec& spec, State& state, Micros now) {
  const Micros start = window_start(spec, now);
  if (state.window_start != start) {
    state.window_start = start;
    state.used = 0;
    state.reserved = 0;
  }
}

Verdict reserve_rate(const Spec& spec, State& state, std::int64_t cost, Micros now) {
  const Micros t = interval(spec);
  const Micros tat = std::max(state.tat, now) + t * cost;
  Verdict v;
  const Micros ahead = tat - now;
  if (ahead <= spec.window) {
    state.tat = tat;
    v.allowed = true;
    v.remaining = (spec.window - ahead) / t;
    v.reset = ahead;
  } else {
    const Micros cur = std::max(state.tat, now) - now;
    v.remaining = std::max<Micros>(0, spec.window - cur) / t;
    v.retry_after = ahead - spec.window;
    v.reset = cur;
  }
  return v;
}

Verdict reserve_budget(const Spec& spec, State& state, std::int64_t cost, Micros now) {
  roll(spec, state, now);
  Verdict v;
  const std::int64_t taken = state.used + state.reserved;
  v.reset = window_of(spec, now).end - now;
  if (taken + cost <= spec.amount) {
    state.reserved += cost;
    v.allowed = true;
    v.remaining = spec.amount - taken - cost;
  } else {
    v.remaining = std::max<std::int64_t>(0, spec.amount - taken);
    v.retry_after = v.reset;
  }
  return v;
}

Verdict reserve_concurrency(const Spec& spec, State& state, std::int64_t cost) {
  Verdict v;
  if (state.used + cost <= spec.amount) {
    state.used += cost;
    v.allowed = true;
    v.remaining = spec.amount - state.used;
  } else {
    v.remaining = std::max<std::int64_t>(0, spec.amount - state.used);
    v.retry_after = 1'000'000;  // unknown: when a stream ends; advise one second
  }
  return v;
}

}  // namespace

Window window_of(const Spec& spec, Micros now) {
  if (spec.month) {
    // Calendar months (UTC), from the civil date of `now`.
    using namespace std::chrono;
    constexpr Micros kDay = 86'400'000'000LL;
    const Micros day = now >= 0 ? now / kDay : -((-now + kDay - 1) / kDay);
    const year_month_day ymd{sys_days{days{day}}};
    const year_month first = ymd.year() / ymd.month();
    const sys_days start{first / 1};
    const sys_days end{(first + months{1}) / 1};
    return {start.time_since_epoch().count() * kDay, end.time_since_epoch().count() * kDay};
  }
  if (spec.window <= 0) return {0, 0};
  const Micros start = now - ((now % spec.window) + spec.window) % spec.window;
  return {start, start + spec.window};
}

Micros wall_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Verdict reserve(const Spec& spec, State& state, std::int64_t cost, Micros now) {
  switch (spec.kind) {
    case Kind::rate:
      return reserve_rate(spec, state, cost, now);
    case Kind::budget:
      return reserve_budget(spec, state, cost, now);
    case Kind::concurrency:
      return reserve_concurrency(spec, state, cost);
  }
  return {};
}

void settle(const Spec& spec, State& state, std::int64_t reserved, std::int64_t actual,
            Micros reserved_at, Micros now) {
  switch (spec.kind) {
    case Kind::rate:
      // A token rate reserved the worst case: the part not used is given back (the theoretical
      // arrival time moves back by it). A request rate reserves 1 and uses 1: nothing moves.
      if (actual < reserved)
        state.tat -= interval(spec) * (reserved - std::max<std::int64_t>(0, actual));
      return;
    case Kind::concurrency:
      state.used = std::max<std::int64_t>(0, state.used - reserved);
      return;
    case Kind::budget:
      roll(spec, state, now);
      // Usage of a reservation from a window that has passed is not carried over.
      if (window_start(spec, reserved_at) != state.window_start) return;
      state.reserved = std::max<std::int64_t>(0, state.reserved - reserved);
      state.used += std::max<std::int64_t>(0, actual);
      return;
  }
}

void release(const Spec& spec, State& state, std::int64_t reserved, Micros reserved_at,
             Micros now) {
  switch (spec.kind) {
    case Kind::rate:
      state.tat -= interval(spec) * reserved;
      return;
    case Kind::concurrency:
    case Kind::budget:
      settle(spec, state, reserved, 0, reserved_at, now);
      return;
  }
}

}  // namespace warden::limits
