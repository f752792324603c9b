#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "limits/limits.h"
#include "limits/rules.h"

namespace warden::limits {
namespace {

constexpr Micros kSecond = 1'000'000;
constexpr Micros kMinute = 60 * kSecond;

TEST(LimitsArith, RateAllowsBurstThenRefusesWithRetryAfter) {
  const Spec spec{Kind::rate, 3, kSecond};
  State s;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(reserve(spec, s, 1, 0).allowed) << i;
  const Verdict refused = reserve(spec, s, 1, 0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_GT(refused.retry_after, 0);
  // Once retry_after has passed, one more fits.
  EXPECT_TRUE(reserve(spec, s, 1, refused.retry_after).allowed);
  EXPECT_FALSE(reserve(spec, s, 1, refused.retry_after).allowed);
}

TEST(LimitsArith, RateReleaseGivesTheRequestBack) {
  const Spec spec{Kind::rate, 1, kSecond};
  State s;
  ASSERT_TRUE(reserve(spec, s, 1, 0).allowed);
  ASSERT_FALSE(reserve(spec, s, 1, 0).allowed);
  release(spec, s, 1, 0, 0);
  EXPECT_TRUE(reserve(spec, s, 1, 0).allowed);
}

TEST(LimitsArith, BudgetReservesWorstCaseAndSettlesActual) {
  const Spec spec{Kind::budget, 1000, kMinute};
  State s;
  const Verdict a = reserve(spec, s, 600, 5);
  ASSERT_TRUE(a.allowed);
  EXPECT_EQ(a.remaining, 400);
  EXPECT_EQ(a.reset, kMinute - 5);
  EXPECT_FALSE(reserve(spec, s, 600, 6).allowed);  // worst case does not fit
  settle(spec, s, 600, 100, 5, 7);                 // actual usage was lower
  EXPECT_EQ(s.used, 100);
  EXPECT_EQ(s.reserved, 0);
  EXPECT_TRUE(reserve(spec, s, 600, 8).allowed);
  const Verdict refused = reserve(spec, s, 600, 10);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 300);
  EXPECT_EQ(refused.retry_after, kMinute - 10);
}

TEST(LimitsArith, BudgetWindowRollsOverAndIgnoresStaleSettlement) {
  const Spec spec{Kind::budget, 100, kMinute};
  State s;
  ASSERT_TRUE(reserve(spec, s, 100, kMinute - 1).allowed);
  EXPECT_FALSE(reserve(spec, s, 1, kMinute - 1).allowed);
  EXPECT_TRUE(reserve(spec, s, 50, kMinute).allowed);   // next window
  settle(spec, s, 100, 100, kMinute - 1, kMinute + 1);  // settles into a window that has passed
  EXPECT_EQ(s.used, 0);
  EXPECT_EQ(s.reserved, 50);
}

TEST(LimitsArith, ConcurrencyCountsInFlightAndReleases) {
  const Spec spec{Kind::concurrency, 2, 0};
  State s;
  EXPECT_TRUE(reserve(spec, s, 1, 0).allowed);
  EXPECT_TRUE(reserve(spec, s, 1, 0).allowed);
  EXPECT_FALSE(reserve(spec, s, 1, 0).allowed);
  release(spec, s, 1, 0, 0);
  EXPECT_TRUE(reserve(spec, s, 1, 0).allowed);
  settle(spec, s, 1, 0, 0, 0);
  EXPECT_EQ(s.used, 1);
}

TEST(LimitsStore, AllOrNothingAcrossLimitsAndMostRestrictive) {
  Store store(4);
  const std::vector<Applied> req{{"principal=a", {Kind::budget, 1000, kMinute}, 300},
                                 {"model=m", {Kind::budget, 500, kMinute}, 300}};
  const Outcome first = store.reserve(req, 0);
  ASSERT_TRUE(first.allowed);
  EXPECT_EQ(first.limiting, 1u);  // model has less left
  const Outcome second = store.reserve(req, 1);
  EXPECT_FALSE(second.allowed);
  EXPECT_EQ(second.limiting, 1u);
  // The principal's limit was not charged by the refused request.
  EXPECT_EQ(store.remaining(req[0], 2), 700);
  store.release(req, 0, 3);
  EXPECT_EQ(store.remaining(req[0], 4), 1000);
  EXPECT_EQ(store.remaining(req[1], 4), 500);
}

TEST(LimitsStore, SameKeyTwiceIsRestoredOnRefusal) {
  Store store(1);
  const std::vector<Applied> req{{"k", {Kind::budget, 100, kMinute}, 60},
                                 {"k", {Kind::budget, 100, kMinute}, 60}};
  EXPECT_FALSE(store.reserve(req, 0).allowed);
  EXPECT_EQ(store.remaining(req[0], 0), 100);
}

// Pinned limits reserved, settled and released with their lock order given (the request path):
// the same all-or-nothing outcome, entries and restoring as without it.
TEST(LimitsStore, PinnedLimitsWithTheirLockOrderBehaveAsLookedUp) {
  Store store(2);  // four keys on two shards: the order holds each shard once
  std::vector<Applied> req{{"a", {Kind::budget, 1000, kMinute}, 300},
                           {"b", {Kind::budget, 500, kMinute}, 300},
                           {"c", {Kind::rate, 2, kMinute}, 1},
                           {"d", {Kind::concurrency, 1, 0}, 1}};
  const std::vector<Applied> plain = req;
  store.pin(req);
  const auto order = Store::lock_order(req);
  ASSERT_GE(order.size(), 1u);
  ASSERT_LE(order.size(), 2u);
  for (std::size_t i = 1; i < order.size(); ++i) EXPECT_LT(order[i - 1], order[i]);
  for (const Applied& l : req)
    EXPECT_NE(std::find(order.begin(), order.end(), l.shard), order.end());

  Outcome o;
  store.reserve(req, 0, order, o);
  ASSERT_TRUE(o.allowed);
  EXPECT_EQ(o.verdicts.size(), 4u);
  EXPECT_EQ(store.remaining(plain[1], 1), 200);
  // Refused (b has 200 left, the stream is in flight): nothing else charged, into the same
  // outcome; the limit named is the one that frees up last (b, at the end of its minute).
  store.reserve(req, 1, order, o);
  EXPECT_FALSE(o.allowed);
  EXPECT_FALSE(o.verdicts[1].allowed);
  EXPECT_FALSE(o.verdicts[3].allowed);
  EXPECT_EQ(o.limiting, 1u);
  EXPECT_EQ(store.remaining(plain[0], 2), 700);
  EXPECT_EQ(store.remaining(plain[2], 2), 1);
  const std::vector<std::int64_t> actual{100, 100, 1, 1};
  store.settle(req, actual, 0, 3, order);
  EXPECT_EQ(store.remaining(plain[0], 4), 900);
  EXPECT_EQ(store.remaining(plain[1], 4), 400);
  store.reserve(req, 5, order, o);
  ASSERT_TRUE(o.allowed);
  store.release(req, 5, 6, order);
  EXPECT_EQ(store.remaining(plain[1], 7), 400);
  EXPECT_TRUE(store.reserve(plain, 8).allowed);  // the stream's place was given back
  store.unpin(req);
}

TEST(LimitsStore, ConcurrentReservationsNeverOvershoot) {
  Store store;
  constexpr int kFits = 37;
  const std::vector<Applied> req{{"team=t", {Kind::budget, kFits * 100, kMinute}, 100},
                                 {"principal=p", {Kind::rate, 1000, kSecond}, 1}};
  std::atomic<int> served{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        if (store.reserve(req, 0).allowed) served.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(served.load(), kFits);  // 200 attempts, exactly the budget served
}

TEST(LimitsStore, LeaseExpiryDropsAbandonedReservations) {
  Store store;
  const std::vector<Applied> req{{"s", {Kind::concurrency, 1, 0}, 1}};
  ASSERT_TRUE(store.reserve(req, 0).allowed);
  EXPECT_FALSE(store.reserve(req, 1).allowed);
  EXPECT_EQ(store.expire(10 * kSecond, 5 * kSecond), 0u);
  EXPECT_EQ(store.expire(10 * kSecond, 20 * kSecond), 1u);
  EXPECT_TRUE(store.reserve(req, 21 * kSecond).allowed);
}

TEST(LimitsArith, ATokenRateGivesBackWhatWasNotUsed) {
  const Spec spec{Kind::rate, 1000, kMinute};
  State s;
  ASSERT_TRUE(reserve(spec, s, 800, 0).allowed);
  EXPECT_FALSE(reserve(spec, s, 800, 0).allowed);
  settle(spec, s, 800, 100, 0, 0);  // used 100 of the 800 reserved
  EXPECT_TRUE(reserve(spec, s, 800, 0).allowed);
  EXPECT_FALSE(reserve(spec, s, 200, 0).allowed);
}

TEST(LimitsRules, EachRuleMeetsTheRequestUnderItsKeyAndGroupsCountAgainstEachValue) {
  Settings settings;
  Rule per_principal{
      "rpm", {{KeyPart::principal, ""}}, Measure::requests, {Kind::rate, 60, kMinute}, "minute"};
  Rule per_group{"groups",
                 {{KeyPart::label, "groups"}, {KeyPart::model, ""}},
                 Measure::tokens,
                 {Kind::budget, 1000, kMinute},
                 "minute"};
  Rule per_team{
      "team", {{KeyPart::team, ""}}, Measure::tokens, {Kind::budget, 1000, kMinute}, "minute"};
  Rule streams{"streams", {}, Measure::streams, {Kind::concurrency, 2, 0}, ""};
  Rule group_team{"group-team",
                  {{KeyPart::label, "groups"}, {KeyPart::team, ""}},
                  Measure::requests,
                  {Kind::rate, 10, kMinute},
                  "minute"};
  Rule group_site{"group-site",
                  {{KeyPart::label, "groups"}, {KeyPart::label, "site"}},
                  Measure::requests,
                  {Kind::rate, 10, kMinute},
                  "minute"};
  settings.rules = {per_principal, per_group, group_team, per_team, group_site, streams};
  settings.prepare();
  const std::map<std::string, std::string> labels{{"groups", "eng, ops"}, {"site", "a,b"}};
  Subject subject{"alice", "", &labels, "gpt", "", false, 300};
  Met met;
  applicable(settings, subject, met);
  // No team: the rules keyed by team do not apply (a key left unfinished leaves no trace); not
  // a stream: nor does the streams rule. Two label values fork a key; two labels of two values
  // each make four.
  const auto& out = met.applied;
  ASSERT_EQ(out.size(), 7u);
  EXPECT_EQ(out[0].key, "rpm|principal=alice");
  EXPECT_EQ(out[0].cost, 1);
  EXPECT_EQ(out[1].key, "groups|label:groups=eng|model=gpt");
  EXPECT_EQ(out[2].key, "groups|label:groups=ops|model=gpt");
  EXPECT_EQ(out[2].cost, 300);
  EXPECT_EQ(out[3].key, "group-site|label:groups=eng|label:site=a");
  EXPECT_EQ(out[4].key, "group-site|label:groups=eng|label:site=b");
  EXPECT_EQ(out[5].key, "group-site|label:groups=ops|label:site=a");
  EXPECT_EQ(out[6].key, "group-site|label:groups=ops|label:site=b");
  EXPECT_EQ(out[6].hash, key_hash(out[6].key));
  EXPECT_EQ(std::vector<std::uint16_t>(met.rule_of.begin(), met.rule_of.end()),
            (std::vector<std::uint16_t>{0, 1, 1, 4, 4, 4, 4}));
  subject.stream = true;
  applicable(settings, subject, met);
  ASSERT_EQ(met.applied.size(), 8u);
  EXPECT_EQ(met.applied[7].key, "streams");
  EXPECT_EQ(settings.rules[0].header_mid, "\r\nx-ratelimit-reset-requests: ");
}

TEST(LimitsRules, TheKeyCacheMeetsWhatApplicableMeetsAndSharesTheKeysOfOneSubject) {
  Settings settings;
  settings.rules = {
      {"rpm", {{KeyPart::principal, ""}}, Measure::requests, {Kind::rate, 60, kMinute}, "minute"},
      {"groups",
       {{KeyPart::label, "groups"}, {KeyPart::model, ""}},
       Measure::tokens,
       {Kind::budget, 1000, kMinute},
       "minute"},
      {"team", {{KeyPart::team, ""}}, Measure::tokens, {Kind::budget, 1000, kMinute}, "minute"},
      {"streams", {}, Measure::streams, {Kind::concurrency, 2, 0}, ""}};
  settings.prepare();
  EXPECT_EQ(settings.label_names, std::vector<std::string>{"groups"});
  std::map<std::string, std::string> labels{{"groups", "eng,ops"}};
  Subject subject{"alice", "", &labels, "gpt", "", false, 300};
  KeyCache cache;
  auto keys_of = [](const Met& m) {
    std::vector<std::string> out;
    for (const Applied& a : m.applied)
      out.push_back(std::string(a.key) + "/" + std::to_string(a.cost));
    return out;
  };
  auto same_as_applicable = [&](const Subject& s) {
    Met cached, fresh;
    cache.meet(settings, s, cached);
    applicable(settings, s, fresh);
    EXPECT_EQ(keys_of(cached), keys_of(fresh));
    EXPECT_EQ(std::vector<std::uint16_t>(cached.rule_of.begin(), cached.rule_of.end()),
              std::vector<std::uint16_t>(fresh.rule_of.begin(), fresh.rule_of.end()));
    for (const Applied& a : cached.applied) EXPECT_EQ(a.hash, key_hash(a.key));
    return cached.keys;
  };
  const auto first = same_as_applicable(subject);
  // The same subject again shares the keys; its costs are its own.
  subject.tokens = 500;
  EXPECT_EQ(same_as_applicable(subject), first);
  // Anything the keys depend on makes others: a label's value, a label gone, a team, a stream,
  // another principal or model, new settings.
  labels["groups"] = "eng";
  EXPECT_NE(same_as_applicable(subject), first);
  labels.erase("groups");
  same_as_applicable(subject);
  subject.team = "research";
  same_as_applicable(subject);
  subject.stream = true;
  same_as_applicable(subject);
  subject.principal = "bob";
  same_as_applicable(subject);
  subject.model = "gpt-mini";
  const auto before = same_as_applicable(subject);
  settings.rules[0].name = "rpm2";
  settings.prepare();
  EXPECT_NE(same_as_applicable(subject), before);
  // Many subjects share 64 slots: each still meets its own keys.
  std::string p;  // outlives the loop: `subject` still views it below
  for (int i = 0; i < 200; ++i) {
    p = "p" + std::to_string(i);
    subject.principal = p;
    same_as_applicable(subject);
  }
  cache.clear();
  same_as_applicable(subject);
}

TEST(LimitsStore, PinnedEntriesAreFoundWithoutLookupAndOutliveExpiryUntilUnpinned) {
  Store store(4);
  const std::string k1 = "a", k2 = "b";
  std::vector<Applied> req{{k1, {Kind::budget, 100, kMinute}, 60},
                           {k2, {Kind::rate, 2, kMinute}, 1}};
  const std::vector<Applied> plain = req;
  store.pin(req);
  ASSERT_NE(req[0].entry, nullptr);
  ASSERT_NE(req[1].shard, nullptr);
  EXPECT_TRUE(store.reserve(req, 0).allowed);
  // The entries the keys' lookup finds.
  EXPECT_EQ(store.remaining(plain[0], 1), 40);
  EXPECT_FALSE(store.reserve(plain, 1).allowed);  // 60 more do not fit in 100
  const std::vector<std::int64_t> actual{20, 1};
  store.settle(req, actual, 0, 2);
  EXPECT_EQ(store.remaining(plain[0], 3), 80);
  // Idle past the ttl: kept while pinned, dropped once unpinned.
  EXPECT_EQ(store.expire(kMinute, 10 * kMinute), 0u);
  store.unpin(req);
  EXPECT_EQ(store.expire(kMinute, 10 * kMinute), 2u);

  // A worker's cached keys pin their entries while the cache or a request holds them.
  Settings settings;
  settings.rules = {
      {"rpm", {{KeyPart::principal, ""}}, Measure::requests, {Kind::rate, 60, kMinute}, "minute"}};
  settings.prepare();
  KeyCache cache;
  const Subject subject{"alice", "", nullptr, "gpt", "", false, 300};
  {
    Met met;
    cache.meet(settings, subject, met, &store);
    ASSERT_EQ(met.applied.size(), 1u);
    ASSERT_NE(met.applied[0].entry, nullptr);
    EXPECT_TRUE(store.reserve(met.applied, 20 * kMinute).allowed);
    cache.clear();
    EXPECT_EQ(store.expire(kMinute, 40 * kMinute), 0u);  // the request still holds them
  }
  EXPECT_EQ(store.expire(kMinute, 40 * kMinute), 1u);
}

TEST(LimitsStore, ManyLimitsOfOneRequestOutgrowTheInlineSpace) {
  Store store(2);
  std::vector<std::string> keys;
  for (int i = 0; i < 20; ++i) keys.push_back("k" + std::to_string(i));
  std::vector<Applied> req;
  for (const std::string& k : keys) req.push_back({k, {Kind::budget, 100, kMinute}, 60});
  const Outcome first = store.reserve(req, 0);
  ASSERT_TRUE(first.allowed);
  ASSERT_EQ(first.verdicts.size(), 20u);
  EXPECT_EQ(first.verdicts[19].remaining, 40);
  EXPECT_FALSE(store.reserve(req, 1).allowed);
  store.release(req, 0, 2);
  EXPECT_EQ(store.remaining(req[19], 3), 100);
}

TEST(LimitsArith, AMonthlyBudgetFollowsTheCalendarMonthInUTC) {
  const Spec spec{Kind::budget, 100, kLongestMonth, true};
  constexpr Micros kDay = 86'400 * kSecond;
  // 2024-02-10T12:00Z: February of a leap year, 29 days from 2024-02-01 (19754 days after 1970).
  const Micros feb1 = 19'754 * kDay;
  const Micros now = feb1 + 9 * kDay + 12 * 3600 * kSecond;
  EXPECT_EQ(window_of(spec, now).start, feb1);
  EXPECT_EQ(window_of(spec, now).end, feb1 + 29 * kDay);
  EXPECT_EQ(window_of(spec, feb1 - 1).start, feb1 - 31 * kDay);  // January
  State s;
  const Verdict v = reserve(spec, s, 60, now);
  ASSERT_TRUE(v.allowed);
  EXPECT_EQ(v.reset, feb1 + 29 * kDay - now);
  settle(spec, s, 60, 60, now, now);
  EXPECT_FALSE(reserve(spec, s, 60, feb1 + 29 * kDay - 1).allowed);  // still February
  EXPECT_TRUE(reserve(spec, s, 60, feb1 + 29 * kDay).allowed);       // March 1st
}

TEST(LimitsRules, SpendIsCountedInMillionthsAndRoundedUp) {
  // 2.5 per million input tokens and 10 per million output tokens: 1000 in and 100 out cost
  // 2500 + 1000 millionths.
  EXPECT_EQ(micro_cost(2.5, 10, 1000, 100), 3500);
  EXPECT_EQ(micro_cost(0.15, 0.6, 1, 1), 1);  // 0.75 millionths: never rounded to nothing
  EXPECT_EQ(micro_cost(0, 0, 1000, 1000), 0);
  EXPECT_EQ(amount_text(Measure::spend, 10'000), "0.01");
  EXPECT_EQ(amount_text(Measure::spend, 25'000'000), "25");
  EXPECT_EQ(amount_text(Measure::spend, 1'234'567), "1.234567");
  EXPECT_EQ(amount_text(Measure::tokens, 1000), "1000");
  Settings settings;
  settings.currency = "EUR";
  settings.rules = {{"team-spend",
                     {{KeyPart::team, ""}},
                     Measure::spend,
                     {Kind::budget, 12'500'000, kLongestMonth, true},
                     "month"}};
  EXPECT_EQ(settings.describe(), "team-spend: 12.5 EUR per month per team\n");
  Subject subject{"alice", "research", nullptr, "gpt", "", false, 300, 4200};
  settings.prepare();
  Met met;
  applicable(settings, subject, met);
  ASSERT_EQ(met.applied.size(), 1u);
  EXPECT_EQ(met.applied[0].cost, 4200);
  EXPECT_EQ(settings.rules[0].limit_text, "12.5");
  EXPECT_EQ(settings.rules[0].header_head,
            "x-ratelimit-limit-spend: 12.5\r\nx-ratelimit-remaining-spend: ");
  EXPECT_EQ(amount_text(Measure::spend, INT64_MIN), "-9223372036854.775808");
  EXPECT_EQ(amount_text(Measure::tokens, INT64_MIN), "-9223372036854775808");
}

TEST(LimitsRules, ResetsReadLikeOpenAIs) {
  EXPECT_EQ(reset_text(0), "0s");
  EXPECT_EQ(reset_text(20'500), "21ms");
  EXPECT_EQ(reset_text(1'500'000), "2s");
  EXPECT_EQ(reset_text(6 * kMinute), "6m0s");
  EXPECT_EQ(reset_text(3600 * kSecond + 61 * kSecond), "1h1m1s");
  EXPECT_EQ(reset_text(INT64_MAX), "2562047788h0m55s");
}

}  // namespace
}  // namespace warden::limits
