#include <emmintrin.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include <simdjson.h>

#include "common/sha256.h"
#include "inspect/disguise.h"
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

// Whether the ASCII digits from `start` on are exactly three (a thousands group), not the first
// part of a dotted quad ("web-01,121.0.188.198").
bool group_of_three(std::string_view t, size_t start) {
  auto is_digit = [&](size_t i) { return i < t.size() && t[i] >= '0' && t[i] <= '9'; };
  size_t i = start;
  while (is_digit(i) && i - start < 4) ++i;
  if (i - start != 3) return false;
  if (i + 1 >= t.size() || t[i] != '.' || !is_digit(i + 1)) return true;
  ++i;
  while (is_digit(i)) ++i;
  return i >= t.size() || t[i] != '.';
}
// Whether one to three ASCII digits end at `end` (the head of "1,234"), not the last group of
// a grouped number ("6759 5879 3767 6816 555,2046.75" in CSV).
bool short_head(std::string_view t, size_t end) {
  size_t i = end;
  while (i > 0 && end - i < 4 && t[i - 1] >= '0' && t[i - 1] <= '9') --i;
  if (end - i < 1 || end - i > 3) return false;
  return !(i >= 2 && (t[i - 1] == ' ' || t[i - 1] == '-') && t[i - 2] >= '0' && t[i - 2] <= '9');
}

}  // namespace

bool before_ok(Boundary b, std::string_view t, size_t start) {
  const uint32_t before = cp_before(t, start);
  switch (b) {
    case Boundary::kNone:
      return true;
    case Boundary::kWord:
      return !ascii_alnum(before);
    case Boundary::kToken:
      return !ascii_alnum(before) && before != '_' && before != '-' && !wide_alnum(before);
    case Boundary::kNumber:
      if (ascii_alnum(before) || wide_alnum(before)) return false;
      // Not the tail of a decimal number ("3.14159…") nor a part of a longer dash-separated one;
      // after a comma, not a thousands group ("1,234,567") but a CSV field ("2024-11-16,4111…").
      if (before == ',')
        return !(start >= 2 && digit(cp_before(t, start - 1)) && group_of_three(t, start));
      return !((before == '.' || before == '-') && start >= 2 && digit(cp_before(t, start - 1)));
  }
  return true;
}

bool after_ok(Boundary b, std::string_view t, size_t end) {
  const uint32_t after = cp_at(t, end);
  switch (b) {
    case Boundary::kNone:
      return true;
    case Boundary::kWord:
      return !ascii_alnum(after);
    case Boundary::kToken:
      return !ascii_alnum(after) && after != '_' && after != '-' && !wide_alnum(after);
    case Boundary::kNumber:
      if (ascii_alnum(after) || wide_alnum(after)) return false;
      // Not the head of a decimal number ("1,234,567…") nor a part of a longer dash-separated one;
      // before a comma, only a head of one to three digits is ("4111…1111,844.28" in CSV is not).
      if (after == ',') return !(digit(cp_at(t, end + 1)) && short_head(t, end));
      return !((after == '.' || after == '-') && digit(cp_at(t, end + 1)));
  }
  return true;
}

namespace {

bool boundary_ok(Boundary b, std::string_view t, size_t start, size_t end) {
  return before_ok(b, t, start) && after_ok(b, t, end);
}

// Where the PEM block that starts with the BEGIN line at [start, end) ends.
size_t pem_end(std::string_view text, size_t end) {
  const size_t e = text.find("-----END ", end);
  if (e == std::string_view::npos) return text.size();
  const size_t close = text.find("-----", e + 9);
  return close == std::string_view::npos ? text.size() : close + 5;
}

}  // namespace

bool assignment_may_follow(std::string_view text, size_t i) {
  auto letter = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
  };
  while (i < text.size() && letter(text[i])) ++i;
  if (i < text.size() && (text[i] == '"' || text[i] == '\'')) ++i;
  if (i < text.size() && text[i] == ']') ++i;  // config['API_KEY'] = …
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  if (i >= text.size()) return true;
  return text[i] == ':' || text[i] == '=' ||
         (text.substr(i, 3) == "\xef\xbc\x9a" || (text.size() - i < 3 && text[i] == '\xef'));
}

bool assignment_ends_before(char c) {
  switch (c) {
    case ' ':
    case '\t':
    case '"':
    case '\'':
    case '`':
    case ',':
    case ';':
    case '\n':
    case '\r':
    case ')':
    case '}':
    case ']':
    case '<':
    case '&':
      return true;
    default:
      return false;
  }
}

bool evaluate(const ContextIndex& context, std::string_view text, size_t offset, const RawMatch& m,
              bool complete, Finding& out) {
  const DetectorSpec& spec = context.impl->specs[m.id];
  const size_t s = m.from - offset;
  const size_t e = m.to - offset;
  if (e > text.size() || s > e) return false;
  size_t fs = s;
  size_t fe = e;
  if (spec.span == SpanRule::kAssignmentValue) {
    // The value must end where the match ends (checked first: it is cheap and rejects the
    // match at every inner end position of a long value).
    if (e < text.size() && !assignment_ends_before(text[e])) return false;
    size_t vb = 0;
    size_t ve = 0;
    if (!assignment_value(text.substr(s, e - s), vb, ve)) return false;
    fs = s + vb;
    fe = s + ve;
    // The value must end where the match ends: a longer value is reported by a later match.
    if (fe != e) return false;
    if (e == text.size() && !complete) return false;
  }
  if (spec.span == SpanRule::kEmailLocalPart) {
    // A leading unbounded class is costly for Hyperscan's start-of-match tracking; the local
    // part is found here instead, backwards from '@' (at most 64 bytes).
    size_t b = s;
    while (b > 0 && s - b < 64 && email_local_char(text[b - 1])) --b;
    if (b == s || (b > 0 && email_local_char(text[b - 1]))) return false;
    fs = b;
    if (!boundary_ok(spec.boundary, text, b, e)) return false;
  } else if (!boundary_ok(spec.boundary, text, s, e)) {
    return false;
  }
  if (spec.validate != nullptr && !m.validated && !spec.validate(text.substr(fs, fe - fs)))
    return false;
  if (spec.placement != nullptr && !spec.placement(text, s, e)) return false;
  if (context.any_before(context.impl->not_after_list[m.id], m.from, kNotAfterBytes)) return false;
  const bool has_context =
      context.any_before(context.impl->context_list[m.id], m.from, kContextBytes);
  if (!has_context && (spec.context_required ||
                       (spec.context_if != nullptr && spec.context_if(text.substr(fs, fe - fs)))))
    return false;
  if (spec.span == SpanRule::kPemBlock) fe = pem_end(text, e);
  out.cls = spec.subclass_if != nullptr && spec.subclass_if(text.substr(fs, fe - fs))
                ? std::string_view(spec.subclass)
                : std::string_view(spec.cls);
  out.start = static_cast<uint32_t>(fs + offset);
  out.end = static_cast<uint32_t>(fe + offset);
  out.confidence = has_context ? spec.with_context : spec.confidence;
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
  auto before = [](const Finding& a, const Finding& b) {
    if (a.start != b.start) return a.start < b.start;
    if (a.end != b.end) return a.end > b.end;
    return a.confidence > b.confidence;
  };
  // Findings arrive in sorted runs (one per detector, in region order), spread over the text.
  // Their starts are sorted as 8-byte keys (start, then index: stable) by a radix sort, eleven
  // bits a pass over the bits the starts span (two passes for a megabyte), and the findings
  // gathered in that order; findings that share a start are then put longest first. Merging
  // the runs moved every 32-byte finding log2(detectors) times. A few findings (a string of a
  // request) are sorted as they are: the radix sort's count tables would cost more.
  if (f.size() > 1 && f.size() <= 32) {
    std::stable_sort(f.begin(), f.end(), before);
  } else if (f.size() > 1) {
    uint32_t min = UINT32_MAX;
    uint32_t max = 0;
    for (const Finding& x : f) {
      min = std::min(min, x.start);
      max = std::max(max, x.start);
    }
    thread_local std::vector<uint64_t> keys;
    thread_local std::vector<uint64_t> spare;
    thread_local std::vector<Finding> sorted;
    keys.resize(f.size());
    spare.resize(f.size());
    for (size_t i = 0; i < f.size(); ++i)
      keys[i] = static_cast<uint64_t>(f[i].start - min) << 32 | i;
    constexpr unsigned kDigit = 11;
    for (unsigned shift = 32; shift < 64 && (max - min) >> (shift - 32) != 0; shift += kDigit) {
      std::array<uint32_t, (1u << kDigit) + 1> first{};
      for (uint64_t k : keys) ++first[((k >> shift) & ((1u << kDigit) - 1)) + 1];
      for (size_t b = 1; b < first.size(); ++b) first[b] += first[b - 1];
      for (uint64_t k : keys) spare[first[(k >> shift) & ((1u << kDigit) - 1)]++] = k;
      keys.swap(spare);
    }
    sorted.resize(f.size());
    for (size_t i = 0; i < f.size(); ++i) sorted[i] = f[keys[i] & UINT32_MAX];
    // Runs of one start: longest (then most confident) first, stable; a crowded run is sorted.
    for (size_t lo = 0; lo < sorted.size();) {
      size_t hi = lo + 1;
      while (hi < sorted.size() && sorted[hi].start == sorted[lo].start) ++hi;
      const auto from = sorted.begin() + static_cast<std::ptrdiff_t>(lo);
      const auto to = sorted.begin() + static_cast<std::ptrdiff_t>(hi);
      if (hi - lo > 16) {
        std::stable_sort(from, to, before);
      } else {
        for (auto i = from + 1; i < to; ++i) {
          const Finding x = *i;
          auto k = i;
          for (; k != from && before(x, *(k - 1)); --k) *k = *(k - 1);
          *k = x;
        }
      }
      lo = hi;
    }
    f.swap(sorted);
  }
  size_t kept = 0;  // f[0, kept) resolved, in place
  for (size_t i = 0; i < f.size(); ++i) {
    const Finding x = f[i];
    if (kept > 0 && x.start < f[kept - 1].end) {
      Finding& last = f[kept - 1];
      const uint32_t lx = x.end - x.start;
      const uint32_t ll = last.end - last.start;
      const int px = priority(x.cls);
      const int pl = priority(last.cls);
      if (px > pl || (px == pl && (lx > ll || (lx == ll && x.confidence > last.confidence))))
        last = x;
      continue;
    }
    f[kept++] = x;
  }
  f.resize(kept);
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

struct Pattern {
  std::string expr;
  unsigned flags;
};

// Compiling every detector takes about a second; a snapshot reload should not. Databases are
// cached, serialized, under a key that covers the Hyperscan version, the platform, every
// pattern and flag, and the mode: a stale or foreign file cannot match a key.
constexpr size_t kCacheFiles = 512;

// The cache is trusted only as far as its directory is: another local user who can write it
// could plant a database that matches nothing, or point a temporary file's name elsewhere. So
// the directory is private (created 0700; an existing one must be a real directory owned by this
// user, and is made 0700), files are created O_EXCL|O_NOFOLLOW, and each file carries a keyed
// digest (HMAC-SHA-256 under a random key kept in the directory, mode 0600) that is checked on
// load: a file that does not carry it is removed and compiled again. Empty when no directory can
// be trusted: every database is then compiled.
std::string cache_dir() {
  std::string dir;
  if (const char* d = std::getenv("WARDEN_CACHE_DIR")) {
    dir = d;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME")) {
    dir = std::string(x) + "/warden";
  } else if (const char* h = std::getenv("HOME")) {
    dir = std::string(h) + "/.cache/warden";
  } else {
    dir = "/tmp/warden-cache-" + std::to_string(::geteuid());
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  ::mkdir(dir.c_str(), 0700);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) return {};
  if ((st.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0) return {};
  return dir;
}

// The whole regular file at `path` (not followed if it is a link), or empty.
std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return {};
  std::string bytes;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid()) {
    bytes.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < bytes.size()) {
      const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got != bytes.size()) bytes.clear();
  }
  ::close(fd);
  return bytes;
}

// Writes `bytes` to `path` whole or not at all (readers see a whole file or none), through a
// temporary file of its own that must not exist yet and is never a link.
bool write_file(const std::string& path, std::string_view bytes) {
  // A name of its own per writer: engines may be compiled on several threads at once.
  static std::atomic<unsigned> writers{0};
  const std::string tmp =
      path + ".tmp" + std::to_string(::getpid()) + "." + std::to_string(writers++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  size_t put = 0;
  while (put < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + put, bytes.size() - put);
    if (n <= 0) break;
    put += static_cast<size_t>(n);
  }
  const bool ok =
      ::close(fd) == 0 && put == bytes.size() && ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) ::unlink(tmp.c_str());
  return ok;
}

// The key of the directory's digests: read, or made on first use (32 random bytes).
std::string cache_key_secret(const std::string& dir) {
  const std::string path = dir + "/key";
  std::string key = read_file(path);
  if (key.size() == 32) return key;
  key.assign(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), 32) != 1) return {};
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    key = read_file(path);  // another process made it first
    return key.size() == 32 ? key : std::string();
  }
  const bool ok = ::write(fd, key.data(), key.size()) == 32;
  ::close(fd);
  return ok ? key : std::string();
}

constexpr size_t kTagBytes = 32;

// HMAC-SHA-256 of the file's name and content, under the directory's key.
std::string cache_tag(const std::string& key, const std::string& path, std::string_view content) {
  const Digest digest =
      sha256({std::filesystem::path(path).filename().string(), std::string_view("\0", 1), content});
  std::string tag(kTagBytes, '\0');
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), digest.data(), digest.size(),
       reinterpret_cast<unsigned char*>(tag.data()), &len);
  return len == kTagBytes ? tag : std::string();
}

// A cached file's content when its digest holds; otherwise empty, and a file that fails the
// check is removed (it is written again once compiled).
std::string read_cached(const std::string& path) {
  if (path.empty()) return {};
  std::string bytes = read_file(path);
  if (bytes.empty()) return {};
  const std::string key = cache_key_secret(std::filesystem::path(path).parent_path());
  const std::string_view content =
      std::string_view(bytes).substr(std::min(kTagBytes, bytes.size()));
  if (key.empty() || bytes.size() <= kTagBytes ||
      CRYPTO_memcmp(bytes.data(), cache_tag(key, path, content).data(), kTagBytes) != 0) {
    ::unlink(path.c_str());
    return {};
  }
  bytes.erase(0, kTagBytes);
  return bytes;
}

void write_cached(const std::string& path, std::string_view content) {
  if (path.empty()) return;
  const std::string key = cache_key_secret(std::filesystem::path(path).parent_path());
  if (key.empty()) return;
  write_file(path, cache_tag(key, path, content) + std::string(content));
}

// The path of a cached file, or empty when there is no trusted cache directory.
std::string cache_path(const std::string& name) {
  const std::string dir = cache_dir();
  return dir.empty() ? std::string() : dir + "/" + name;
}

// Flags every pattern is compiled with, on top of its own.
constexpr unsigned kBaseFlags = HS_FLAG_UTF8 | HS_FLAG_ALLOWEMPTY;

std::string cache_key(const std::vector<Pattern>& patterns, unsigned mode) {
  // The exact flags handed to Hyperscan are part of the key (and "2" of this layout): a database
  // compiled with other flags, start-of-match tracking above all, must never be loaded.
  // The platform too: a database compiled for other CPU features is refused (or slower).
  hs_platform_info_t platform{};
  hs_populate_platform(&platform);
  std::string material = std::string(hs_version()) + "|2|" + std::to_string(mode) + "|" +
                         std::to_string(platform.tune) + "|" +
                         std::to_string(platform.cpu_features);
  for (const Pattern& p : patterns)
    material += p.expr + '\0' + std::to_string(p.flags | kBaseFlags) + '\0';
  return to_hex(sha256(material)).substr(0, 32);
}

// The longest match of each pattern (UINT_MAX: unbounded), one per line; empty when the file
// is missing or does not hold `count` of them.
std::vector<unsigned> load_widths(const std::string& path, size_t count) {
  std::istringstream in(read_cached(path));
  std::vector<unsigned> widths;
  unsigned w = 0;
  while (in >> w) widths.push_back(w);
  if (widths.size() != count) widths.clear();
  std::error_code ec;  // used now: pruning removes the least recently used files first
  if (!widths.empty())
    std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now(), ec);
  return widths;
}

void store_widths(const std::string& path, const std::vector<unsigned>& widths) {
  std::string text;
  for (unsigned w : widths) text += std::to_string(w) + "\n";
  write_cached(path, text);
}

hs_database_t* load_cached(const std::string& path) {
  const std::string bytes = read_cached(path);
  if (bytes.empty()) return nullptr;
  hs_database_t* db = nullptr;
  if (hs_deserialize_database(bytes.data(), bytes.size(), &db) != HS_SUCCESS) return nullptr;
  std::error_code ec;  // used now: pruning removes the least recently used files first
  std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now(), ec);
  return db;
}

// Keeps the cache bounded: past kCacheFiles files, the least recently used go (every file of the
// engine just compiled was written or touched now, so it stays).
void prune_cache(const std::string& dir) {
  std::error_code ec;
  std::vector<std::pair<std::filesystem::file_time_type, std::filesystem::path>> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("detectors-", 0) != 0 || !(name.ends_with(".hsdb") || name.ends_with(".widths")))
      continue;
    files.emplace_back(entry.last_write_time(ec), entry.path());
  }
  if (files.size() <= kCacheFiles) return;
  std::sort(files.begin(), files.end());
  for (size_t i = 0; i < files.size() - kCacheFiles * 3 / 4; ++i)
    std::filesystem::remove(files[i].second, ec);
}

void store_cached(const std::string& path, const hs_database_t* db) {
  char* bytes = nullptr;
  size_t size = 0;
  if (hs_serialize_database(db, &bytes, &size) != HS_SUCCESS) return;
  write_cached(path, std::string_view(bytes, size));
  std::free(bytes);
}

// `what(i)` names pattern i in errors.
template <typename Name>
hs_database_t* compile_db(const std::vector<Pattern>& patterns, unsigned mode, Name what) {
  const std::string path = cache_path("detectors-" + cache_key(patterns, mode) + ".hsdb");
  if (hs_database_t* db = load_cached(path)) return db;
  std::vector<const char*> exprs;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  for (size_t i = 0; i < patterns.size(); ++i) {
    exprs.push_back(patterns[i].expr.c_str());
    flags.push_back(patterns[i].flags | kBaseFlags);
    ids.push_back(static_cast<unsigned>(i));
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_multi(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()),
                       mode, nullptr, &db, &err) != HS_SUCCESS) {
    std::string message = err != nullptr && err->message != nullptr ? err->message : "unknown";
    const int which = err != nullptr ? err->expression : -1;
    hs_free_compile_error(err);
    throw std::runtime_error("detector " +
                             (which >= 0 ? what(static_cast<size_t>(which)) : std::string("?")) +
                             ": " + message);
  }
  store_cached(path, db);
  return db;
}

// What may follow a finding's end (may_end_at) as a Hyperscan class, empty when anything may.
// Derived from the rules themselves: the class cannot drift from them. may_end_at still checks
// each end (kNumber also looks at the code point after the next). A line feed is in every
// class: scan_anchored_region appends one to long regions.
std::string end_stop_class(const DetectorSpec& spec) {
  auto hex = [](uint32_t c) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "\\x{%X}", c);
    return std::string(buf);
  };
  if (spec.span == SpanRule::kAssignmentValue) {
    std::string cls = "[";
    for (unsigned c = 1; c < 0x80; ++c) {
      if (assignment_ends_before(static_cast<char>(c))) cls += hex(c);
    }
    return cls + "]";
  }
  if (spec.boundary == Boundary::kNone) return {};
  // The code points the boundary rejects after an end whatever follows them (letters, digits
  // …): the class is their complement. Only ASCII and the full-width forms can be rejected (a
  // unit test checks every other code point).
  std::string cls = "[^";
  for (const auto& [lo, hi] : kBoundaryCodePoints) {
    uint32_t first = 0;  // start of the current run of rejected code points, 0 when none
    for (uint32_t c = lo; c <= hi + 1; ++c) {
      const bool rejected = c <= hi && !after_ok(spec.boundary, utf8_encode(c), 0);
      if (rejected && first == 0) first = c;
      if (!rejected && first != 0) {
        cls += first == c - 1 ? hex(first) : hex(first) + "-" + hex(c - 1);
        first = 0;
      }
    }
  }
  return cls + "]";
}

// Builds the literal database's patterns and what each hit means.
void plan_literals(Engine::Impl& impl, bool gated, std::vector<Pattern>& patterns) {
  std::vector<std::pair<std::string, unsigned>> keys;  // (expr, flags) → id
  auto id_for = [&](const std::string& expr, unsigned flags) -> size_t {
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i].first == expr && keys[i].second == flags) return i;
    }
    keys.emplace_back(expr, flags);
    patterns.push_back({expr, flags});
    impl.roles.emplace_back();
    return keys.size() - 1;
  };
  auto word_id = [&](std::string_view w) -> uint16_t {
    const std::string lower = ascii_lower(w);
    for (size_t i = 0; i < impl.words.size(); ++i) {
      if (impl.words[i].text == lower) return static_cast<uint16_t>(i);
    }
    auto letter = [](char c) { return c >= 'a' && c <= 'z'; };
    impl.words.push_back({lower, letter(lower.front()) && letter(lower.back()), {}});
    return static_cast<uint16_t>(impl.words.size() - 1);
  };
  impl.context_ids.assign(impl.specs.size(), {});
  impl.not_after_ids.assign(impl.specs.size(), {});
  for (size_t s = 0; s < impl.specs.size(); ++s) {
    DetectorSpec& spec = impl.specs[s];
    if (!gated) spec.gate = Gate::kFull;
    for (std::string_view w : spec.context) impl.context_ids[s].push_back(word_id(w));
    for (std::string_view w : spec.not_after) impl.not_after_ids[s].push_back(word_id(w));
    const auto index = static_cast<uint16_t>(s);
    switch (spec.gate) {
      case Gate::kAnchor:
        for (const std::string& a : spec.anchors) {
          const size_t id = id_for(escape_literal(a), spec.flags & HS_FLAG_CASELESS);
          impl.roles[id].push_back({Role::kAnchor, index, static_cast<uint16_t>(a.size())});
        }
        break;
      case Gate::kContext:
        // Its context words open its regions: they go into the literal database too.
        for (uint16_t w : impl.context_ids[s]) {
          ContextWord& word = impl.words[w];
          if (word.required_by.empty()) {
            const size_t id = id_for(escape_literal(word.text), HS_FLAG_CASELESS);
            impl.roles[id].push_back({Role::kWord, w, static_cast<uint16_t>(word.text.size())});
          }
          word.required_by.push_back(index);
        }
        break;
      case Gate::kCluster: {
        // Gate k meets, in each count lane, every value from its need on (Impl::gates_met).
        const size_t k = impl.cluster_gates.size();
        if (k == 32) throw std::logic_error("more than 32 cluster gates");
        const uint64_t packed = pack_counts(spec.needs);
        for (size_t lane = 0; lane < 8; ++lane) {
          for (size_t v = packed >> (8 * lane) & 0x7F; v < 128; ++v)
            impl.gates_met[lane][v] |= uint32_t{1} << k;
        }
        impl.cluster_gates.push_back({spec.needs.sums, spec.needs.upper_runs, index,
                                      spec.needs.country_code, exact_runs(spec),
                                      spec.boundary == Boundary::kNumber});
        const ClusterNeeds& n = spec.needs;
        if ((n.upper_word != 0 && n.upper_word < kShortWord) ||
            (n.upper_runs & ((uint64_t{1} << kShortWord) - 1)) != 0)
          throw std::logic_error(spec.cls + ": an upper-case run shorter than kShortWord");
        if (n.colons > 0) {
          impl.cluster_min_colons = std::min<unsigned>(impl.cluster_min_colons, n.colons);
        } else {
          // Each count below is of letters and digits: the largest bounds the cluster's alnum.
          const unsigned alnum =
              std::max({n.digits, n.upper, n.alnum, n.chain, n.upper_word, n.wide});
          impl.cluster_min_alnum = std::min(impl.cluster_min_alnum, alnum);
        }
        break;
      }
      case Gate::kFull: {
        const size_t id = id_for(spec.pattern, spec.flags);
        impl.roles[id].push_back({Role::kFull, index, 0});
        if (spec.word.empty()) {
          if (!impl.open_patterns.add(spec.pattern))
            impl.open_pattern_bytes = std::max(impl.open_pattern_bytes, spec.max_bytes);
        } else
          impl.literals.push_back(ascii_lower(spec.word));
        break;
      }
    }
    if (spec.gate == Gate::kAnchor) {
      for (const std::string& a : spec.anchors) impl.literals.push_back(ascii_lower(a));
    } else if (spec.gate == Gate::kContext) {
      for (uint16_t w : impl.context_ids[s]) impl.literals.push_back(impl.words[w].text);
    }
  }
  // The markers of a disguised value (disguise.h): a hit makes scan() look at an undisguised
  // copy. Not in `literals`: a stream holds nothing for them.
  for (const std::string& m : disguise_markers()) {
    // Caseless only where it means ASCII case ("&#X40;", "[AT]"): a caseless letter of another
    // script hit on its lower-case twin too, nearly every letter of Russian or Greek prose.
    const bool ascii = std::all_of(m.begin(), m.end(), [](char c) { return (c & 0x80) == 0; });
    const size_t id = id_for(escape_literal(m), ascii ? HS_FLAG_CASELESS : 0);
    impl.disguise_marker.resize(impl.roles.size());
    impl.disguise_marker[id] = lookalike_marker(m) ? 2 : 1;
  }
  impl.disguise_marker.resize(impl.roles.size());
  std::sort(impl.literals.begin(), impl.literals.end());
  impl.literals.erase(std::unique(impl.literals.begin(), impl.literals.end()), impl.literals.end());
  for (size_t c = 0, k = 0; c <= 256; ++c) {
    while (k < impl.literals.size() && static_cast<unsigned char>(impl.literals[k][0]) < c) ++k;
    impl.literal_from[c] = static_cast<uint16_t>(k);
  }
  for (const std::string& l : impl.literals) {
    impl.longest_literal = std::max(impl.longest_literal, l.size());
    const auto c = static_cast<unsigned char>(l[0]);
    impl.literal_heads.set(c);
    impl.literal_longest[c] = static_cast<uint8_t>(
        std::max<size_t>(impl.literal_longest[c], std::min<size_t>(l.size(), UINT8_MAX)));
    if (l.size() > 1) impl.literal_heads.set(256 + c * 256 + static_cast<unsigned char>(l[1]));
  }
}

}  // namespace

void on_literal_hit(const Engine::Impl& impl, unsigned id, size_t end, std::string_view text,
                    size_t offset, std::vector<Region>& regions) {
  for (const Role& r : impl.roles[id]) {
    switch (r.kind) {
      case Role::kAnchor: {
        const DetectorSpec& spec = impl.specs[r.index];
        const size_t at = end - r.length;
        if (spec.anchor_ok != nullptr && !spec.anchor_ok(text, at - offset)) break;
        // A match starts at its anchor and is at most max_bytes long: the work per anchor stays
        // bounded however densely anchors repeat ("sk-sk-…").
        regions.push_back({r.index, Region::kAnchored, at, at + spec.max_bytes, at, r.length});
        break;
      }
      case Role::kWord:
        for (uint16_t s : impl.words[r.index].required_by)
          regions.push_back(
              {s, Region::kRange, end, end + kContextBytes + impl.specs[s].max_bytes, end});
        break;
      case Role::kFull: {
        const size_t width = impl.specs[r.index].max_bytes;
        const size_t lo = end > width ? end - width : 0;
        regions.push_back({r.index, Region::kRange, lo, end, lo});
        break;
      }
    }
  }
}

std::string utf8_encode(uint32_t c) {
  std::string u;
  if (c < 0x80) {
    u += static_cast<char>(c);
  } else if (c < 0x800) {
    u += static_cast<char>(0xC0 | c >> 6);
    u += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    u += static_cast<char>(0xE0 | c >> 12);
    u += static_cast<char>(0x80 | (c >> 6 & 0x3F));
    u += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    u += static_cast<char>(0xF0 | c >> 18);
    u += static_cast<char>(0x80 | (c >> 12 & 0x3F));
    u += static_cast<char>(0x80 | (c >> 6 & 0x3F));
    u += static_cast<char>(0x80 | (c & 0x3F));
  }
  return u;
}

bool valid_utf8(std::string_view bytes) {
  // Regions are short and mostly ASCII: eight bytes at a time first, spared the library call.
  size_t i = 0;
  uint64_t high = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes.data() + i, 8);
    high |= w;
  }
  for (; i < bytes.size(); ++i) high |= static_cast<unsigned char>(bytes[i]);
  return (high & 0x8080808080808080ull) == 0 || simdjson::validate_utf8(bytes.data(), bytes.size());
}

bool may_start_at(const DetectorSpec& spec, std::string_view text, size_t i) {
  // An e-mail address starts before its '@' anchor, where its own boundary is checked.
  return spec.span == SpanRule::kEmailLocalPart || before_ok(spec.boundary, text, i);
}

bool may_end_at(const DetectorSpec& spec, std::string_view text, size_t e) {
  if (spec.span == SpanRule::kAssignmentValue)
    return e >= text.size() || assignment_ends_before(text[e]);
  if (spec.boundary == Boundary::kNone) return true;
  // Most ends lie inside a run of letters or digits: every boundary rules them out at once.
  if (e < text.size() && ascii_alnum(static_cast<unsigned char>(text[e]))) return false;
  return after_ok(spec.boundary, text, e);
}

size_t extent_end(Extent extent, std::string_view text, size_t from, size_t to) {
  if (extent == Extent::kLine) {
    const void* at = std::memchr(text.data() + from, '\n', to - from);
    return at == nullptr ? std::string_view::npos
                         : static_cast<size_t>(static_cast<const char*>(at) - text.data());
  }
  if (extent == Extent::kToken) {
    // Sixteen bytes at a time: tokens run to a few hundred bytes.
    size_t i = from;
    for (; i + 16 <= to; i += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + i));
      const __m128i space = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')),
                                                      _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))),
                                         _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\t')),
                                                      _mm_cmpeq_epi8(v, _mm_set1_epi8('\r'))));
      const auto mask = static_cast<unsigned>(_mm_movemask_epi8(space));
      if (mask != 0) return i + static_cast<size_t>(__builtin_ctz(mask));
    }
    for (; i < to; ++i) {
      const char c = text[i];
      if (c == ' ' || c == '\n' || c == '\t' || c == '\r') return i;
    }
  }
  return std::string_view::npos;
}

void merge_regions(std::vector<Region>& regions) {
  if (regions.size() < 2) return;
  // Regions arrive nearly sorted by start within each detector: a stable sort by detector
  // (counting) and an insertion sort by start are linear here, where std::sort was not. The
  // buffers are the thread's (this runs for every string of every request).
  thread_local std::vector<size_t> first;
  thread_local std::vector<Region> sorted;
  size_t detectors = 0;
  for (const Region& r : regions) detectors = std::max<size_t>(detectors, r.spec + 1u);
  first.assign(detectors + 1, 0);
  for (const Region& r : regions) ++first[r.spec + 1u];
  for (size_t d = 0; d < detectors; ++d) first[d + 1] += first[d];
  sorted.resize(regions.size());
  for (const Region& r : regions) sorted[first[r.spec]++] = r;
  for (size_t i = 1; i < sorted.size(); ++i) {
    const Region r = sorted[i];
    size_t j = i;
    while (j > 0 && sorted[j - 1].spec == r.spec && sorted[j - 1].lo > r.lo) {
      sorted[j] = sorted[j - 1];
      --j;
    }
    sorted[j] = r;
  }
  regions.swap(sorted);  // swapped, not copied back
  size_t out = 0;
  for (size_t i = 0; i < regions.size(); ++i) {
    Region& last = regions[out > 0 ? out - 1 : 0];
    if (out > 0 && last.spec == regions[i].spec && last.form == Region::kRange &&
        regions[i].form == Region::kRange && regions[i].lo <= last.hi) {
      last.hi = std::max(last.hi, regions[i].hi);
      last.done = std::min(last.done, regions[i].done);
      continue;
    }
    regions[out++] = regions[i];
  }
  regions.resize(out);
}

EnginePtr Engine::compile(const std::vector<CustomDetector>& custom, bool gated) {
  const auto t0 = std::chrono::steady_clock::now();
  // Hyperscan needs SSSE3; so do the context-word lookups (context.cpp).
  if (hs_valid_platform() != HS_SUCCESS)
    throw std::runtime_error("this CPU lacks SSSE3, which the inspection engine needs");
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
                            .max_bytes = w.size(),
                            .word = w});
    }
  }
  // Bound each pattern's match width: it sizes the regions and the hold-back in streams.
  // Hyperscan's analysis costs a millisecond for some patterns: the widths are cached too.
  std::vector<Pattern> all;
  for (const DetectorSpec& s : impl.specs) all.push_back({s.pattern, s.flags});
  const std::string widths_path = cache_path("detectors-" + cache_key(all, 0) + ".widths");
  std::vector<unsigned> widths = load_widths(widths_path, all.size());
  if (widths.empty()) {
    for (const DetectorSpec& s : impl.specs) {
      hs_expr_info_t* info = nullptr;
      hs_compile_error_t* err = nullptr;
      if (hs_expression_info(s.pattern.c_str(), s.flags | HS_FLAG_UTF8, &info, &err) !=
          HS_SUCCESS) {
        const std::string message = err != nullptr ? err->message : "invalid pattern";
        hs_free_compile_error(err);
        throw std::runtime_error("detector " + s.cls + ": " + message);
      }
      widths.push_back(info->max_width);
      std::free(info);
    }
    store_widths(widths_path, widths);
  }
  for (size_t i = 0; i < impl.specs.size(); ++i) {
    if (widths[i] != UINT_MAX)
      impl.specs[i].max_bytes = std::max<size_t>(impl.specs[i].max_bytes, widths[i]);
  }
  std::vector<Pattern> literals;
  plan_literals(impl, gated, literals);
  auto literal_name = [&](size_t id) {
    const Role& r = impl.roles[id].front();
    return r.kind == Role::kWord ? "context word " + impl.words[r.index].text
                                 : impl.specs[r.index].cls;
  };
  impl.literal_db = compile_db(literals, HS_MODE_BLOCK, literal_name);
  impl.literal_stream_db = compile_db(literals, HS_MODE_STREAM, literal_name);
  // One list per distinct set of words (a detector and its ASCII twin share one).
  auto list_of = [&](const std::vector<uint16_t>& ids) -> int {
    if (ids.empty()) return -1;
    for (size_t l = 0; l < impl.word_lists.size(); ++l) {
      if (impl.word_lists[l].words == ids) return static_cast<int>(l);
    }
    impl.word_lists.emplace_back(ids, impl.words);
    return static_cast<int>(impl.word_lists.size() - 1);
  };
  for (size_t s = 0; s < impl.specs.size(); ++s) {
    impl.context_list.push_back(list_of(impl.context_ids[s]));
    impl.not_after_list.push_back(list_of(impl.not_after_ids[s]));
  }
  for (const DetectorSpec& spec : impl.specs) {
    std::bitset<256> first;
    if (spec.first_bytes.empty()) first.set();
    for (size_t i = 0; i + 1 < spec.first_bytes.size(); i += 2) {
      const auto lo = static_cast<unsigned char>(spec.first_bytes[i]);
      const auto hi = static_cast<unsigned char>(spec.first_bytes[i + 1]);
      for (unsigned b = lo; b <= hi; ++b) first.set(b);
    }
    impl.first_bytes.push_back(first);
    const auto name = [&](size_t) { return spec.cls; };
    if (spec.gate == Gate::kFull) {
      impl.end_dbs.push_back(nullptr);
      impl.whole_dbs.push_back(nullptr);
      impl.start_dbs.push_back(nullptr);
      impl.stop_dbs.push_back(nullptr);
      impl.stop_long_dbs.push_back(nullptr);
      impl.spec_dbs.push_back(
          compile_db({{spec.pattern, spec.flags | HS_FLAG_SOM_LEFTMOST}}, HS_MODE_BLOCK, name));
      continue;
    }
    impl.spec_dbs.push_back(nullptr);
    if (spec.gate == Gate::kAnchor) {
      const std::string stop = end_stop_class(spec);
      const std::string anchored = "^(?:" + spec.pattern + ")";
      impl.start_dbs.push_back(compile_db({{anchored, spec.flags}}, HS_MODE_BLOCK, name));
      impl.stop_dbs.push_back(
          stop.empty() ? nullptr
                       : compile_db({{anchored + stop, spec.flags}, {anchored + "\\z", spec.flags}},
                                    HS_MODE_BLOCK, name));
      impl.stop_long_dbs.push_back(
          stop.empty() ? nullptr
                       : compile_db({{anchored + stop, spec.flags}}, HS_MODE_BLOCK, name));
      impl.end_dbs.push_back(nullptr);
      impl.whole_dbs.push_back(nullptr);
      continue;
    }
    impl.start_dbs.push_back(nullptr);
    impl.stop_dbs.push_back(nullptr);
    impl.stop_long_dbs.push_back(nullptr);
    impl.end_dbs.push_back(compile_db({{spec.pattern, spec.flags}}, HS_MODE_BLOCK, name));
    impl.whole_dbs.push_back(
        compile_db({{"^(?:" + spec.pattern + ")\\z", spec.flags}}, HS_MODE_BLOCK, name));
  }
  std::vector<std::string> classes;
  for (const DetectorSpec& s : impl.specs) {
    if (std::find(classes.begin(), classes.end(), s.cls) == classes.end()) classes.push_back(s.cls);
    if (!s.subclass.empty() &&
        std::find(classes.begin(), classes.end(), s.subclass) == classes.end())
      classes.push_back(s.subclass);
  }
  engine->classes_ = std::move(classes);
  if (const std::string dir = cache_dir(); !dir.empty()) prune_cache(dir);
  engine->compile_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return engine;
}

Scratch::~Scratch() {
  hs_free_scratch(scratch_);
}

bool Scratch::prepare(const Engine& engine) {
  if (for_ == &engine && scratch_ != nullptr) return true;
  if (hs_alloc_scratch(engine.impl().literal_db, &scratch_) != HS_SUCCESS) return false;
  if (hs_alloc_scratch(engine.impl().literal_stream_db, &scratch_) != HS_SUCCESS) return false;
  const Engine::Impl& impl = engine.impl();
  for (const auto* dbs : {&impl.spec_dbs, &impl.end_dbs, &impl.whole_dbs, &impl.start_dbs,
                          &impl.stop_dbs, &impl.stop_long_dbs}) {
    for (hs_database_t* db : *dbs) {
      if (db != nullptr && hs_alloc_scratch(db, &scratch_) != HS_SUCCESS) return false;
    }
  }
  for_ = &engine;
  return true;
}

namespace {

bool scan_once(const Engine& engine, Scratch& scratch, std::string_view text,
               std::vector<Finding>& findings, bool& disguised) {
  findings.clear();
  if (text.size() > UINT32_MAX || !scratch.prepare(engine)) return false;
  const Engine::Impl& impl = engine.impl();
  // Candidate regions and context words: literal database, then number clusters.
  // The region list is the thread's: scan() runs for every string of every request.
  thread_local std::vector<Region> regions;
  regions.clear();
  struct Hits {
    const Engine::Impl* impl;
    std::string_view text;
    std::vector<Region>& regions;
    bool& disguised;
  } hits{&impl, text, regions, disguised};
  auto on_hit = [](unsigned id, unsigned long long, unsigned long long to, unsigned,
                   void* p) -> int {
    auto* h = static_cast<Hits*>(p);
    if (const uint8_t m = h->impl->disguise_marker[id]; m != 0) {
      // A look-alike letter in prose of its script is no disguise; one beside an ASCII letter
      // or digit may be ("АKIA…"): Russian or Greek text is not undisguised for its capitals.
      const auto latin = [&](size_t i) {
        const char c = i < h->text.size() ? h->text[i] : ' ';
        return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
      };
      if (m == 1 || latin(static_cast<size_t>(to)) || (to >= 3 && latin(to - 3)))
        h->disguised = true;
    }
    on_literal_hit(*h->impl, id, static_cast<size_t>(to), h->text, 0, h->regions);
    return 0;
  };
  if (hs_scan(impl.literal_db, text.data(), static_cast<unsigned>(text.size()), 0, scratch.get(),
              on_hit, &hits) != HS_SUCCESS)
    return false;
  add_cluster_regions(impl, text, 0, 0, true, hits.regions);
  merge_regions(hits.regions);
  // Each region scanned by its detector; candidates evaluated on the whole text. A cluster's
  // region for a detector that requires a context word is dropped when none stands before it.
  const ContextIndex context{&impl, text, 0};
  std::erase_if(regions, [&](const Region& r) {
    return impl.specs[r.spec].context_required && impl.specs[r.spec].gate == Gate::kCluster &&
           !context.may_precede(impl.context_list[r.spec], r.lo, r.hi);
  });
  uint64_t work = text.size();
  for (const Region& r : regions) {
    const size_t hi = std::min(r.hi, text.size());
    work += hi > r.lo ? hi - r.lo : 0;
  }
  if (!scratch.charge_work(work)) return false;
  if (!scan_regions(impl, scratch.get(), text, 0, hits.regions, [&](const RawMatch& m) {
        Finding f;
        if (evaluate(context, text, 0, m, true, f)) findings.push_back(f);
      }))
    return false;
  resolve_overlaps(findings);
  return true;
}

}  // namespace

bool scan(const Engine& engine, Scratch& scratch, std::string_view text,
          std::vector<Finding>& findings) {
  bool disguised = false;
  if (!scan_once(engine, scratch, text, findings, disguised)) return false;
  if (!disguised) return true;
  // The same text undisguised (disguise.h); its findings mapped back to the original bytes.
  thread_local std::string plain;
  thread_local std::vector<uint32_t> from, to;
  thread_local std::vector<Finding> more;
  if (!undisguise(text, plain, from, to)) return true;
  bool again = false;
  if (!scan_once(engine, scratch, plain, more, again)) return false;
  for (const Finding& f : more) {
    Finding g = f;
    g.start = from[f.start];
    g.end = to[f.end - 1];
    findings.push_back(g);
  }
  std::sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    return a.start != b.start ? a.start < b.start : a.end > b.end;
  });
  findings.erase(std::unique(findings.begin(), findings.end()), findings.end());
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
