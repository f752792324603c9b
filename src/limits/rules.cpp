// Which configured limits a request meets, and under which keys.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>

#include "limits/rules.h"

namespace warden::limits {

std::string_view measure_name(Measure m) {
  switch (m) {
    case Measure::requests:
      return "requests";
    case Measure::tokens:
      return "tokens";
    case Measure::streams:
      return "streams";
    case Measure::spend:
      return "spend";
    case Measure::energy:
      return "energy";
  }
  return "requests";
}

char* amount_chars(char* p, Measure m, std::int64_t amount) {
  // At most 27 characters: a sign, 19 digits, a point and six decimals.
  char* const end = p + kTextChars;
  if (m != Measure::spend && m != Measure::energy) return std::to_chars(p, end, amount).ptr;
  if (amount < 0) *p++ = '-';
  const std::uint64_t a = amount < 0 ? 0 - static_cast<std::uint64_t>(amount) : amount;
  p = std::to_chars(p, end, a / 1'000'000).ptr;
  std::uint64_t frac = a % 1'000'000;
  if (frac != 0) {
    *p++ = '.';
    for (std::uint64_t unit = 100'000; frac != 0; unit /= 10) {
      *p++ = static_cast<char>('0' + frac / unit);
      frac %= unit;
    }
  }
  return p;
}

std::string amount_text(Measure m, std::int64_t amount) {
  char buf[kTextChars];
  return std::string(buf, amount_chars(buf, m, amount));
}

std::int64_t micro_cost(double per_mtok_in, double per_mtok_out, std::int64_t in,
                        std::int64_t out) {
  // Per million tokens in units = per token in millionths of a unit.
  const double c = per_mtok_in * static_cast<double>(std::max<std::int64_t>(0, in)) +
                   per_mtok_out * static_cast<double>(std::max<std::int64_t>(0, out));
  return static_cast<std::int64_t>(std::ceil(c - 1e-9));
}

namespace {

std::string key_text(const std::vector<KeyField>& key) {
  if (key.empty()) return "for all requests";
  std::string out = "per ";
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (i) out += '+';
    switch (key[i].part) {
      case KeyPart::principal:
        out += "principal";
        break;
      case KeyPart::team:
        out += "team";
        break;
      case KeyPart::label:
        out += "label:" + key[i].label;
        break;
      case KeyPart::model:
        out += "model";
        break;
      case KeyPart::deployment:
        out += "deployment";
        break;
    }
  }
  return out;
}

// Visits every value of a label: "a,b" counts as a and as b (groups).
template <class F>
void each_value(std::string_view v, const F& f) {
  while (!v.empty()) {
    const std::size_t comma = v.find(',');
    std::string_view one = v.substr(0, comma);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (!one.empty()) f(one);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

// Builds the keys of `rule` part by part at the end of `keys`, where the key so far begins at
// `start`; a part with several values forks the key: each finished key stays where it is and
// the next one begins after it with a copy of their common prefix. (One buffer for all of a
// request's keys: no allocation per key.) A part the subject lacks ends the key unfinished;
// what it left at the end of `keys` is never pointed to.
template <class Emit>
void expand(const Rule& rule, const Subject& s, std::size_t part, std::string& keys,
            std::size_t start, const Emit& emit) {
  if (part == rule.key.size()) {
    emit(start, keys.size() - start);
    return;
  }
  const std::size_t prefix = keys.size() - start;
  std::size_t at = start;
  bool first = true;
  auto with = [&](std::string_view name, std::string_view value) {
    if (!first) {
      const std::size_t from = at;
      at = keys.size();
      keys.append(keys, from, prefix);
    }
    first = false;
    keys += '|';
    keys += name;
    keys += '=';
    keys += value;
    expand(rule, s, part + 1, keys, at, emit);
  };
  const KeyField& f = rule.key[part];
  switch (f.part) {
    case KeyPart::principal:
      with("principal", s.principal);
      break;
    case KeyPart::team:
      if (!s.team.empty()) with("team", s.team);
      break;
    case KeyPart::model:
      with("model", s.model);
      break;
    case KeyPart::deployment:
      if (!s.deployment.empty()) with("deployment", s.deployment);
      break;
    case KeyPart::label: {
      if (s.labels == nullptr) break;
      const auto it = s.labels->find(f.label);
      if (it == s.labels->end()) break;
      each_value(it->second, [&](std::string_view v) { with(f.label_part, v); });
      break;
    }
  }
}

// A key without labels has one value per part (no fork): written straight, without expand()'s
// recursion (half of a request's key building with four such rules, bench/callgrind.sh). False
// when the rule has a label part; a part the subject lacks leaves no key (`keys` as before).
bool simple_key(const Rule& rule, const Subject& s, std::string& keys) {
  const std::size_t mark = keys.size() - rule.name.size();
  for (const KeyField& f : rule.key) {
    if (f.part == KeyPart::label) {
      keys.resize(mark + rule.name.size());
      return false;
    }
  }
  for (const KeyField& f : rule.key) {
    std::string_view name, value;
    switch (f.part) {
      case KeyPart::principal:
        name = "|principal=", value = s.principal;
        break;
      case KeyPart::team:
        name = "|team=", value = s.team;
        break;
      case KeyPart::model:
        name = "|model=", value = s.model;
        break;
      case KeyPart::deployment:
        name = "|deployment=", value = s.deployment;
        break;
      case KeyPart::label:
        break;
    }
    if (value.empty() && (f.part == KeyPart::team || f.part == KeyPart::deployment)) {
      keys.resize(mark);
      return true;
    }
    keys += name;
    keys += value;
  }
  return true;
}

}  // namespace

std::string_view unit_name(Measure m, std::string_view currency) {
  switch (m) {
    case Measure::spend:
      return currency;
    case Measure::energy:
      return "Wh";
    default:
      return measure_name(m);
  }
}

std::string Settings::describe() const {
  std::string out;
  for (const Rule& r : rules) {
    if (r.measure == Measure::streams) {
      out += fmt::format("{}: {} concurrent streams {}", r.name, r.spec.amount, key_text(r.key));
    } else {
      out += fmt::format("{}: {} {} per {} {}", r.name, amount_text(r.measure, r.spec.amount),
                         unit_name(r.measure, currency), r.per, key_text(r.key));
    }
    if (r.fail_open) out += " (fail_open)";
    out += '\n';
  }
  return out;
}

namespace {

// Every key of `subject`, written into one buffer (no allocation per key) and hashed once.
std::shared_ptr<Keys> build_keys(const Settings& settings, const Subject& subject) {
  auto built = std::make_shared<Keys>();
  std::string& keys = built->text;
  keys.reserve(256);  // one allocation for a request's keys, not one per doubling
  struct Span {
    std::uint32_t at, len;
  };
  PerLimit<Span> spans;  // where each key lies in `keys`
  for (std::size_t i = 0; i < settings.rules.size(); ++i) {
    const Rule& rule = settings.rules[i];
    if (rule.measure == Measure::streams && !subject.stream) continue;
    if (rule.by_deployment && subject.deployment.empty()) continue;
    const std::size_t start = keys.size();
    keys += rule.name;
    auto emit = [&](std::size_t at, std::size_t len) {
      spans.push_back(Span{static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(len)});
      built->applied.push_back({{}, rule.spec, 0, 0});
      built->rule_of.push_back(static_cast<std::uint16_t>(i));
    };
    if (!simple_key(rule, subject, keys)) {
      expand(rule, subject, 0, keys, start, emit);
    } else if (keys.size() != start) {
      emit(start, keys.size() - start);
    }
  }
  // `keys` is complete: it moves no more.
  for (std::size_t i = 0; i < spans.size(); ++i) {
    Applied& a = built->applied[i];
    a.key = std::string_view(keys).substr(spans[i].at, spans[i].len);
    a.hash = key_hash(a.key);
  }
  return built;
}

// The request's own part: `keys` with each limit's cost for `subject`.
void fill(const Settings& settings, const Subject& subject, std::shared_ptr<const Keys> keys,
          Met& out) {
  out.applied = keys->applied;
  out.rule_of = keys->rule_of;
  for (std::size_t i = 0; i < out.applied.size(); ++i) {
    switch (settings.rules[out.rule_of[i]].measure) {
      case Measure::tokens:
        out.applied[i].cost = subject.tokens;
        break;
      case Measure::spend:
        out.applied[i].cost = subject.spend;
        break;
      case Measure::energy:
        out.applied[i].cost = subject.energy;
        break;
      default:
        out.applied[i].cost = 1;
    }
  }
  out.keys = std::move(keys);
}

const std::string* label_of(const Subject& s, const std::string& name) {
  if (s.labels == nullptr) return nullptr;
  const auto it = s.labels->find(name);
  return it != s.labels->end() ? &it->second : nullptr;
}

}  // namespace

void applicable(const Settings& settings, const Subject& subject, Met& out) {
  fill(settings, subject, build_keys(settings, subject), out);
}

struct KeyCache::Slot {
  std::uint64_t settings = 0;  // Settings::id; 0: empty
  std::string principal, team, model, deployment;
  bool stream = false;
  // Per Settings::label_names: whether the subject has the label, and its value.
  std::vector<std::pair<bool, std::string>> labels;
  std::shared_ptr<const Keys> keys;

  bool holds(const Settings& st, const Subject& s) const {
    if (settings != st.id || stream != s.stream || principal != s.principal || model != s.model ||
        team != s.team || deployment != s.deployment)
      return false;
    for (std::size_t i = 0; i < st.label_names.size(); ++i) {
      const std::string* v = label_of(s, st.label_names[i]);
      if (labels[i].first != (v != nullptr) || (v != nullptr && labels[i].second != *v))
        return false;
    }
    return true;
  }
  void hold(const Settings& st, const Subject& s, std::shared_ptr<const Keys> built) {
    settings = st.id;
    principal = s.principal;
    team = s.team;
    model = s.model;
    deployment = s.deployment;
    stream = s.stream;
    labels.clear();
    for (const std::string& name : st.label_names) {
      const std::string* v = label_of(s, name);
      labels.emplace_back(v != nullptr, v != nullptr ? *v : std::string());
    }
    keys = std::move(built);
  }
};

namespace {
constexpr std::size_t kSlots = 64;
}

KeyCache::KeyCache() : slots_(std::make_unique<Slot[]>(kSlots)) {}
KeyCache::~KeyCache() = default;

void KeyCache::clear() {
  for (std::size_t i = 0; i < kSlots; ++i) slots_[i] = Slot{};
}

void KeyCache::meet(const Settings& settings, const Subject& subject, Met& out, Store* store) {
  if (settings.id == 0) return applicable(settings, subject, out);
  // The principal tells most subjects apart, and a model's length and last letter most of one
  // principal's models (one hash a request, not two); the rest is compared.
  const std::size_t h =
      std::hash<std::string_view>{}(subject.principal) + subject.model.size() * 31 +
      (subject.model.empty() ? 0 : static_cast<unsigned char>(subject.model.back()));
  Slot& slot = slots_[h % kSlots];
  if (!slot.holds(settings, subject)) {
    std::shared_ptr<Keys> built = build_keys(settings, subject);
    if (store != nullptr) {
      store->pin(built->applied);
      built->pinned = store;
      built->locks = Store::lock_order(built->applied);
    }
    slot.hold(settings, subject, std::move(built));
  }
  fill(settings, subject, slot.keys, out);
}

void Settings::prepare() {
  static std::atomic<std::uint64_t> prepared{0};
  id = ++prepared;
  label_names.clear();
  for (Rule& r : rules) {
    const std::string m(measure_name(r.measure));
    r.limit_text = amount_text(r.measure, r.spec.amount);
    r.header_head =
        "x-ratelimit-limit-" + m + ": " + r.limit_text + "\r\nx-ratelimit-remaining-" + m + ": ";
    r.header_mid = "\r\nx-ratelimit-reset-" + m + ": ";
    for (KeyField& f : r.key) {
      if (f.part != KeyPart::label) continue;
      f.label_part = "label:" + f.label;
      if (std::find(label_names.begin(), label_names.end(), f.label) == label_names.end())
        label_names.push_back(f.label);
    }
  }
}

const Rule* rule_of_key(const Settings& settings, std::string_view key) {
  const std::string_view name = key.substr(0, key.find('|'));
  for (const Rule& r : settings.rules) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

std::string show_line(const Settings& settings, const Rule& rule, std::string_view key,
                      const State& state, Micros now) {
  State copy = state;
  const Verdict v = limits::reserve(rule.spec, copy, 0, now);
  const std::string_view unit = unit_name(rule.measure, settings.currency);
  std::string out =
      fmt::format("{}  {}  limit {}", key, unit, amount_text(rule.measure, rule.spec.amount));
  if (rule.spec.kind == Kind::budget) {
    // A window that has passed holds nothing any more (reserve() rolled the copy over).
    out += fmt::format("  used {}  reserved {}", amount_text(rule.measure, copy.used),
                       amount_text(rule.measure, copy.reserved));
  } else if (rule.spec.kind == Kind::concurrency) {
    out += fmt::format("  in flight {}", copy.used);
  }
  out += fmt::format("  remaining {}", amount_text(rule.measure, v.remaining));
  if (rule.spec.kind != Kind::concurrency) out += "  reset " + reset_text(v.reset);
  return out;
}

char* reset_chars(char* p, Micros d) {
  // Every request that meets a limit sends one of these: digits written by hand, no fmt. At most
  // 20 characters: 13 digits of hours, then "59m59s".
  char* const start = p;
  auto put = [&p](std::int64_t v, char unit) {
    p = std::to_chars(p, p + 20, v).ptr;
    *p++ = unit;
  };
  if (d <= 0) {
    *p++ = '0';
    *p++ = 's';
    return p;
  }
  if (d < 1'000'000) {
    put((d + 999) / 1000, 'm');
    *p++ = 's';
    return p;
  }
  std::int64_t s = d / 1'000'000 + (d % 1'000'000 != 0);  // whole seconds, rounded up
  if (s >= 3600) put(s / 3600, 'h'), s %= 3600;
  if (p != start || s >= 60) put(s / 60, 'm'), s %= 60;
  put(s, 's');
  return p;
}

std::string reset_text(Micros d) {
  char buf[kTextChars];
  return std::string(buf, reset_chars(buf, d));
}

}  // namespace warden::limits
