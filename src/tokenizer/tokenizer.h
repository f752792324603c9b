// Token ids to text, and text to a token count, for the byte-pair encodings of OpenAI-style
// models (tiktoken's o200k_base and cl100k_base). Clients may send a prompt as token ids instead
// of text; decoding them lets Warden inspect what the model will read.
//
// Untrusted input: token ids and text from client bodies (any values, any length).
// The tables are generated at build time from js-tiktoken's BPE ranks (gen/tables.mjs) and
// embedded in the binary (tables.S): nothing is read from disk at run time. A Tokenizer is
// immutable and lives as long as the process; every method may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace warden::tokenizer {

class Tokenizer {
 public:
  std::string_view name() const { return name_; }

  // Ids are below this (tiktoken's n_vocab: the highest special token + 1). Not every id below
  // it is a token: the gaps before and between special tokens are not.
  size_t vocab_size() const { return vocab_size_; }

  // Appends the bytes of `ids` to `out`. False if an id is not a token (out unspecified then).
  // Special tokens (`<|endoftext|>` …) decode to their literal text. The bytes are not
  // necessarily UTF-8: a token may hold part of a character, completed by the next one.
  bool decode(std::span<const uint32_t> ids, std::string& out) const;

  // Number of tokens `text` encodes to: the encoding's pre-tokenizer, then byte-pair merges,
  // as tiktoken's encode_ordinary (special-token text counts as ordinary text). For limits and
  // budgets. Text that is not valid UTF-8 counts one token per byte from the first bad byte (an
  // upper bound: every token holds at least one byte).
  // Cost (bench/tokenizer_bench, callgrind): ~16 MB/s on the fixture's mixed texts; a piece is
  // merged in O(n log n), and one long piece (a run of one letter or of white space) costs
  // ~1,200-1,600 instructions per byte, so bound what is counted on a request's path.
  size_t count(std::string_view text) const;

  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  ~Tokenizer();

 private:
  friend const Tokenizer* find(std::string_view name);
  struct Regex;         // the pre-tokenizer, compiled once (PCRE2, JIT); kept out of this header
  struct MergeScratch;  // one count()'s buffers for byte-pair merges
  Tokenizer(std::string_view name, const unsigned char* table, size_t table_size);

  // The id of the rank whose bytes are `piece`, or -1.
  int64_t rank(std::string_view piece) const;
  size_t count_piece(std::string_view piece, MergeScratch& scratch) const;

  std::string_view name_;
  size_t vocab_size_ = 0;
  uint32_t ranks_ = 0;  // ids below are BPE ranks; special tokens above
  uint32_t max_token_bytes_ = 0;
  uint32_t hash_mask_ = 0;
  const uint32_t* offsets_ = nullptr;  // vocab_size + 1; id i is bytes_[offsets_[i], [i + 1])
  const uint32_t* hash_ = nullptr;     // hash_mask + 1 slots
  const char* bytes_ = nullptr;
  Regex* regex_ = nullptr;
};

// "o200k_base" or "cl100k_base"; nullptr for any other name. The first call for a name builds
// its Tokenizer (compiles the pre-tokenizer with PCRE2's JIT: measured 5.5 ms for o200k_base,
// 0.2 ms for cl100k_base), so the config loader calls it; later calls cost ~2 ns.
const Tokenizer* find(std::string_view name);

}  // namespace warden::tokenizer
