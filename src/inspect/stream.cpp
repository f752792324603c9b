#include "inspect/stream.h"

#include <string.h>

#include <algorithm>

#include "inspect/engine_impl.h"
#include "inspect/validators.h"

namespace warden::inspect {

namespace {
constexpr std::string_view kOpen = "\xe2\x9f\xa8";   // ⟨
constexpr std::string_view kClose = "\xe2\x9f\xa9";  // ⟩
constexpr size_t kMaxToken = 64;                     // longest pseudonym token looked for

// Where a finding of `spec` whose match starts at `from` (absolute) may begin: an e-mail
// address begins at its local part, before the '@' its match starts with (evaluate() reads it
// backwards, at most 64 bytes). `text` holds the bytes from `base` on.
size_t finding_start(const DetectorSpec& spec, std::string_view text, size_t base, size_t from) {
  if (spec.span != SpanRule::kEmailLocalPart) return from;
  size_t b = from;
  while (b > base && from - b < 64 && email_local_char(text[b - 1 - base])) --b;
  return b;
}
}  // namespace

TextStream::TextStream(const Engine& engine, Scratch& scratch, size_t hold_back)
    : engine_(engine), scratch_(scratch), hold_back_(hold_back) {
  if (!scratch_.prepare(engine_) ||
      hs_open_stream(engine_.impl().literal_stream_db, 0, &stream_) != HS_SUCCESS) {
    failed_ = true;
    stream_ = nullptr;
  }
}

TextStream::~TextStream() {
  if (stream_ != nullptr) hs_close_stream(stream_, scratch_.get(), nullptr, nullptr);
}

bool TextStream::feed(std::string_view chunk) {
  if (failed_ || finished_) return false;
  if (chunk.empty()) return true;
  text_.append(chunk);
  total_ += chunk.size();
  // Every chunk is scanned: what it completes may be released at once.
  return advance();
}

bool TextStream::finish() {
  if (failed_) return false;
  finished_ = true;
  return advance();
}

// The new bytes go through the literal database (stream mode) and the cluster pass; then every
// candidate region, including those still open from earlier rounds, is scanned by its detector.
bool TextStream::advance() {
  const Engine::Impl& impl = engine_.impl();
  struct Hits {
    const Engine::Impl* impl;
    std::string_view text;
    size_t offset;
    std::vector<Region>* regions;
  } hits{&impl, text_, base_, &fresh_};
  auto on_hit = [](unsigned id, unsigned long long, unsigned long long to, unsigned,
                   void* p) -> int {
    auto* h = static_cast<Hits*>(p);
    on_literal_hit(*h->impl, id, static_cast<size_t>(to), h->text, h->offset, *h->regions);
    return 0;
  };
  fresh_.clear();
  if (total_ > scanned_ && hs_scan_stream(stream_, text_.data() + (scanned_ - base_),
                                          static_cast<unsigned>(total_ - scanned_), 0,
                                          scratch_.get(), on_hit, &hits) != HS_SUCCESS) {
    failed_ = true;
    return false;
  }
  if (finished_ && stream_ != nullptr) {
    const hs_error_t rc = hs_close_stream(stream_, scratch_.get(), on_hit, &hits);
    stream_ = nullptr;
    if (rc != HS_SUCCESS) {
      failed_ = true;
      return false;
    }
  }
  const std::string_view text = text_;
  const size_t literal_regions = fresh_.size();
  size_t open_lo = SIZE_MAX;
  cluster_from_ = add_cluster_regions(impl, text, base_, std::max(cluster_from_, base_), finished_,
                                      fresh_, &open_lo);
  // A cluster still open last round at the same start was scanned up to the old end then.
  for (size_t k = literal_regions; k < fresh_.size(); ++k) {
    if (fresh_[k].lo == open_cluster_) fresh_[k].done = std::max(fresh_[k].done, scanned_);
  }
  open_cluster_ = open_lo;
  scanned_ = total_;
  scanned_since_take_ = true;
  fresh_.insert(fresh_.end(), regions_.begin(), regions_.end());
  merge_regions(fresh_);
  if (!scan_regions(impl, scratch_.get(), text, base_, fresh_,
                    [&](const RawMatch& m) { pending_.push_back(m); })) {
    failed_ = true;
    return false;
  }
  regions_.clear();
  for (Region& r : fresh_) {
    if (r.hi <= total_) continue;
    r.done = total_;
    regions_.push_back(r);
  }
  return decide(finished_);
}

// A raw match is decided once the bytes its evaluation reads after it have arrived: two code
// points (a number's boundary reads the one after a '.', ',' or '-': "1,234" and "912-70" do not
// end one; an address followed by "::" is not one), and for a marking the frame after it up to
// the first byte that is not part of one ("TOP SECRET ---" is a marking only if the line ends
// there), for a phone number the separators and the code point after it ("030 1234567 -9" is not
// one). Deciding on the first code point alone found a card number in "…1111912-" that
// "…1111912-70-1" does not hold.
bool TextStream::settled(const RawMatch& p) const {
  size_t at = p.to;
  for (int k = 0; k < 2; ++k) {  // two whole code points
    if (at >= total_) return false;
    const auto c = static_cast<unsigned char>(text_[at - base_]);
    at += c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
  }
  if (at > total_) return false;
  const Reach reach = engine_.impl().specs[p.id].placement_reach;
  if (reach == Reach::kTwoCodePoints) return true;
  const std::string_view text = std::string_view(text_).substr(0, total_ - base_);
  size_t j = p.to - base_;
  if (reach == Reach::kFrame) {
    while (const size_t k = marking_frame_at(text, j)) j += k;
  } else {
    for (int g = 0; g < 2; ++g) {
      const size_t k = number_sep_at(text, j);
      if (k == 0) break;
      j += k;
    }
  }
  // Three bytes: a frame's '★', a separator's U+2013 or a full-width digit at j is whole.
  return j + 3 <= text.size();
}

// The decided findings not released whole yet.
std::vector<Finding>::const_iterator TextStream::unreleased() const {
  return std::partition_point(findings_.begin(), findings_.end(),
                              [&](const Finding& f) { return f.end <= released_; });
}

bool TextStream::decide(bool finished) {
  if (pending_.empty()) return true;
  const std::string_view text = text_;
  const ContextIndex context{&engine_.impl(), text, base_};
  std::vector<RawMatch> still;
  for (const RawMatch& p : pending_) {
    if (!finished && !settled(p)) {
      still.push_back(p);
      continue;
    }
    const DetectorSpec& spec = engine_.impl().specs[p.id];
    Finding f;
    if (evaluate(context, text, base_, p, finished, f)) {
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

// The text's end is a proper prefix of a literal from text[i] on (ASCII case ignored: a
// case-sensitive literal is held a little more often than it must be). The literals that start
// with the same byte are few ("token", "top secret").
bool TextStream::begins_literal(size_t i) const {
  const Engine::Impl& impl = engine_.impl();
  const std::string_view tail = std::string_view(text_).substr(i - base_, scanned_ - i);
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  const auto c = static_cast<unsigned char>(lower(tail[0]));
  for (size_t k = impl.literal_from[c]; k < impl.literal_from[c + 1]; ++k) {
    const std::string& l = impl.literals[k];
    if (l.size() <= tail.size()) continue;
    size_t j = 1;
    while (j < tail.size() && l[j] == lower(tail[j])) ++j;
    if (j == tail.size()) return true;
  }
  return false;
}

// The first byte that may still begin a finding not decided yet, other than an undecided match
// (those are held apart, without limit): a region still open (its detector may report a match
// from its anchor once more text arrived), a number cluster that may still grow, custom patterns
// other than words, a last word that an '@' would make an address's local part, the beginning of
// a literal (an anchor such as "AKI", a context word, a custom word), a code point cut short.
size_t TextStream::hold_from() const {
  const Engine::Impl& impl = engine_.impl();
  const std::string_view text = text_;
  size_t h = std::min(scanned_, cluster_from_);
  for (const Region& g : regions_)
    h = std::min(h, finding_start(impl.specs[g.spec], text, base_, g.lo));
  if (impl.open_pattern_bytes > 0)
    h = std::min(h, scanned_ > impl.open_pattern_bytes ? scanned_ - impl.open_pattern_bytes : 0);
  const size_t floor = std::max(released_, base_);
  if (!impl.open_patterns.empty()) {
    // Only the last hold_back bytes can be held (release_point).
    const size_t from = std::max(floor, scanned_ > hold_back_ ? scanned_ - hold_back_ : 0);
    if (from < h)
      h = std::min(
          h, base_ + impl.open_patterns.first_open(text.substr(0, scanned_ - base_), from - base_));
  }
  size_t word = scanned_;  // a local part is at most 64 bytes (evaluate())
  while (word > floor && scanned_ - word < 64 && email_local_char(text[word - 1 - base_])) --word;
  h = std::min(h, word);
  // Literals that begin before the last word (those beginning in it are held with it).
  const size_t longest = impl.longest_literal;
  auto lower = [&](size_t i) -> size_t {
    const auto c = static_cast<unsigned char>(text[i - base_]);
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
  };
  for (size_t i = std::max(floor, scanned_ > longest ? scanned_ - longest : 0); i < word; ++i) {
    const size_t c = lower(i);
    if (scanned_ - i >= impl.literal_longest[c]) continue;
    const size_t head = i + 1 == scanned_ ? c : 256 + c * 256 + lower(i + 1);
    if (impl.literal_heads[head] && begins_literal(i)) {
      h = std::min(h, i);
      break;
    }
  }
  // A code point whose last bytes have not arrived.
  size_t k = scanned_;
  while (k > floor && scanned_ - k < 3 &&
         (static_cast<unsigned char>(text[k - 1 - base_]) & 0xC0) == 0x80)
    --k;
  if (k > floor && static_cast<unsigned char>(text[k - 1 - base_]) >= 0xC0) {
    const auto lead = static_cast<unsigned char>(text[k - 1 - base_]);
    const size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (scanned_ - (k - 1) < need) h = std::min(h, k - 1);
  }
  return h;
}

size_t TextStream::release_point() const {
  const std::string_view text = text_;
  const auto& specs = engine_.impl().specs;
  // An undecided match holds its finding's start, whatever the window (a private-key block until
  // its END line, at most kMaxHeld bytes).
  size_t hard = total_;
  for (const RawMatch& p : pending_)
    hard = std::min(hard, finding_start(specs[p.id], text, base_, p.from));
  // What may still begin a finding is held, but never more than `hold_back` bytes: the longest
  // value the window promises to catch across chunks.
  const size_t soft = finished_ ? total_ : hold_from();
  const size_t window = scanned_ > hold_back_ ? scanned_ - hold_back_ : 0;
  size_t r = std::min(hard, std::max(soft, window));
  const size_t undecided = std::min(hard, soft);
  // A decided finding across the point is released whole (it is known to its end), unless a
  // finding not decided yet may overlap it: that one may be longer and win (resolve_overlaps),
  // and the first would have been masked on its own ("[EMAIL][EMAIL]" for one address whose
  // domain was still arriving). Findings are sorted and do not overlap: only those not yet
  // released are looked at.
  for (auto it = unreleased(); it != findings_.end() && it->start < r; ++it) {
    if (it->end <= r) continue;
    if (it->end > undecided) {
      r = it->start;
      break;
    }
    r = it->end;
  }
  r = std::min(r, total_);
  // A pseudonym token that has begun but not ended is held.
  const size_t from = released_ > base_ ? released_ - base_ : 0;
  // Only the part not yet released is searched (the rest of the buffer is context).
  const size_t upto = r - base_ > from ? r - base_ : from;
  size_t open = std::string_view::npos;
  for (size_t end = upto; end > from;) {  // the last ⟨ in [from, upto), found by its lead byte
    const void* at = ::memrchr(text.data() + from, kOpen[0], end - from);
    if (at == nullptr) break;
    const size_t i = static_cast<size_t>(static_cast<const char*>(at) - text.data());
    if (text.substr(i, kOpen.size()) == kOpen && i + kOpen.size() <= upto) {
      open = i;
      break;
    }
    end = i;
  }
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
                             bool& blocked, size_t limit) {
  blocked = false;
  std::string out;
  // Nothing changes between scans (feed only buffers until a step is full).
  if (!scanned_since_take_) return out;
  scanned_since_take_ = false;
  const size_t point = release_point();
  size_t r = point;
  if (r > limit) {
    r = std::max(limit, released_);
    for (auto it = unreleased(); it != findings_.end() && it->start < limit; ++it) {
      if (it->end > limit) r = it->end <= point ? it->end : std::max<size_t>(it->start, released_);
    }
    scanned_since_take_ = true;  // the rest is released by the next take
  }
  if (r <= released_) return out;
  const std::string_view text = text_;
  size_t pos = released_;
  for (auto it = unreleased(); it != findings_.end(); ++it) {
    const Finding& f = *it;
    if (f.start >= r) break;
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
  // Keep what context lookbehind, boundaries and the open regions and clusters need; drop the
  // rest.
  size_t keep = std::min(released_, cluster_from_);
  for (const RawMatch& p : pending_) keep = std::min(keep, p.from);
  for (const Region& g : regions_) keep = std::min(keep, g.lo);
  keep = keep > 2 * kContextBytes ? keep - 2 * kContextBytes : 0;
  if (keep > base_ + 4096) {
    text_.erase(0, keep - base_);
    base_ = keep;
  }
  if (pseudonyms != nullptr && !pseudonyms->empty()) return pseudonyms->restore(out, false);
  return out;
}

}  // namespace warden::inspect
