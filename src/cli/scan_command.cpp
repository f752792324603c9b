#include "cli/scan_command.h"

#include <simdjson.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "common/json_writer.h"
#include "config/config.h"
#include "inspect/inspect.h"

namespace warden::cli {

namespace {

std::string read_all(const std::string& path) {
  if (path == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void append_finding_json(std::string& out, const inspect::Finding& f) {
  char conf[16];
  const auto r = std::to_chars(conf, conf + sizeof conf, f.confidence, std::chars_format::fixed, 2);
  out += R"({"class":)";
  append_json_string(out, f.cls);
  out += ",\"start\":";
  out += std::to_string(f.start);
  out += ",\"end\":";
  out += std::to_string(f.end);
  out += ",\"confidence\":";
  out.append(conf, r.ptr);
  out += '}';
}

int scan_one(const inspect::Engine& engine, const ScanOptions& o) {
  const std::string text = read_all(o.input);
  inspect::Scratch scratch;
  std::vector<inspect::Finding> findings;
  if (!inspect::scan(engine, scratch, text, findings)) {
    std::cerr << "scan failed\n";
    return 2;
  }
  std::string out;  // JSON lines, written at once
  for (const auto& f : findings) {
    if (o.format == "json") {
      append_finding_json(out, f);
      out += '\n';
    } else {
      std::printf("%-28s %8u %8u  %.2f\n", std::string(f.cls).c_str(), f.start, f.end,
                  f.confidence);
    }
  }
  std::cout << out;
  return 0;
}

int scan_jsonl(const inspect::Engine& engine, const ScanOptions& o) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (o.input != "-") {
    file.open(o.input, std::ios::binary);
    if (!file) throw std::runtime_error("cannot open " + o.input);
    in = &file;
  }
  simdjson::dom::parser parser;
  inspect::Scratch scratch;
  std::vector<inspect::Finding> findings;
  std::string line;
  std::string out;
  size_t lineno = 0;
  int status = 0;
  while (std::getline(*in, line)) {
    ++lineno;
    if (line.empty()) continue;
    simdjson::dom::element doc;
    std::string_view text;
    if (parser.parse(line).get(doc) != simdjson::SUCCESS ||
        doc["text"].get_string().get(text) != simdjson::SUCCESS) {
      std::cerr << o.input << ":" << lineno << ": expected {\"id\": …, \"text\": \"…\"}\n";
      status = 1;
      continue;
    }
    out.clear();
    out += R"({"id":)";
    simdjson::dom::element id;
    out += doc["id"].get(id) == simdjson::SUCCESS ? simdjson::minify(id) : "null";
    out += R"(,"findings":[)";
    if (!inspect::scan(engine, scratch, text, findings)) {
      std::cerr << o.input << ":" << lineno << ": scan failed\n";
      status = 1;
    }
    for (size_t i = 0; i < findings.size(); ++i) {
      if (i) out += ',';
      append_finding_json(out, findings[i]);
    }
    out += "]}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  return status;
}

struct Counts {
  size_t tp = 0, fp = 0, fn = 0;
};

int scan_eval(const inspect::Engine& engine, const ScanOptions& o) {
  std::ifstream in(o.eval, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + o.eval);
  simdjson::dom::parser parser;
  inspect::Scratch scratch;
  std::vector<inspect::Finding> findings;
  std::map<std::string, Counts> per_class;
  std::string line;
  size_t items = 0;
  size_t bytes = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    simdjson::dom::element doc;
    std::string_view text;
    if (parser.parse(line).get(doc) != simdjson::SUCCESS ||
        doc["text"].get_string().get(text) != simdjson::SUCCESS) {
      std::cerr << o.eval << ":" << items + 1 << ": expected {\"text\": …, \"findings\": […]}\n";
      return 1;
    }
    ++items;
    bytes += text.size();
    std::multiset<std::pair<std::string, std::string>> expected;
    simdjson::dom::array arr;
    if (doc["findings"].get_array().get(arr) == simdjson::SUCCESS) {
      for (auto f : arr) {
        std::string_view cls, value;
        if (f["class"].get_string().get(cls) == simdjson::SUCCESS &&
            f["value"].get_string().get(value) == simdjson::SUCCESS)
          expected.emplace(std::string(cls), std::string(value));
      }
    }
    const std::string owned(text);
    if (!inspect::scan(engine, scratch, owned, findings)) return 2;
    for (const auto& f : findings) {
      const std::pair<std::string, std::string> key{std::string(f.cls),
                                                    owned.substr(f.start, f.end - f.start)};
      auto it = expected.find(key);
      if (it != expected.end()) {
        ++per_class[key.first].tp;
        expected.erase(it);
      } else {
        ++per_class[key.first].fp;
        if (std::getenv("WARDEN_EVAL_VERBOSE"))
          std::cerr << "FP " << key.first << " '" << key.second << "' in: " << owned.substr(0, 160)
                    << "\n";
      }
    }
    for (const auto& [cls, value] : expected) {
      ++per_class[cls].fn;
      if (std::getenv("WARDEN_EVAL_VERBOSE"))
        std::cerr << "FN " << cls << " '" << value << "' in: " << owned.substr(0, 160) << "\n";
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Counts all;
  auto metrics = [](const Counts& c, double& p, double& r, double& f1) {
    p = c.tp + c.fp ? static_cast<double>(c.tp) / static_cast<double>(c.tp + c.fp) : 1.0;
    r = c.tp + c.fn ? static_cast<double>(c.tp) / static_cast<double>(c.tp + c.fn) : 1.0;
    f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
  };
  std::string json = "{\"items\":" + std::to_string(items) + ",\"bytes\":" + std::to_string(bytes) +
                     ",\"classes\":{";
  if (o.format != "json")
    std::printf("%-28s %6s %6s %6s %9s %7s %7s\n", "class", "tp", "fp", "fn", "precision", "recall",
                "f1");
  bool first = true;
  for (const auto& [cls, c] : per_class) {
    all.tp += c.tp;
    all.fp += c.fp;
    all.fn += c.fn;
    double p, r, f1;
    metrics(c, p, r, f1);
    if (o.format != "json") {
      std::printf("%-28s %6zu %6zu %6zu %9.3f %7.3f %7.3f\n", cls.c_str(), c.tp, c.fp, c.fn, p, r,
                  f1);
    }
    if (!first) json += ',';
    first = false;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  R"("%s":{"tp":%zu,"fp":%zu,"fn":%zu,"precision":%.4f,"recall":%.4f,"f1":%.4f})",
                  cls.c_str(), c.tp, c.fp, c.fn, p, r, f1);
    json += buf;
  }
  double p, r, f1;
  metrics(all, p, r, f1);
  if (o.format == "json") {
    char buf[256];
    std::snprintf(
        buf, sizeof buf,
        R"(},"overall":{"tp":%zu,"fp":%zu,"fn":%zu,"precision":%.4f,"recall":%.4f,"f1":%.4f},"seconds":%.4f})",
        all.tp, all.fp, all.fn, p, r, f1, secs);
    std::cout << json << buf << "\n";
  } else {
    std::printf("%-28s %6zu %6zu %6zu %9.3f %7.3f %7.3f\n", "overall", all.tp, all.fp, all.fn, p, r,
                f1);
    std::printf("%zu items, %zu bytes, %.3f s\n", items, bytes, secs);
  }
  return 0;
}

}  // namespace

int run_scan(const ScanOptions& o) {
  try {
    inspect::EnginePtr engine;
    if (!o.config.empty()) {
      engine = load_config(o.config)->inspect.engine;
    } else {
      engine = inspect::Engine::compile();
    }
    if (!o.eval.empty()) return scan_eval(*engine, o);
    if (o.jsonl) return scan_jsonl(*engine, o);
    return scan_one(*engine, o);
  } catch (const ConfigError& e) {
    for (const auto& d : e.diagnostics()) std::cerr << d.str() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "warden scan: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace warden::cli
