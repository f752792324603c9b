// Which configured limits a request meets, and under which keys.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>

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

std::string amount_text(Measure m, std::int64_t amount) {
  if (m != Measure::spend && m != Measure::energy) return std::to_string(amount);
  const bool negative = amount < 0;
  const std::uint64_t a = negative ? 0 - static_cast<std::uint64_t>(amount) : amount;
  std::string out = fmt::format("{}{}", negative ? "-" : "", a / 1'000'000);
  if (a % 1'000'000 != 0) {
    std::string frac = fmt::format("{:06}", a % 1'000'000);
    while (frac.back() == '0') frac.pop_back();
    out += '.';
    out += frac;
  }
  return out;
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

// Builds the keys of `rule` part by part; a part with several values forks the key.
void expand(const Rule& rule, const Subject& s, std::size_t part, std::string& key,
            const std::function<void(const std::string&)>& emit) {
  if (part == rule.key.size()) {
    emit(key);
    return;
  }
  const std::size_t mark = key.size();
  auto with = [&](std::string_view name, std::string_view value) {
    key.resize(mark);
    key += '|';
    key += name;
    key += '=';
    key += value;
    expand(rule, s, part + 1, key, emit);
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
      const std::string name = "label:" + f.label;
      each_value(it->second, [&](std::string_view v) { with(name, v); });
      break;
    }
  }
  key.resize(mark);
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

void applicable(const Settings& settings, const Subject& subject, std::vector<Applied>& out,
                std::vector<std::uint16_t>& rule_of) {
  std::string key;
  for (std::size_t i = 0; i < settings.rules.size(); ++i) {
    const Rule& rule = settings.rules[i];
    if (rule.measure == Measure::streams && !subject.stream) continue;
    if (rule.by_deployment && subject.deployment.empty()) continue;
    const std::int64_t cost = rule.measure == Measure::tokens   ? subject.tokens
                              : rule.measure == Measure::spend  ? subject.spend
                              : rule.measure == Measure::energy ? subject.energy
                                                                : 1;
    key = rule.name;
    expand(rule, subject, 0, key, [&](const std::string& k) {
      out.push_back({k, rule.spec, cost});
      rule_of.push_back(static_cast<std::uint16_t>(i));
    });
  }
}

std::string reset_text(Micros d) {
  if (d <= 0) return "0s";
  if (d < 1'000'000) return fmt::format("{}ms", (d + 999) / 1000);
  std::int64_t s = (d + 999'999) / 1'000'000;  // whole seconds, rounded up
  std::string out;
  if (s >= 3600) out += fmt::format("{}h", s / 3600), s %= 3600;
  if (!out.empty() || s >= 60) out += fmt::format("{}m", s / 60), s %= 60;
  out += fmt::format("{}s", s);
  return out;
}

}  // namespace warden::limits
