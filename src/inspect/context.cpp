// Context words before a candidate: whether one of a detector's words stands in the (at most
// 64) bytes before it, ignoring ASCII case (WordFilter). This runs two or three times for
// every candidate, and for every cluster region of a detector that requires a context word.
#include <algorithm>

#include "inspect/engine_impl.h"

namespace warden::inspect {

namespace {

bool letter(char c) {
  c = static_cast<char>(c | 0x20);
  return c >= 'a' && c <= 'z';
}

std::vector<std::string> texts(const std::vector<uint16_t>& ids,
                               const std::vector<ContextWord>& all) {
  std::vector<std::string> out;
  for (uint16_t id : ids) out.push_back(all[id].text);
  return out;
}

}  // namespace

Engine::Impl::WordList::WordList(const std::vector<uint16_t>& ids,
                                 const std::vector<ContextWord>& all)
    : words(ids), filter(texts(ids, all)) {}

bool ContextIndex::any_in(int list, size_t lo, size_t hi, bool right) const {
  const Engine::Impl::WordList& l = impl->word_lists[static_cast<size_t>(list)];
  const std::string_view window = text.substr(lo - offset, hi - lo);
  return l.filter.find(window, [&](size_t p, uint16_t w) {
    const ContextWord& word = impl->words[l.words[w]];
    if (!word.ascii) return true;
    // ASCII words stand whole: no letter continues them.
    const size_t at = lo + p - offset;
    const size_t end = p + word.text.size();
    const bool left = at == 0 || !letter(text[at - 1]);
    const bool after = !right || end == window.size() || !letter(window[end]);
    return left && after;
  });
}

bool ContextIndex::any_before(int list, size_t start, size_t bytes) const {
  if (list < 0) return false;
  bytes = std::min(bytes, kContextBytes);
  const size_t lo = std::max(offset, start > bytes ? start - bytes : 0);
  // The candidate may touch the word's end.
  return start > lo && any_in(list, lo, start, true);
}

bool ContextIndex::may_precede(int list, size_t lo, size_t hi) const {
  if (list < 0) return false;
  const size_t from = std::max(offset, lo > kContextBytes ? lo - kContextBytes : 0);
  hi = std::min(hi, offset + text.size());
  return hi > from && any_in(list, from, hi, false);
}

}  // namespace warden::inspect
