// Token-id decoding and token counting (src/tokenizer/): ids/s and bytes/s over the fixture's
// texts (English, German, French, Chinese, emoji; js-tiktoken's ids), the cost of find() once a
// tokenizer is built, and, printed before the runs, what the first find() of each encoding costs
// (the pre-tokenizer's compilation; the tables are in the binary and need no loading).
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace wt = warden::tokenizer;

namespace {

struct Corpus {
  std::string text;                // every fixture text of the encoding, concatenated
  std::vector<uint32_t> ids;       // their ids, in order
  std::vector<std::string> texts;  // each text (ids may merge across two texts joined)
};

const Corpus& corpus(const std::string& encoding) {
  static std::map<std::string, Corpus> all;
  auto [it, fresh] = all.try_emplace(encoding);
  if (fresh) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc =
        parser.load(std::string(WARDEN_SOURCE_DIR) + "/tests/data/tokenizer/fixture.json");
    for (simdjson::dom::object c : simdjson::dom::array(doc["encodings"][encoding]["texts"])) {
      it->second.text += std::string_view(c["text"]);
      it->second.texts.emplace_back(std::string_view(c["text"]));
      for (uint64_t id : simdjson::dom::array(c["ids"]))
        it->second.ids.push_back(static_cast<uint32_t>(id));
    }
  }
  return it->second;
}

void BM_Decode(benchmark::State& state, const char* encoding) {
  const wt::Tokenizer* t = wt::find(encoding);
  const Corpus& c = corpus(encoding);
  std::string out;
  out.reserve(c.text.size());
  for (auto _ : state) {
    out.clear();
    if (!t->decode(c.ids, out)) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(out.data());
  }
  if (out != c.text) state.SkipWithError("decoded text differs");
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(c.ids.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(c.text.size()));
}
BENCHMARK_CAPTURE(BM_Decode, o200k_base, "o200k_base");
BENCHMARK_CAPTURE(BM_Decode, cl100k_base, "cl100k_base");

// A short prompt's ids (the first text): the fixed cost per call.
void BM_DecodeShort(benchmark::State& state, const char* encoding) {
  const wt::Tokenizer* t = wt::find(encoding);
  const Corpus& c = corpus(encoding);
  const std::span<const uint32_t> ids(c.ids.data(), 32);
  std::string out;
  for (auto _ : state) {
    out.clear();
    benchmark::DoNotOptimize(t->decode(ids, out));
  }
  state.SetItemsProcessed(state.iterations() * 32);
}
BENCHMARK_CAPTURE(BM_DecodeShort, o200k_base, "o200k_base");

void BM_Count(benchmark::State& state, const char* encoding) {
  const wt::Tokenizer* t = wt::find(encoding);
  const Corpus& c = corpus(encoding);
  size_t n = 0;
  for (auto _ : state) {
    n = 0;
    for (const std::string& text : c.texts) n += t->count(text);
    benchmark::DoNotOptimize(n);
  }
  if (n != c.ids.size()) state.SkipWithError("count differs from js-tiktoken's");
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(c.ids.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(c.text.size()));
}
BENCHMARK_CAPTURE(BM_Count, o200k_base, "o200k_base");
BENCHMARK_CAPTURE(BM_Count, cl100k_base, "cl100k_base");

void BM_Find(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(wt::find("cl100k_base"));
}
BENCHMARK(BM_Find);

}  // namespace

int main(int argc, char** argv) {
  // Before anything else touches them: the first find() builds the tokenizer.
  for (const char* name : {"o200k_base", "cl100k_base"}) {
    const auto start = std::chrono::steady_clock::now();
    const wt::Tokenizer* t = wt::find(name);
    const auto built = std::chrono::steady_clock::now();
    std::string out;
    const uint32_t ids[] = {0, 1000, 50000, 99999};
    t->decode(ids, out);
    const auto decoded = std::chrono::steady_clock::now();
    std::printf("first find(%s): %.1f us; first decode of 4 ids: %.1f us\n", name,
                std::chrono::duration<double, std::micro>(built - start).count(),
                std::chrono::duration<double, std::micro>(decoded - built).count());
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
