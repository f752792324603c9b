// Inspection throughput on one core: benign prose and code, PII-dense text, streaming in 16-byte
// chunks, and the added latency of inspecting an 8 KB chat request (p50/p99 as counters).
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "inspect/answer.h"
#include "inspect/body.h"
#include "inspect/inspect.h"
#include "inspect/stream.h"

namespace wi = warden::inspect;

namespace {

const wi::Engine& engine() {
  static const wi::EnginePtr e = wi::Engine::compile();
  return *e;
}

// The same detectors, every pattern over every byte: the baseline the gates are measured against.
const wi::Engine& ungated() {
  static const wi::EnginePtr e = wi::Engine::compile({}, false);
  return *e;
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The corpus split into texts with and without findings.
struct Corpus {
  std::string dense;   // texts that carry findings, concatenated
  std::string benign;  // hard negatives + C++ headers + license texts (mixed prose and code)
};

const Corpus& corpus() {
  static const Corpus c = [] {
    Corpus c;
    simdjson::dom::parser p;
    std::ifstream in(std::string(WARDEN_SOURCE_DIR) + "/tests/data/inspect/corpus.jsonl");
    std::string line;
    std::string negatives;
    while (std::getline(in, line)) {
      simdjson::dom::element doc;
      std::string_view text;
      simdjson::dom::array findings;
      if (p.parse(line).get(doc) || doc["text"].get(text) || doc["findings"].get(findings))
        continue;
      (findings.size() ? c.dense : negatives).append(text).append("\n");
    }
    std::string prose =
        read("/usr/share/common-licenses/GPL-3") + read("/usr/share/common-licenses/Apache-2.0");
    std::string code;
    for (const auto& f : std::filesystem::directory_iterator("/usr/include/c++/12/bits")) {
      code += read(f.path());
      if (code.size() > (1 << 20)) break;
    }
    while (c.benign.size() < (2 << 20)) c.benign += negatives + prose + code.substr(0, 1 << 19);
    return c;
  }();
  return c;
}

// Scans `text` whole per iteration; reports bytes/s and findings per KB.
void scan_text(benchmark::State& state, const std::string& text, const wi::Engine& e = engine()) {
  wi::Scratch scratch;
  std::vector<wi::Finding> f;
  for (auto _ : state) {
    wi::scan(e, scratch, text, f);
    benchmark::DoNotOptimize(f.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["findings_per_kb"] = static_cast<double>(f.size()) * 1024.0 / text.size();
}

void BM_ScanBenign(benchmark::State& state) {
  scan_text(state, corpus().benign);
}
BENCHMARK(BM_ScanBenign)->Unit(benchmark::kMillisecond);

const std::string& dense_text() {
  static const std::string text = [] {
    std::string t;
    while (t.size() < (1 << 20)) t += corpus().dense;
    return t;
  }();
  return text;
}

void BM_ScanPiiDense(benchmark::State& state) {
  scan_text(state, dense_text());
}
BENCHMARK(BM_ScanPiiDense)->Unit(benchmark::kMillisecond);

void BM_ScanBenignUngated(benchmark::State& state) {
  scan_text(state, corpus().benign, ungated());
}
BENCHMARK(BM_ScanBenignUngated)->Unit(benchmark::kMillisecond);

void BM_ScanPiiDenseUngated(benchmark::State& state) {
  scan_text(state, dense_text(), ungated());
}
BENCHMARK(BM_ScanPiiDenseUngated)->Unit(benchmark::kMillisecond);

// Adversarial inputs, 1 MB each: the slowest gives the worst case per MB a request can cost.
void BM_ScanPathological(benchmark::State& state) {
  static const std::vector<std::pair<std::string, std::string>> cases = [] {
    auto repeat = [](std::string_view piece) {
      std::string out;
      while (out.size() < (1 << 20)) out.append(piece);
      return out;
    };
    return std::vector<std::pair<std::string, std::string>>{
        {"digits", std::string(1 << 20, '7')},
        {"number groups", repeat("1234 ")},
        {"card groups", repeat("4111 1111 1111 1111 ")},
        {"dotted", repeat("1.2.")},
        {"hex colons", repeat("ab12:")},
        {"iban groups", repeat("DE89 3704 ")},
        {"e-mail anchors", repeat("a@b.")},
        {"sk- anchors", repeat("sk-")},
        {"eyJ anchors", repeat("eyJ")},
        {"phone anchors", repeat("+1 ")},
        {"base64", repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkrLw")},
        {"password value", "password=" + std::string(1 << 20, 'x')}};
  }();
  const auto& [name, text] = cases[static_cast<size_t>(state.range(0))];
  state.SetLabel(name);
  scan_text(state, text);
}
BENCHMARK(BM_ScanPathological)->DenseRange(0, 11)->Unit(benchmark::kMillisecond);

void BM_Stream16ByteChunks(benchmark::State& state) {
  const std::string text = corpus().benign.substr(0, 1 << 20);
  wi::Scratch scratch;
  wi::ActionTable actions;
  actions.set("secret", wi::Action::kMask);
  for (auto _ : state) {
    wi::TextStream s(engine(), scratch, 64);
    bool blocked = false;
    size_t out = 0;
    for (size_t i = 0; i < text.size(); i += 16) {
      s.feed(std::string_view(text).substr(i, 16));
      out += s.take(actions, nullptr, blocked).size();
    }
    s.finish();
    out += s.take(actions, nullptr, blocked).size();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Stream16ByteChunks)->Unit(benchmark::kMillisecond);

// An 8 KB chat request as a gateway sees it: inspect every string value of the body; p50 and
// p99 of the time per request as counters.
void inspect_prompt(benchmark::State& state, const std::string& prompt) {
  std::string escaped;
  for (char c : prompt) {
    if (c == '"' || c == '\\') escaped.push_back('\\');
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x20) continue;
    escaped.push_back(c);
  }
  const std::string body =
      R"({"model":"m","messages":[{"role":"system","content":"You are helpful."},)"
      R"({"role":"user","content":")" +
      escaped + R"("}]})";
  wi::Scratch scratch;
  std::vector<double> us;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    wi::BodyScan scan;
    wi::scan_body(engine(), scratch, body, scan);
    benchmark::DoNotOptimize(scan.strings.data());
    us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  state.counters["body_bytes"] = static_cast<double>(body.size());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[us.size() * 99 / 100];
}

// 3 KB of the densest corpus texts (about 37 findings) and 4.8 KB of prose and code.
void BM_Inspect8KBPrompt(benchmark::State& state) {
  inspect_prompt(state, corpus().dense.substr(0, 3000) + corpus().benign.substr(0, 4800));
}
BENCHMARK(BM_Inspect8KBPrompt)->Unit(benchmark::kMicrosecond)->Iterations(20000);

// A more usual prompt: 8 KB of prose and code with one e-mail address, one phone number and one
// card number in it.
void BM_Inspect8KBTypicalPrompt(benchmark::State& state) {
  const std::string& b = corpus().benign;
  const size_t at = b.find("GNU GENERAL PUBLIC LICENSE");
  inspect_prompt(state, b.substr(at, 2600) + " Contact jane.doe@example.com or +49 30 1234567. " +
                            b.substr(at + 2600, 2600) + " Card on file: 4111 1111 1111 1111. " +
                            b.substr(b.size() / 2, 2700));
}
BENCHMARK(BM_Inspect8KBTypicalPrompt)->Unit(benchmark::kMicrosecond)->Iterations(20000);

// A streamed answer as the gateway relays it with inspection on: 20 content events ("tokenNN "),
// a final event and [DONE], each parsed, its text run through the stream and the event rewritten.
// Reports CPU per event.
void BM_AnswerStreamEvents(benchmark::State& state) {
  std::vector<std::string> events;
  for (int i = 0; i < 20; ++i) {
    events.push_back(R"({"id":"chatcmpl-bench0000000000000001","object":"chat.completion.chunk",)"
                     R"("created":1790000000,"model":"bench-1","choices":[{"index":0,"delta":)"
                     R"({"content":"token)" +
                     std::to_string(10 + i) + R"( "},"finish_reason":null}]})");
  }
  events.push_back(R"({"id":"chatcmpl-bench0000000000000001","object":"chat.completion.chunk",)"
                   R"("created":1790000000,"model":"bench-1","choices":[{"index":0,"delta":{},)"
                   R"("finish_reason":"stop"}]})");
  events.push_back("[DONE]");
  wi::Scratch scratch;
  wi::ActionTable actions;
  actions.set("pii", wi::Action::kMask);
  const wi::Pseudonyms pseudonyms;
  std::string out;
  for (auto _ : state) {
    wi::AnswerStream s(engine(), scratch, 64, actions, pseudonyms);
    for (const std::string& e : events) {
      out.clear();
      benchmark::DoNotOptimize(s.on_data(e, out));
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * events.size()));
}
BENCHMARK(BM_AnswerStreamEvents)->Unit(benchmark::kMicrosecond);

// Compiling every detector into fresh databases (an empty cache each time), and loading them from
// the cache (what a configuration reload costs).
void BM_CompileDetectors(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    char dir[] = "/tmp/warden-bench-cacheXXXXXX";
    if (::mkdtemp(dir) == nullptr) state.SkipWithError("mkdtemp");
    ::setenv("WARDEN_CACHE_DIR", dir, 1);
    state.ResumeTiming();
    benchmark::DoNotOptimize(wi::Engine::compile());
    state.PauseTiming();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
  ::unsetenv("WARDEN_CACHE_DIR");
}
BENCHMARK(BM_CompileDetectors)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_LoadDetectorsFromCache(benchmark::State& state) {
  wi::Engine::compile();  // fills the cache
  for (auto _ : state) benchmark::DoNotOptimize(wi::Engine::compile());
}
BENCHMARK(BM_LoadDetectorsFromCache)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
