// Fuzz target: a streamed answer as the pipeline relays it — upstream bytes cut into events by
// SseSplitter (read sizes chosen by the input), each event's data taken by for_each_sse_data and
// rewritten by inspect::AnswerStream (findings masked, pseudonyms restored, text held back).
// Properties: nothing crashes; every event sent on is whole and its data valid JSON; and what the
// client reads on each channel (a choice's text, a tool call's arguments) and the classes found
// are the same however the answer was chunked — into deltas and into reads — as when each
// channel's text came in one delta and the stream in one read — for findings no longer than the
// hold-back window, which is what the window promises.
#include <fuzzer/FuzzedDataProvider.h>
#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "api/api.h"
#include "common/json_writer.h"
#include "fuzz.h"
#include "inspect/answer.h"

using namespace warden;

namespace {

struct Channel {
  size_t choice;
  long tool_call;  // -1: the choice's text
};
constexpr Channel kChannels[] = {{0, -1}, {1, -1}, {0, 0}};

std::string event(const Channel& c, std::string_view text, std::string_view eol) {
  std::string data = R"({"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",)"
                     R"("choices":[{"index":)" +
                     std::to_string(c.choice) + ",\"delta\":{";
  if (c.tool_call < 0) {
    data += "\"content\":" + json_string(text);
  } else {
    data += R"("tool_calls":[{"index":)" + std::to_string(c.tool_call) +
            R"(,"function":{"arguments":)" + json_string(text) + "}}]";
  }
  data += "},\"finish_reason\":null}]}";
  return "data: " + data + std::string(eol) + std::string(eol);
}

std::string finish_event(size_t choice, std::string_view eol) {
  return R"(data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":)"
         R"([{"index":)" +
         std::to_string(choice) + R"(,"delta":{},"finish_reason":"stop"}]})" + std::string(eol) +
         std::string(eol);
}

struct Relayed {
  std::map<std::pair<size_t, long>, std::string> text;  // what the client reads per channel
  std::map<std::string, uint32_t, std::less<>> counts;
  // A finding that cannot be masked (a number literal in tool arguments) blocks the answer.
  bool blocked = false;
};

// The upstream bytes through the splitter in reads of `reads` sizes (cycled; 0: all at once),
// each event through the answer stream; the client's events parsed back.
Relayed relay(std::string_view upstream, const std::vector<size_t>& reads, size_t hold_back,
              const inspect::Pseudonyms& pseudonyms) {
  static inspect::Scratch scratch;
  static const inspect::ActionTable actions = fuzz::transform_actions();
  static simdjson::dom::parser parser;
  const inspect::Engine& engine = fuzz::engine();
  FUZZ_CHECK(scratch.prepare(engine), "scratch");
  inspect::AnswerStream stream(engine, scratch, hold_back, actions, pseudonyms);
  SseSplitter sse;
  std::string sent;
  std::string rewritten;
  bool blocked = false;
  auto on_data = [&](std::string_view data) {
    const inspect::AnswerOutcome o = stream.on_data(data, rewritten);
    FUZZ_CHECK(o.ok, "the answer stream takes a well-formed event");
    blocked = blocked || o.blocked;
    return !blocked;
  };
  size_t pos = 0;
  for (size_t r = 0; pos < upstream.size(); ++r) {
    const size_t n = reads.empty() || reads[r % reads.size()] == 0
                         ? upstream.size() - pos
                         : std::min(reads[r % reads.size()], upstream.size() - pos);
    const int64_t whole = sse.feed(upstream.substr(pos, n));
    pos += n;
    FUZZ_CHECK(whole >= 0, "no event exceeds the bound");
    if (whole == 0) continue;
    rewritten.clear();
    const bool split =
        for_each_sse_data(sse.buffered().substr(0, static_cast<size_t>(whole)), on_data);
    if (blocked) return Relayed{{}, {}, true};
    FUZZ_CHECK(split, "whole events split into data");
    sent += rewritten;
    sse.consume(static_cast<size_t>(whole));
  }
  FUZZ_CHECK(sse.empty(), "every event was whole");
  rewritten.clear();
  const inspect::AnswerOutcome last = stream.finish(rewritten);
  FUZZ_CHECK(last.ok, "finish");
  if (last.blocked) return Relayed{{}, {}, true};
  sent += rewritten;

  Relayed out;
  out.counts = stream.counts();
  SseSplitter back;
  FUZZ_CHECK(back.feed(sent) == static_cast<int64_t>(sent.size()), "whole events sent");
  FUZZ_CHECK(for_each_sse_data(
                 sent,
                 [&](std::string_view data) {
                   if (data == "[DONE]") return true;
                   simdjson::dom::element root;
                   FUZZ_CHECK(parser.parse(data).get(root) == simdjson::SUCCESS,
                              "every event sent is valid JSON");
                   for (simdjson::dom::element ch : root["choices"].get_array()) {
                     const size_t k = ch["index"].get_uint64().value();
                     std::string_view s;
                     if (ch["delta"]["content"].get_string().get(s) == simdjson::SUCCESS)
                       out.text[{k, -1}] += s;
                     simdjson::dom::array calls;
                     if (ch["delta"]["tool_calls"].get_array().get(calls) != simdjson::SUCCESS)
                       continue;
                     for (simdjson::dom::element tc : calls) {
                       const long j = static_cast<long>(tc["index"].get_uint64().value());
                       if (tc["function"]["arguments"].get_string().get(s) == simdjson::SUCCESS)
                         out.text[{k, j}] += s;
                     }
                   }
                   return true;
                 }),
             "the events sent split into data");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  static const size_t kHoldBacks[] = {16, 64, 200};
  const size_t hold_back = kHoldBacks[in.ConsumeIntegralInRange<size_t>(0, 2)];
  const std::string_view eol = in.ConsumeBool() ? "\r\n" : "\n";
  std::vector<size_t> reads;  // the sizes of the upstream reads, cycled (0: the rest)
  for (int i = 0; i < 4; ++i) reads.push_back(in.ConsumeIntegralInRange<size_t>(0, 128));
  inspect::Pseudonyms pseudonyms;
  pseudonyms.token_for("pii.email", "alice@example.com");
  pseudonyms.token_for("pii.phone", "+49 30 1234567");

  // Deltas: (channel, text). Texts must be valid UTF-8 (an upstream's JSON is); a cut between
  // deltas never splits a character.
  std::vector<std::pair<size_t, std::string>> deltas;
  while (in.remaining_bytes() > 0 && deltas.size() < 64) {
    const size_t c = in.ConsumeIntegralInRange<size_t>(0, std::size(kChannels) - 1);
    std::string text = in.ConsumeRandomLengthString(256);
    if (!simdjson::validate_utf8(text.data(), text.size())) return 0;
    deltas.emplace_back(c, std::move(text));
  }

  // Chunked: one event per delta, in the input's order; unchunked: one event per channel.
  std::string chunked, whole;
  std::map<size_t, std::string> per_channel;
  std::vector<size_t> order;
  for (const auto& [c, text] : deltas) {
    chunked += event(kChannels[c], text, eol);
    if (!per_channel.count(c)) order.push_back(c);
    per_channel[c] += text;
  }
  for (size_t c : order) whole += event(kChannels[c], per_channel[c], eol);
  for (size_t choice : {0, 1}) {
    chunked += finish_event(choice, eol);
    whole += finish_event(choice, eol);
  }
  chunked += "data: [DONE]" + std::string(eol) + std::string(eol);
  whole += "data: [DONE]" + std::string(eol) + std::string(eol);

  // The hold-back window promises the same answer however it is chunked for findings no longer
  // than the window: of a longer one (an address of 28 bytes under a window of 16) the start may
  // already have gone out, in clear, when the rest arrives. Those inputs are relayed (nothing
  // may crash) but not compared.
  bool promised = true;
  static inspect::Scratch whole_scratch;
  FUZZ_CHECK(whole_scratch.prepare(fuzz::engine()), "scratch");
  for (const auto& [c, text] : per_channel) {
    std::vector<inspect::Finding> found;
    FUZZ_CHECK(inspect::scan(fuzz::engine(), whole_scratch, text, found), "scan");
    for (const inspect::Finding& f : found) promised = promised && f.end - f.start <= hold_back;
  }

  const Relayed a = relay(chunked, reads, hold_back, pseudonyms);
  const Relayed b = relay(whole, {}, hold_back, pseudonyms);
  if (!promised) return 0;
  // Whether an answer is blocked does not depend on the chunking either.
  FUZZ_CHECK(a.blocked == b.blocked, "blocked however the answer was chunked");
  if (a.blocked) return 0;
  if (a.text != b.text) {
    for (const auto* r : {&a, &b}) {
      std::fprintf(stderr, "%s:\n", r == &a ? "chunked" : "whole");
      for (const auto& [k, t] : r->text)
        std::fprintf(stderr, "  choice %zu call %ld: '%s'\n", k.first, k.second, t.c_str());
    }
  }
  FUZZ_CHECK(a.text == b.text, "what the client reads does not depend on the chunking");
  FUZZ_CHECK(a.counts == b.counts, "the classes found do not depend on the chunking");
  return 0;
}
