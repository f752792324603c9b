#include <gtest/gtest.h>

#include "api/api.h"

namespace warden {
namespace {

class ParseCall : public ::testing::Test {
 protected:
  Result<Call> parse(CallKind kind, std::string_view body) {
    return parse_call(kind, body, parser_);
  }
  simdjson::dom::parser parser_;
};

TEST_F(ParseCall, AcceptsMinimalChat) {
  auto r = parse(CallKind::kChat, R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->model, "m");
  EXPECT_FALSE(r->stream);
}

TEST_F(ParseCall, ReadsStreamAndUsageOptionAndTools) {
  auto r = parse(CallKind::kChat,
                 R"({"model":"m","stream":true,"stream_options":{"include_usage":true},)"
                 R"("tools":[{"type":"function","function":{"name":"f"}}],)"
                 R"("messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_TRUE(r->has_tools);
}

TEST_F(ParseCall, RejectsMalformedJson) {
  auto r = parse(CallKind::kChat, R"({"model":"m","messages":[)");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kMalformedJson);
}

TEST_F(ParseCall, RejectsInvalidUtf8) {
  std::string body = R"({"model":"m","messages":[{"role":"user","content":"x"}]})";
  body[body.size() - 5] = '\xff';  // the content "x" becomes a lone 0xFF byte
  auto r = parse(CallKind::kChat, body);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kMalformedJson);
  EXPECT_NE(r.error().message.find("UTF-8"), std::string::npos) << r.error().message;
}

TEST_F(ParseCall, RejectsMissingAndWrongTypedFields) {
  struct Case {
    CallKind kind;
    const char* body;
    const char* needle;
  } cases[] = {
      {CallKind::kChat, R"({"messages":[{"role":"user","content":"x"}]})", "'model' is required"},
      {CallKind::kChat, R"({"model":5,"messages":[{"role":"user","content":"x"}]})",
       "'model' must be a string"},
      {CallKind::kChat, R"({"model":"m"})", "'messages' is required"},
      {CallKind::kChat, R"({"model":"m","messages":{}})", "'messages' must be an array"},
      {CallKind::kChat, R"({"model":"m","messages":[]})", "at least one"},
      {CallKind::kChat, R"({"model":"m","messages":[{"content":"x"}]})", "'role'"},
      {CallKind::kChat, R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})",
       "unknown role"},
      {CallKind::kChat, R"({"model":"m","messages":[{"role":"user","content":5}]})", "content"},
      {CallKind::kChat,
       R"({"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]})",
       "'stream' must be a boolean"},
      {CallKind::kChat,
       R"({"model":"m","max_tokens":"9","messages":[{"role":"user","content":"x"}]})",
       "'max_tokens' must be a number"},
      {CallKind::kCompletion, R"({"model":"m"})", "'prompt' is required"},
      {CallKind::kCompletion, R"({"model":"m","prompt":{}})", "'prompt' must be"},
      {CallKind::kEmbedding, R"({"model":"m","input":[]})", "must not be empty"},
      {CallKind::kEmbedding, R"({"model":"m","input":3})", "'input' must be"},
      {CallKind::kChat, R"([1,2])", "JSON object"},
      {CallKind::kChat, R"({"model":"a","model":"b","messages":[{"role":"user","content":"x"}]})",
       "'model' appears twice"},
      // Keys are compared after unescaping, at any depth.
      {CallKind::kChat,
       R"({"model":"a","\u006dodel":"b","messages":[{"role":"user","content":"x"}]})",
       "'model' appears twice"},
      {CallKind::kChat,
       R"({"model":"a","messages":[{"role":"user","content":"x","c\u006fntent":"y"}]})",
       "'content' appears twice"},
      {CallKind::kChat,
       R"({"model":"a","messages":[{"role":"user","content":"x"}],"tools":[{"a":{"b":{"s":1,"\u0073":2}}}]})",
       "'s' appears twice"},
  };
  for (const Case& c : cases) {
    auto r = parse(c.kind, c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos)
        << c.body << " -> " << r.error().message;
  }
}

TEST_F(ParseCall, LocatesTheModelTokenAmongUnknownFields) {
  const std::string body =
      R"({"temperature":0.5, "model" : "gpt-x", "response_format":{"type":"json_object","model":"inner"},)"
      R"("messages":[{"role":"user","content":"model"}],"reasoning":{"effort":"high"}})";
  auto r = parse(CallKind::kChat, body);
  ASSERT_TRUE(r) << r.error().message;
  // The model's token is located exactly, so the gateway can splice the upstream id in.
  EXPECT_EQ(body.substr(r->model_offset, r->model_length), "\"gpt-x\"");
}

TEST_F(ParseCall, FindsTheModelPastEscapedQuotesAndBackslashes) {
  // Escaped quotes and trailing backslashes inside strings must not end them early, and a
  // "model" key inside a nested object or a string is not the top-level one.
  const std::string body = R"({"messages":[{"role":"user","content":"a \"model\": \"x\" and \\"}],)"
                           R"("metadata":{"model":"nested"},"user":"\\\"model\"","model":"m2"})";
  auto r = parse(CallKind::kChat, body);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->model, "m2");
  EXPECT_EQ(body.substr(r->model_offset, r->model_length), "\"m2\"");
  EXPECT_EQ(body.substr(r->model_offset - 8, 8), "\"model\":");
}

TEST_F(ParseCall, LocatesAModelKeyWrittenWithEscapes) {
  // The one "model" key, however it is spelt, is the one the upstream reads: it is rewritten.
  const std::string body = R"({"\u006dodel":"m3","messages":[{"role":"user","content":"x"}]})";
  auto r = parse(CallKind::kChat, body);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->model, "m3");
  EXPECT_EQ(body.substr(r->model_offset, r->model_length), "\"m3\"");
}

TEST_F(ParseCall, MessagesNeedAnthropicTurnsAndMaxTokens) {
  constexpr std::string_view ok =
      R"({"model":"m","max_tokens":8,"system":[{"type":"text","text":"s"}],)"
      R"("messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"x"}]}]})";
  ASSERT_TRUE(parse(CallKind::kMessages, ok));
  struct Case {
    std::string_view body;
    std::string_view says;
  };
  for (
      const Case& c : {
          Case{R"({"model":"m","messages":[{"role":"user","content":"hi"}]})", "max_tokens"},
          Case{R"({"model":"m","max_tokens":8,"messages":[{"role":"system","content":"hi"}]})",
               "unknown role"},
          Case{R"({"model":"m","max_tokens":8,"messages":[{"role":"user","content":[1]}]})",
               "content blocks"},
          Case{
              R"({"model":"m","max_tokens":8,"system":1,"messages":[{"role":"user","content":"x"}]})",
              "'system'"},
      }) {
    auto r = parse(CallKind::kMessages, c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().message;
  }
  // Counting tokens takes the prompt without max_tokens.
  EXPECT_TRUE(parse(CallKind::kCountTokens,
                    R"({"model":"m","messages":[{"role":"user","content":"hi"}]})"));
}

TEST_F(ParseCall, ResponsesTakeAStringOrItems) {
  EXPECT_TRUE(
      parse(CallKind::kResponses, R"({"model":"m","input":"hi","instructions":"be brief"})"));
  EXPECT_TRUE(parse(
      CallKind::kResponses,
      R"({"model":"m","input":[{"type":"function_call_output","call_id":"c","output":"x"}]})"));
  EXPECT_TRUE(parse(CallKind::kResponses, R"({"model":"m","previous_response_id":"resp_1"})"));
  EXPECT_FALSE(parse(CallKind::kResponses, R"({"model":"m","input":7})"));
  EXPECT_FALSE(parse(CallKind::kResponses, R"({"model":"m","input":["x"]})"));
  EXPECT_FALSE(parse(CallKind::kResponses, R"({"model":"m","input":"x","instructions":[1]})"));
}

TEST(Usage, ReadsMessagesAndResponsesUsage) {
  simdjson::dom::parser parser;
  Usage u;
  ASSERT_TRUE(read_api_usage(
      R"({"type":"message_start","message":{"usage":{"input_tokens":12,"output_tokens":1}}})",
      parser, u));
  EXPECT_EQ(u.prompt_tokens, 12);
  ASSERT_TRUE(read_api_usage(R"({"type":"message_delta","usage":{"output_tokens":7}})", parser, u));
  EXPECT_EQ(u.prompt_tokens, 12);
  EXPECT_EQ(u.completion_tokens, 7);
  Usage r;
  ASSERT_TRUE(read_api_usage(
      R"({"type":"response.completed","response":{"usage":{"input_tokens":3,"output_tokens":4}}})",
      parser, r));
  EXPECT_EQ(r.prompt_tokens, 3);
  EXPECT_EQ(r.completion_tokens, 4);
}

TEST(Sse, NamedEventsKeepTheirNames) {
  const std::string events =
      "event: message_start\ndata: {\"a\":1}\n\n: ping\n\ndata: {\"b\":2}\n\n"
      "id: 7\nevent: content_block_delta\r\ndata:{\"c\":\ndata: 3}\r\n\r\n";
  std::vector<std::pair<std::string, std::string>> got;
  ASSERT_TRUE(for_each_sse_event(events, [&](std::string_view name, std::string_view data) {
    got.emplace_back(name, data);
    return true;
  }));
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(got, (std::vector<P>{P{"message_start", "{\"a\":1}"}, P{"", "{\"b\":2}"},
                                 P{"content_block_delta", "{\"c\":\n3}"}}));
}

TEST(Errors, AnthropicShapeOnMessagesRoutes) {
  const GatewayError e = make_error(ErrorCode::kModelNotFound, "The model 'x' does not exist.");
  EXPECT_EQ(
      error_json(ErrorShape::kAnthropic, e, "r1"),
      R"({"type":"error","error":{"type":"not_found_error","message":"The model 'x' does not exist."},"request_id":"r1"})");
  EXPECT_EQ(error_json(ErrorShape::kOpenAI, e, "r1"), error_json(e, "r1"));
  EXPECT_EQ(error_event(ErrorShape::kAnthropic, e, "").substr(0, 19), "event: error\ndata: ");
}

TEST(Usage, ReadsFromAnswerAndFinalEvent) {
  simdjson::dom::parser p;
  Usage u;
  ASSERT_TRUE(
      read_usage(R"({"id":"x","usage":{"prompt_tokens":12,"completion_tokens":34}})", p, u));
  EXPECT_EQ(u.prompt_tokens, 12);
  EXPECT_EQ(u.completion_tokens, 34);
  Usage none;
  ASSERT_TRUE(read_usage(R"({"id":"x","usage":null})", p, none));
  EXPECT_FALSE(none.reported());
  EXPECT_FALSE(read_usage("{not json", p, none));
}

TEST(Sse, SplitsWholeEventsAcrossArbitraryChunks) {
  const std::string stream =
      "data: {\"a\":1}\n\n: comment\n\nevent: x\ndata: {\"b\":\ndata: 2}\n\ndata: [DONE]\n\n";
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    SseSplitter s;
    std::vector<std::string> datas;
    for (size_t i = 0; i < stream.size(); i += chunk) {
      const int64_t whole = s.feed(std::string_view(stream).substr(i, chunk));
      ASSERT_GE(whole, 0);
      ASSERT_TRUE(for_each_sse_data(s.buffered().substr(0, static_cast<size_t>(whole)),
                                    [&](std::string_view d) {
                                      datas.emplace_back(d);
                                      return true;
                                    }));
      s.consume(static_cast<size_t>(whole));
    }
    EXPECT_TRUE(s.empty());
    ASSERT_EQ(datas.size(), 3u) << "chunk " << chunk;
    EXPECT_EQ(datas[0], "{\"a\":1}");
    EXPECT_EQ(datas[1], "{\"b\":\n2}");
    EXPECT_EQ(datas[2], "[DONE]");
  }
}

TEST(Sse, HandlesCrlfAndBoundsEventSize) {
  SseSplitter s(16);
  EXPECT_EQ(s.feed("data: 1\r\n\r\n"), 11);
  std::vector<std::string> got;
  EXPECT_TRUE(for_each_sse_data(s.buffered().substr(0, 11), [&](std::string_view d) {
    got.emplace_back(d);
    return true;
  }));
  EXPECT_EQ(got, std::vector<std::string>{"1"});
  s.consume(11);
  EXPECT_EQ(s.feed("data: 0123456789"), 0);
  EXPECT_EQ(s.feed("0123456789"), -1);
}

}  // namespace
}  // namespace warden
