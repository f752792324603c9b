// Fuzz target: a request body from parse to the bytes sent upstream — api::parse_call, then every
// string scanned (inspect::scan_body), masks and pseudonyms planned (plan_transform) and spliced
// in with the model rewrite (apply_splices), as the pipeline does.
// Properties: nothing crashes; what would be sent upstream is valid JSON of the same structure —
// same types, members and array lengths, same numbers, booleans and nulls; a string or a key
// differs only where a finding was replaced (or it is the top-level `model`).
#include <simdjson.h>

#include <cstdint>
#include <set>
#include <string>

#include "api/api.h"
#include "common/json_writer.h"
#include "fuzz.h"

using namespace warden;
using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {

struct Compare {
  const std::set<std::string, std::less<>>& transformed;  // decoded texts that had findings
  size_t changed = 0;

  bool same(element a, element b, bool top) {
    if (a.type() != b.type()) return false;
    switch (a.type()) {
      case element_type::ARRAY: {
        const auto x = a.get_array().value_unsafe();
        const auto y = b.get_array().value_unsafe();
        if (x.size() != y.size()) return false;
        auto j = y.begin();
        for (element v : x) {
          if (!same(v, *j, false)) return false;
          ++j;
        }
        return true;
      }
      case element_type::OBJECT: {
        const auto x = a.get_object().value_unsafe();
        const auto y = b.get_object().value_unsafe();
        if (x.size() != y.size()) return false;
        auto j = y.begin();
        for (const auto& field : x) {
          // A key with a finding may be pseudonymised (body.h, Place::kKey).
          if (field.key != j.key()) {
            if (transformed.count(field.key) == 0) return false;
            ++changed;
          }
          if (!(top && field.key == "model") && !same(field.value, j.value(), false)) return false;
          ++j;
        }
        return true;
      }
      case element_type::STRING: {
        const std::string_view s = a.get_string().value_unsafe();
        if (s == b.get_string().value_unsafe()) return true;
        ++changed;
        return transformed.count(s) != 0;
      }
      case element_type::INT64:
        return a.get_int64().value_unsafe() == b.get_int64().value_unsafe();
      case element_type::UINT64:
        return a.get_uint64().value_unsafe() == b.get_uint64().value_unsafe();
      case element_type::DOUBLE:
        return a.get_double().value_unsafe() == b.get_double().value_unsafe();
      case element_type::BOOL:
        return a.get_bool().value_unsafe() == b.get_bool().value_unsafe();
      case element_type::NULL_VALUE:
        return true;
    }
    return false;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  static simdjson::dom::parser parser;
  static simdjson::dom::parser out_parser;
  static inspect::Scratch scratch;
  static const inspect::ActionTable actions = fuzz::transform_actions();

  Result<Call> call = make_error(ErrorCode::kInvalidRequest, "");
  for (CallKind kind : {CallKind::kChat, CallKind::kCompletion, CallKind::kEmbedding}) {
    call = parse_call(kind, body, parser);
    if (call) break;
  }
  if (!call) return 0;
  FUZZ_CHECK(call->model_offset + call->model_length <= body.size(), "model token inside the body");
  FUZZ_CHECK(call->model_length >= 2 && body[call->model_offset] == '"' &&
                 body[call->model_offset + call->model_length - 1] == '"',
             "the model's span is a string token");

  const inspect::Engine& engine = fuzz::engine();
  FUZZ_CHECK(scratch.prepare(engine), "scratch");
  inspect::BodyScan scan;
  if (inspect::scan_body(engine, scratch, body, scan) != inspect::BodyScanStatus::kOk) return 0;
  inspect::Pseudonyms pseudonyms;
  const std::vector<inspect::Splice> splices = inspect::plan_transform(scan, actions, pseudonyms);
  const inspect::Splice model{static_cast<uint32_t>(call->model_offset),
                              static_cast<uint32_t>(call->model_offset + call->model_length),
                              json_string("upstream-model")};
  const std::string sent = inspect::apply_splices(body, splices, &model);

  std::set<std::string, std::less<>> transformed;
  for (const inspect::BodyString& s : scan.strings)
    transformed.insert(s.written_at.empty() ? s.text : s.written);  // as the client wrote it
  element before, after;
  FUZZ_CHECK(parser.parse(body).get(before) == simdjson::SUCCESS, "the body parses again");
  FUZZ_CHECK(out_parser.parse(sent).get(after) == simdjson::SUCCESS,
             "the body sent upstream is valid JSON");
  Compare cmp{transformed};
  FUZZ_CHECK(cmp.same(before, after, true), "the body sent upstream has the client's structure");
  FUZZ_CHECK(cmp.changed <= splices.size(), "only transformed strings changed");
  std::string_view upstream_model;
  FUZZ_CHECK(after["model"].get_string().get(upstream_model) == simdjson::SUCCESS &&
                 upstream_model == "upstream-model",
             "model rewritten");
  return 0;
}
