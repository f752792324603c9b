#include "inspect/stream.h"

#include <algorithm>

#include "inspect/engine_impl.h"

namespace warden::inspect {

namespace {
constexpr std::string_view kOpen = "\xe2\x9f\xa8";   // ⟨
constexpr std::string_view kClose = "\xe2\x9f\xa9";  // ⟩
constexpr size_t kMaxToken = 64;                     // longest pseudonym token looked for
}  // namespace

TextStream::TextStream(const Engine& engine, Scratch& scratch, size_t hold_back)
    : engine_(engine),
      scratch_(scratch),
      hold_back_(hold_back),
      last_end_(engine.impl().specs.size(), 0) {
  if (!scratch_.prepare(engine_) ||
      hs_open_stream(engine_.impl().stream_prefilter_db, 0, &stream_) != HS_SUCCESS) {
    failed_ = true;
    stream_ = nullptr;
  }
}

TextStream::~TextStream() {
  if (stream_ != nullptr) hs_close_stream(stream_, scratch_.get(), nullptr, nullptr);
}

// Two stages, as in block mode: the stream finds where matches end without tracking starts; the
// window before each end (kept in the buffer) is rescanned by that pattern alone to find them.
bool TextStream::feed(std::string_view chunk) {
  if (failed_ || finished_) return false;
  if (chunk.empty()) return true;
  text_.append(chunk);
  total_ += chunk.size();
  ends_.clear();
  auto on_end = [](unsigned id, unsigned long long, unsigned long long to, unsigned,
                   void* ctx) -> int {
    static_cast<std::vector<End>*>(ctx)->push_back({id, static_cast<size_t>(to)});
    return 0;
  };
  if (hs_scan_stream(stream_, chunk.data(), static_cast<unsigned>(chunk.size()), 0, scratch_.get(),
                     on_end, &ends_) != HS_SUCCESS) {
    failed_ = true;
    return false;
  }
  const Engine::Impl& impl = engine_.impl();
  std::sort(ends_.begin(), ends_.end(),
            [](const End& a, const End& b) { return a.id != b.id ? a.id < b.id : a.to < b.to; });
  struct Ctx {
    std::vector<Pending>* pending;
    unsigned id;
    size_t base;
    size_t after;  // only matches ending after this are new
  } ctx{&pending_, 0, 0, 0};
  auto on_match = [](unsigned, unsigned long long from, unsigned long long to, unsigned,
                     void* p) -> int {
    auto* c = static_cast<Ctx*>(p);
    const size_t end = c->base + static_cast<size_t>(to);
    if (end > c->after) c->pending->push_back({c->id, c->base + static_cast<size_t>(from), end});
    return 0;
  };
  for (size_t i = 0; i < ends_.size();) {
    const unsigned id = ends_[i].id;
    size_t j = i;
    while (j < ends_.size() && ends_[j].id == id) ++j;
    const size_t first = ends_[i].to;
    const size_t last = ends_[j - 1].to;
    const size_t width = impl.specs[id].max_bytes;
    const size_t lo = std::max(base_, first > width ? first - width : 0);
    ctx.id = id;
    ctx.base = lo;
    ctx.after = last_end_[id];
    if (hs_scan(impl.window_dbs[id], text_.data() + (lo - base_), static_cast<unsigned>(last - lo),
                0, scratch_.get(), on_match, &ctx) != HS_SUCCESS) {
      failed_ = true;
      return false;
    }
    last_end_[id] = last;
    i = j;
  }
  return decide(false);
}

bool TextStream::finish() {
  if (failed_) return false;
  finished_ = true;
  return decide(true);
}

// A raw match is decided once the code point after it has arrived (its boundary is known).
bool TextStream::decide(bool finished) {
  const std::string_view text = text_;
  std::vector<Pending> still;
  for (const Pending& p : pending_) {
    const bool ready = finished || p.to + 3 <= total_ ||
                       (p.to < total_ && static_cast<unsigned char>(text[p.to - base_]) < 0x80);
    if (!ready) {
      still.push_back(p);
      continue;
    }
    const DetectorSpec& spec = engine_.impl().specs[p.id];
    Finding f;
    if (evaluate(spec, text, base_, {p.id, p.from, p.to}, finished, f)) {
      // A private-key block without its END line yet stays undecided (held) for a while.
      if (spec.span == SpanRule::kPemBlock && !finished && f.end == total_ &&
          total_ - p.from < kMaxHeld) {
        still.push_back(p);
        continue;
      }
      candidates_.push_back(f);
    }
  }
  pending_.swap(still);
  if (!candidates_.empty()) {
    findings_.insert(findings_.end(), candidates_.begin(), candidates_.end());
    candidates_.clear();
    resolve_overlaps(findings_);
  }
  return true;
}

size_t TextStream::release_point() const {
  size_t r = finished_ ? total_ : (total_ > hold_back_ ? total_ - hold_back_ : 0);
  for (const Pending& p : pending_) r = std::min(r, p.from);
  // A decided finding across the point is released whole (it is known to its end).
  for (const Finding& f : findings_) {
    if (f.start < r && f.end > r) r = f.end;
  }
  r = std::min(r, total_);
  // A pseudonym token that has begun but not ended is held.
  const std::string_view text = text_;
  const size_t from = released_ > base_ ? released_ - base_ : 0;
  // Only the part not yet released is searched (the rest of the buffer is context).
  const size_t upto = r - base_ > from ? r - base_ : from;
  const size_t rel = text.substr(from, upto - from).rfind(kOpen);
  const size_t open = rel == std::string_view::npos ? rel : from + rel;
  if (open != std::string_view::npos) {
    const size_t close = text.find(kClose, open);
    if (close == std::string_view::npos || close + base_ + kClose.size() > r) {
      if (close != std::string_view::npos) {
        r = close + base_ + kClose.size();
      } else if (!finished_ && total_ - (open + base_) < kMaxToken) {
        r = open + base_;
      }
    }
  }
  // Never split a UTF-8 code point.
  while (r > released_ && r < total_ &&
         (static_cast<unsigned char>(text[r - base_]) & 0xC0) == 0x80)
    --r;
  return std::max(r, released_);
}

std::string TextStream::take(const ActionTable& actions, const Pseudonyms* pseudonyms,
                             bool& blocked) {
  blocked = false;
  const size_t r = release_point();
  std::string out;
  if (r <= released_) return out;
  const std::string_view text = text_;
  size_t pos = released_;
  for (const Finding& f : findings_) {
    if (f.end <= released_ || f.start >= r) continue;
    const Action a = actions.action_for(f.cls);
    if (a == Action::kAllow) continue;
    if (a == Action::kBlock) blocked = true;
    const size_t s = std::max<size_t>(f.start, pos);
    out.append(text.substr(pos - base_, s - pos));
    out += "[" + class_label(f.cls) + "]";
    pos = std::min<size_t>(f.end, r);
  }
  out.append(text.substr(pos - base_, r - pos));
  released_ = r;
  // Keep what context lookbehind, boundaries and the window rescans (the longest match before
  // the newest byte) need; drop the rest.
  const size_t window = engine_.max_match_bytes() + kContextBytes;
  const size_t keep_from =
      std::min(released_ > 2 * kContextBytes ? released_ - 2 * kContextBytes : 0,
               total_ > window ? total_ - window : 0);
  size_t drop = keep_from > base_ ? keep_from - base_ : 0;
  for (const Pending& p : pending_) {
    const size_t need = p.from > kContextBytes ? p.from - kContextBytes : 0;
    if (need < base_ + drop) drop = need > base_ ? need - base_ : 0;
  }
  if (drop > 4096) {
    text_.erase(0, drop);
    base_ += drop;
  }
  if (pseudonyms != nullptr && !pseudonyms->empty()) return pseudonyms->restore(out, false);
  return out;
}

}  // namespace warden::inspect
