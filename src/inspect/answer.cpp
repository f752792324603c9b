#include "inspect/answer.h"

#include "common/json_writer.h"

namespace warden::inspect {

namespace {

// Is this string the text of a choice ("choices[k].delta.content", "choices[k].text") or a tool
// call's arguments ("choices[k].delta.tool_calls[j].function.arguments")? Sets k and j.
bool text_field(const std::vector<StringToken::Segment>& p, size_t& k, long& j) {
  if (p.size() < 3 || !p[0].is("choices") || !p[1].is_index) return false;
  k = p[1].index;
  j = -1;
  if (p.size() == 3 && p[2].is("text")) return true;
  if (p.size() == 4 && (p[2].is("delta") || p[2].is("message")) && p[3].is("content")) return true;
  if (p.size() == 7 && (p[2].is("delta") || p[2].is("message")) && p[3].is("tool_calls") &&
      p[4].is_index && p[5].is("function") && p[6].is("arguments")) {
    j = static_cast<long>(p[4].index);
    return true;
  }
  return false;
}

}  // namespace

AnswerOutcome transform_answer(const Engine& engine, Scratch& scratch, const ActionTable& actions,
                               const Pseudonyms& pseudonyms, std::string& body) {
  AnswerOutcome outcome;
  BodyScan scan;
  if (scan_body(engine, scratch, body, scan) != BodyScanStatus::kOk) {
    outcome.ok = false;
    return outcome;
  }
  outcome.counts = scan.counts;
  std::vector<Splice> splices = plan_splices(scan, actions, nullptr, &outcome.blocked);
  if (!splices.empty()) body = apply_splices(body, std::move(splices));
  if (!pseudonyms.empty()) body = pseudonyms.restore(body, true);
  return outcome;
}

AnswerStream::AnswerStream(const Engine& engine, Scratch& scratch, size_t hold_back,
                           const ActionTable& actions, const Pseudonyms& pseudonyms)
    : engine_(engine),
      scratch_(scratch),
      hold_back_(hold_back),
      actions_(actions),
      pseudonyms_(pseudonyms) {}

AnswerStream::Channel& AnswerStream::channel(size_t choice, long tool_call) {
  auto [it, inserted] = channels_.try_emplace({choice, tool_call});
  if (inserted) {
    it->second.stream = std::make_unique<TextStream>(engine_, scratch_, hold_back_);
    it->second.choice = choice;
    it->second.tool_call = tool_call;
  }
  return it->second;
}

bool AnswerStream::take(Channel& c, std::string& text, AnswerOutcome& outcome) {
  bool blocked = false;
  text = c.stream->take(actions_, &pseudonyms_, blocked);
  outcome.blocked = outcome.blocked || blocked;
  size_t& counted = counted_[{c.choice, c.tool_call}];
  const auto& f = c.stream->findings();
  for (; counted < f.size(); ++counted) ++counts_[std::string(f[counted].cls)];
  return true;
}

// An extra event that carries text released at the end of a channel.
std::string AnswerStream::flush_event(const Channel& c, const std::string& text) const {
  std::string e = "data: {\"id\":" + (id_.empty() ? "\"\"" : id_) +
                  ",\"object\":" + (object_.empty() ? "\"chat.completion.chunk\"" : object_) +
                  ",\"created\":" + (created_.empty() ? "0" : created_) +
                  ",\"model\":" + (model_.empty() ? "\"\"" : model_) +
                  ",\"choices\":[{\"index\":" + std::to_string(c.choice) + ",";
  if (object_ == "\"text_completion\"") {
    e += "\"text\":" + json_string(text);
  } else if (c.tool_call < 0) {
    e += "\"delta\":{\"content\":" + json_string(text) + "}";
  } else {
    e += "\"delta\":{\"tool_calls\":[{\"index\":" + std::to_string(c.tool_call) +
         ",\"function\":{\"arguments\":" + json_string(text) + "}}]}";
  }
  e += ",\"finish_reason\":null}]}\n\n";
  return e;
}

AnswerOutcome AnswerStream::on_data(std::string_view data, std::string& out) {
  AnswerOutcome outcome;
  if (data == "[DONE]") {
    outcome = finish(out);
    out += "data: [DONE]\n\n";
    return outcome;
  }
  simdjson::dom::element root;
  if (parser_.parse(data.data(), data.size()).get(root) != simdjson::SUCCESS) {
    outcome.ok = false;
    return outcome;
  }
  // The envelope, for events this stream has to add.
  simdjson::dom::element v;
  if (root["id"].get(v) == simdjson::SUCCESS) id_ = simdjson::minify(v);
  if (root["object"].get(v) == simdjson::SUCCESS) object_ = simdjson::minify(v);
  if (root["created"].get(v) == simdjson::SUCCESS) created_ = simdjson::minify(v);
  if (root["model"].get(v) == simdjson::SUCCESS) model_ = simdjson::minify(v);

  std::vector<Splice> splices;
  std::string decoded;
  std::string released;
  const BodyScanStatus st = for_each_string(data, 64, [&](const StringToken& t) {
    size_t k = 0;
    long j = -1;
    if (!text_field(*t.path, k, j)) return true;
    // The array position is the choice's place in this event; its "index" names the choice.
    simdjson::dom::element choice;
    uint64_t index = k;
    if (root["choices"].at(k).get(choice) == simdjson::SUCCESS)
      if (choice["index"].get_uint64().get(index) != simdjson::SUCCESS) index = k;
    Channel& c = channel(index, j);
    decode_json_string(t.raw.substr(1, t.raw.size() - 2), decoded);
    if (!c.stream->feed(decoded) || !take(c, released, outcome)) return false;
    splices.push_back({static_cast<uint32_t>(t.offset),
                       static_cast<uint32_t>(t.offset + t.raw.size()), json_string(released)});
    return true;
  });
  if (st != BodyScanStatus::kOk) {
    outcome.ok = false;
    return outcome;
  }
  // A choice that finishes releases what its channels still hold, just before this event.
  simdjson::dom::array choices;
  if (root["choices"].get_array().get(choices) == simdjson::SUCCESS) {
    for (simdjson::dom::element ch : choices) {
      std::string_view reason;
      uint64_t index = 0;
      if (ch["finish_reason"].get_string().get(reason) != simdjson::SUCCESS) continue;
      if (ch["index"].get_uint64().get(index) != simdjson::SUCCESS) index = 0;
      for (auto& [key, c] : channels_) {
        if (c.choice != index || c.finished) continue;
        c.finished = true;
        if (!c.stream->finish() || !take(c, released, outcome)) {
          outcome.ok = false;
          return outcome;
        }
        if (!released.empty()) out += flush_event(c, released);
      }
    }
  }
  out += "data: ";
  out += splices.empty() ? std::string(data) : apply_splices(data, std::move(splices));
  out += "\n\n";
  return outcome;
}

AnswerOutcome AnswerStream::finish(std::string& out) {
  AnswerOutcome outcome;
  std::string released;
  for (auto& [key, c] : channels_) {
    if (c.finished) continue;
    c.finished = true;
    if (!c.stream->finish() || !take(c, released, outcome)) {
      outcome.ok = false;
      return outcome;
    }
    if (!released.empty()) out += flush_event(c, released);
  }
  return outcome;
}

}  // namespace warden::inspect
