#include <unistd.h>
#include <algorithm>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/sha256.h"
#include "inspect/engine_impl.h"
#include "inspect/validators.h"

namespace warden::inspect {

namespace {

// The code point before `i` / at `i` (0 at the text's edges, 0xFFFD for invalid bytes).
uint32_t cp_before(std::string_view t, size_t i) {
  if (i == 0) return 0;
  size_t j = i - 1;
  while (j > 0 && (static_cast<unsigned char>(t[j]) & 0xC0) == 0x80 && i - j < 4) --j;
  const auto b0 = static_cast<unsigned char>(t[j]);
  if (b0 < 0x80) return b0;
  if ((b0 & 0xE0) == 0xC0 && i - j == 2) return (b0 & 0x1Fu) << 6 | (t[j + 1] & 0x3F);
  if ((b0 & 0xF0) == 0xE0 && i - j == 3)
    return (b0 & 0x0Fu) << 12 | (t[j + 1] & 0x3Fu) << 6 | (t[j + 2] & 0x3F);
  if ((b0 & 0xF8) == 0xF0 && i - j == 4) return 0x10000;  // astral: not alnum for our purposes
  return 0xFFFD;
}

uint32_t cp_at(std::string_view t, size_t i) {
  if (i >= t.size()) return 0;
  const auto b0 = static_cast<unsigned char>(t[i]);
  if (b0 < 0x80) return b0;
  if ((b0 & 0xE0) == 0xC0 && i + 1 < t.size()) return (b0 & 0x1Fu) << 6 | (t[i + 1] & 0x3F);
  if ((b0 & 0xF0) == 0xE0 && i + 2 < t.size())
    return (b0 & 0x0Fu) << 12 | (t[i + 1] & 0x3Fu) << 6 | (t[i + 2] & 0x3F);
  return 0xFFFD;
}

bool ascii_alnum(uint32_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool wide_alnum(uint32_t c) {
  return (c >= 0xFF10 && c <= 0xFF19) || (c >= 0xFF21 && c <= 0xFF3A) ||
         (c >= 0xFF41 && c <= 0xFF5A);
}
bool digit(uint32_t c) {
  return (c >= '0' && c <= '9') || (c >= 0xFF10 && c <= 0xFF19);
}

bool boundary_ok(Boundary b, std::string_view t, size_t start, size_t end) {
  const uint32_t before = cp_before(t, start);
  const uint32_t after = cp_at(t, end);
  switch (b) {
    case Boundary::kNone:
      return true;
    case Boundary::kWord:
      return !ascii_alnum(before) && !ascii_alnum(after);
    case Boundary::kToken:
      return !ascii_alnum(before) && !ascii_alnum(after) && before != '_' && after != '_' &&
             before != '-' && after != '-' && !wide_alnum(before) && !wide_alnum(after);
    case Boundary::kNumber: {
      if (ascii_alnum(before) || ascii_alnum(after) || wide_alnum(before) || wide_alnum(after))
        return false;
      // Not the tail or head of a decimal number ("3.14159…", "1,234,567…").
      if ((before == '.' || before == ',') && start >= 2 && digit(cp_before(t, start - 1)))
        return false;
      if ((after == '.' || after == ',') && digit(cp_at(t, end + 1))) return false;
      // Not one part of a longer dash-separated number (dates, serials).
      if (before == '-' && start >= 2 && digit(cp_before(t, start - 1))) return false;
      if (after == '-' && digit(cp_at(t, end + 1))) return false;
      return true;
    }
  }
  return true;
}

// Whether one of `words` occurs as a whole word (ASCII letters do not continue it) in the
// `bytes` before `start`, case-insensitively.
bool word_before(const std::vector<std::string_view>& words, std::string_view text, size_t start,
                 size_t bytes) {
  if (words.empty()) return false;
  const size_t from = start > bytes ? start - bytes : 0;
  // Compared in place, ASCII case folded on the fly: this runs for every candidate.
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  auto letter = [&](char c) {
    c = lower(c);
    return c >= 'a' && c <= 'z';
  };
  for (std::string_view w : words) {
    if (w.size() > start - from) continue;
    const bool ascii = letter(w.front()) && letter(w.back());
    for (size_t at = from; at + w.size() <= start; ++at) {
      size_t k = 0;
      while (k < w.size() && lower(text[at + k]) == w[k]) ++k;
      if (k != w.size()) continue;
      if (!ascii) return true;
      const bool left = at == 0 || !letter(text[at - 1]);
      const bool right = at + w.size() >= start || !letter(text[at + w.size()]);
      if (left && right) return true;
    }
  }
  return false;
}

bool has_context(const DetectorSpec& spec, std::string_view text, size_t start) {
  return word_before(spec.context, text, start, kContextBytes);
}

// Where the PEM block that starts with the BEGIN line at [start, end) ends.
size_t pem_end(std::string_view text, size_t end) {
  const size_t e = text.find("-----END ", end);
  if (e == std::string_view::npos) return text.size();
  const size_t close = text.find("-----", e + 9);
  return close == std::string_view::npos ? text.size() : close + 5;
}

}  // namespace

bool evaluate(const DetectorSpec& spec, std::string_view text, size_t offset, const RawMatch& m,
              bool complete, Finding& out) {
  const size_t s = m.from - offset;
  const size_t e = m.to - offset;
  if (e > text.size() || s > e) return false;
  size_t fs = s;
  size_t fe = e;
  if (spec.span == SpanRule::kAssignmentValue) {
    // The value must end where the match ends (checked first: it is cheap and rejects the
    // match at every inner end position of a long value).
    const char next = e < text.size() ? text[e] : '\0';
    if (e < text.size() && next != ' ' && next != '\t' && next != '"' && next != '\'' &&
        next != '`' && next != ',' && next != ';' && next != '\n' && next != '\r' && next != ')' &&
        next != '}' && next != ']' && next != '<' && next != '&')
      return false;
    size_t vb = 0;
    size_t ve = 0;
    if (!assignment_value(text.substr(s, e - s), vb, ve)) return false;
    fs = s + vb;
    fe = s + ve;
    // The value must end where the match ends: a longer value is reported by a later match.
    if (fe != e) return false;
    const char after = e < text.size() ? text[e] : '\0';
    if (e < text.size() && after != ' ' && after != '\t' && after != '"' && after != '\'' &&
        after != '`' && after != ',' && after != ';' && after != '\n' && after != '\r' &&
        after != ')' && after != '}' && after != ']' && after != '<' && after != '&')
      return false;
    if (e == text.size() && !complete) return false;
  }
  if (spec.span == SpanRule::kEmailLocalPart) {
    // A leading unbounded class is costly for Hyperscan's start-of-match tracking; the local
    // part is found here instead, backwards from '@' (at most 64 bytes).
    size_t b = s;
    auto local = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
    };
    while (b > 0 && s - b < 64 && local(text[b - 1])) --b;
    if (b == s || (b > 0 && local(text[b - 1]))) return false;
    fs = b;
    if (!boundary_ok(spec.boundary, text, b, e)) return false;
  } else if (!boundary_ok(spec.boundary, text, s, e)) {
    return false;
  }
  if (spec.validate != nullptr && !spec.validate(text.substr(fs, fe - fs))) return false;
  if (spec.placement != nullptr && !spec.placement(text, s, e)) return false;
  if (word_before(spec.not_after, text, s, 24)) return false;
  const bool context = has_context(spec, text, s);
  if (spec.context_required && !context) return false;
  if (spec.span == SpanRule::kPemBlock) fe = pem_end(text, e);
  out.cls = spec.cls;
  out.start = static_cast<uint32_t>(fs + offset);
  out.end = static_cast<uint32_t>(fe + offset);
  out.confidence = context ? spec.with_context : spec.confidence;
  return true;
}

namespace {
// When two findings overlap, the more specific kind wins: a token inside a URL's user part is a
// secret, not an e-mail address; an IBAN's digits are not a card number (length decides there).
int priority(std::string_view cls) {
  if (class_matches(cls, "secret")) return 3;
  if (class_matches(cls, "pii")) return 1;
  return 2;
}
}  // namespace

void resolve_overlaps(std::vector<Finding>& f) {
  std::sort(f.begin(), f.end(), [](const Finding& a, const Finding& b) {
    if (a.start != b.start) return a.start < b.start;
    if (a.end != b.end) return a.end > b.end;
    return a.confidence > b.confidence;
  });
  std::vector<Finding> kept;
  kept.reserve(f.size());
  for (const Finding& x : f) {
    if (!kept.empty() && x.start < kept.back().end) {
      Finding& last = kept.back();
      const uint32_t lx = x.end - x.start;
      const uint32_t ll = last.end - last.start;
      const int px = priority(x.cls);
      const int pl = priority(last.cls);
      if (px > pl || (px == pl && (lx > ll || (lx == ll && x.confidence > last.confidence))))
        last = x;
      continue;
    }
    kept.push_back(x);
  }
  f.swap(kept);
}

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;

namespace {

std::string escape_literal(std::string_view word) {
  std::string out;
  for (char c : word) {
    if (std::strchr("\\^$.|?*+()[]{}/-", c) != nullptr && c != '\0') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// Compiling every detector takes about a second; a snapshot reload should not. Databases are
// cached, serialized, under a key that covers the Hyperscan version, the platform, every
// pattern and flag, and the mode: a stale or foreign file cannot match a key.
std::string cache_dir() {
  if (const char* d = std::getenv("WARDEN_CACHE_DIR")) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME")) return std::string(x) + "/warden";
  if (const char* h = std::getenv("HOME")) return std::string(h) + "/.cache/warden";
  return "/tmp/warden-cache";
}

std::string cache_key(const std::vector<DetectorSpec>& specs, unsigned mode) {
  std::string material = std::string(hs_version()) + "|" + std::to_string(mode);
  for (const DetectorSpec& s : specs) {
    material += s.pattern + '\0' + std::to_string(s.flags) + '\0';
  }
  return to_hex(sha256(material)).substr(0, 32);
}

hs_database_t* load_cached(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return nullptr;
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  hs_database_t* db = nullptr;
  if (hs_deserialize_database(bytes.data(), bytes.size(), &db) != HS_SUCCESS) return nullptr;
  return db;
}

void store_cached(const std::string& dir, const std::string& path, const hs_database_t* db) {
  char* bytes = nullptr;
  size_t size = 0;
  if (hs_serialize_database(db, &bytes, &size) != HS_SUCCESS) return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(bytes, static_cast<std::streamsize>(size));
  }
  std::filesystem::rename(tmp, path, ec);  // atomic: readers see a whole file or none
  if (ec) std::filesystem::remove(tmp, ec);
  std::free(bytes);
}

hs_database_t* compile_uncached(const std::vector<DetectorSpec>& specs, unsigned mode, bool som);

hs_database_t* compile_db(const std::vector<DetectorSpec>& specs, unsigned mode, bool som = true) {
  const std::string dir = cache_dir();
  const std::string path =
      dir + "/detectors-" + cache_key(specs, mode | (som ? 0u : 0x80000000u)) + ".hsdb";
  if (hs_database_t* db = load_cached(path)) return db;
  hs_database_t* db = compile_uncached(specs, mode, som);
  store_cached(dir, path, db);
  return db;
}

hs_database_t* compile_uncached(const std::vector<DetectorSpec>& specs, unsigned mode, bool som) {
  std::vector<const char*> patterns;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  for (size_t i = 0; i < specs.size(); ++i) {
    patterns.push_back(specs[i].pattern.c_str());
    flags.push_back(specs[i].flags | HS_FLAG_UTF8 | HS_FLAG_ALLOWEMPTY |
                    (som ? HS_FLAG_SOM_LEFTMOST : 0u));
    ids.push_back(static_cast<unsigned>(i));
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_multi(patterns.data(), flags.data(), ids.data(),
                       static_cast<unsigned>(patterns.size()), mode, nullptr, &db,
                       &err) != HS_SUCCESS) {
    std::string message = err != nullptr && err->message != nullptr ? err->message : "unknown";
    const int which = err != nullptr ? err->expression : -1;
    hs_free_compile_error(err);
    throw std::runtime_error(
        "detector " + (which >= 0 ? specs[static_cast<size_t>(which)].cls : std::string("?")) +
        ": " + message);
  }
  return db;
}

}  // namespace

EnginePtr Engine::compile(const std::vector<CustomDetector>& custom) {
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<Engine> engine(new Engine());
  Impl& impl = *engine->impl_;
  impl.specs = builtin_detectors();
  for (const CustomDetector& c : custom) {
    const std::string cls = "custom." + c.name;
    for (const std::string& r : c.regexes) {
      impl.specs.push_back({.cls = cls,
                            .pattern = r,
                            .flags = HS_FLAG_CASELESS | HS_FLAG_UCP,
                            .boundary = Boundary::kNone,
                            .confidence = 0.9f,
                            .with_context = 0.9f,
                            .max_bytes = 256});
    }
    for (const std::string& w : c.words) {
      impl.specs.push_back({.cls = cls,
                            .pattern = escape_literal(w),
                            .flags = HS_FLAG_CASELESS | HS_FLAG_UCP,
                            .boundary = Boundary::kWord,
                            .confidence = 0.95f,
                            .with_context = 0.95f,
                            .max_bytes = w.size()});
    }
  }
  for (DetectorSpec& s : impl.specs) {
    // Bound each pattern's match width: it sizes the hold-back needed in streams.
    hs_expr_info_t* info = nullptr;
    hs_compile_error_t* err = nullptr;
    if (hs_expression_info(s.pattern.c_str(), s.flags | HS_FLAG_UTF8, &info, &err) != HS_SUCCESS) {
      const std::string message = err != nullptr ? err->message : "invalid pattern";
      hs_free_compile_error(err);
      throw std::runtime_error("detector " + s.cls + ": " + message);
    }
    if (info->max_width != UINT_MAX) s.max_bytes = std::max<size_t>(s.max_bytes, info->max_width);
    std::free(info);
  }
  impl.prefilter_db = compile_db(impl.specs, HS_MODE_BLOCK, /*som=*/false);
  impl.stream_prefilter_db = compile_db(impl.specs, HS_MODE_STREAM, /*som=*/false);
  for (const DetectorSpec& spec : impl.specs)
    impl.window_dbs.push_back(compile_db({spec}, HS_MODE_BLOCK));
  std::vector<std::string> classes;
  for (const DetectorSpec& s : impl.specs) {
    if (std::find(classes.begin(), classes.end(), s.cls) == classes.end()) classes.push_back(s.cls);
    if (s.span != SpanRule::kPemBlock)
      engine->max_match_bytes_ = std::max(engine->max_match_bytes_, s.max_bytes);
  }
  engine->classes_ = std::move(classes);
  engine->compile_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return engine;
}

Scratch::~Scratch() {
  hs_free_scratch(scratch_);
}

bool Scratch::prepare(const Engine& engine) {
  if (for_ == &engine && scratch_ != nullptr) return true;
  if (hs_alloc_scratch(engine.impl().prefilter_db, &scratch_) != HS_SUCCESS) return false;
  if (hs_alloc_scratch(engine.impl().stream_prefilter_db, &scratch_) != HS_SUCCESS) return false;
  for (hs_database_t* db : engine.impl().window_dbs) {
    if (hs_alloc_scratch(db, &scratch_) != HS_SUCCESS) return false;
  }
  for_ = &engine;
  return true;
}

bool scan(const Engine& engine, Scratch& scratch, std::string_view text,
          std::vector<Finding>& findings) {
  findings.clear();
  if (text.size() > UINT32_MAX || !scratch.prepare(engine)) return false;
  const Engine::Impl& impl = engine.impl();
  // Stage 1: where matches end. Ends come in increasing order; each pattern's windows
  // [end − its longest match, end] are merged as they come (a long run of digits makes one
  // window, not one per end), so memory stays proportional to the number of windows.
  struct Window {
    uint32_t id;
    size_t lo;
    size_t hi;
  };
  struct Stage1 {
    const Engine::Impl* impl;
    std::vector<Window> windows;
    std::vector<int64_t> open;  // per spec: index of its last window, or -1
  } st{&impl, {}, std::vector<int64_t>(impl.specs.size(), -1)};
  auto on_end = [](unsigned id, unsigned long long, unsigned long long to, unsigned,
                   void* p) -> int {
    auto* c = static_cast<Stage1*>(p);
    const size_t width = c->impl->specs[id].max_bytes;
    const size_t end = static_cast<size_t>(to);
    const size_t lo = end > width ? end - width : 0;
    int64_t& last = c->open[id];
    if (last >= 0 && c->windows[static_cast<size_t>(last)].hi >= lo) {
      c->windows[static_cast<size_t>(last)].hi = end;
    } else {
      last = static_cast<int64_t>(c->windows.size());
      c->windows.push_back({id, lo, end});
    }
    return 0;
  };
  if (hs_scan(impl.prefilter_db, text.data(), static_cast<unsigned>(text.size()), 0, scratch.get(),
              on_end, &st) != HS_SUCCESS)
    return false;
  // Stage 2: each window scanned by its pattern alone, with start-of-match tracking. Candidates
  // are evaluated in the callback, on the whole text (context and boundaries lie outside).
  struct Stage2 {
    const Engine::Impl* impl;
    std::string_view text;
    std::vector<Finding>* findings;
    unsigned id;
    size_t base;
  } ctx{&impl, text, &findings, 0, 0};
  auto on_match = [](unsigned, unsigned long long from, unsigned long long to, unsigned,
                     void* p) -> int {
    auto* c = static_cast<Stage2*>(p);
    Finding f;
    if (evaluate(c->impl->specs[c->id], c->text, 0,
                 {c->id, c->base + static_cast<size_t>(from), c->base + static_cast<size_t>(to)},
                 true, f))
      c->findings->push_back(f);
    return 0;
  };
  for (const Window& w : st.windows) {
    ctx.id = w.id;
    ctx.base = w.lo;
    if (hs_scan(impl.window_dbs[w.id], text.data() + w.lo, static_cast<unsigned>(w.hi - w.lo), 0,
                scratch.get(), on_match, &ctx) != HS_SUCCESS)
      return false;
  }
  resolve_overlaps(findings);
  return true;
}

std::string pattern_error(const std::string& regex) {
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_compile(regex.c_str(),
                 HS_FLAG_UTF8 | HS_FLAG_UCP | HS_FLAG_CASELESS | HS_FLAG_SOM_LEFTMOST,
                 HS_MODE_BLOCK, nullptr, &db, &err) == HS_SUCCESS) {
    hs_free_database(db);
    return {};
  }
  std::string message = err != nullptr && err->message != nullptr ? err->message : "invalid";
  hs_free_compile_error(err);
  return message;
}

bool class_matches(std::string_view cls, std::string_view prefix) {
  if (prefix.empty() || prefix == "*") return true;
  if (cls.size() < prefix.size() || cls.compare(0, prefix.size(), prefix) != 0) return false;
  return cls.size() == prefix.size() || cls[prefix.size()] == '.';
}

std::string class_label(std::string_view cls) {
  const size_t dot = cls.rfind('.');
  std::string out(dot == std::string_view::npos ? cls : cls.substr(dot + 1));
  for (char& c : out) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return out;
}

}  // namespace warden::inspect
