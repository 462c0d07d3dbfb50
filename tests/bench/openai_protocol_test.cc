// Request bodies and what streamed chunks and responses say, in the shapes Tide, vLLM and
// SGLang send.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bench/openai_protocol.h"
#include "common/error.h"

namespace tide::bench {
namespace {

using json = nlohmann::json;

TEST(RequestBody, CompletionsWithTextOrIds) {
  RequestSpec r;
  r.prompt = "the of and";
  r.output_len = 7;
  auto body = json::parse(request_body(Endpoint::completions, "m", r, true));
  EXPECT_EQ(body["model"], "m");
  EXPECT_EQ(body["prompt"], "the of and");
  EXPECT_EQ(body["max_tokens"], 7);
  EXPECT_EQ(body["ignore_eos"], true);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["temperature"], 0.0) << "greedy unless asked, as vLLM's and SGLang's benchmarks";

  r.prompt.clear();
  r.prompt_ids = {5, 6, 7};
  body = json::parse(request_body(Endpoint::completions, "m", r, false, 0.7));
  EXPECT_EQ(body["temperature"], 0.7);
  EXPECT_EQ(body["prompt"], json::array({5, 6, 7}));
  EXPECT_EQ(body["stream"], false);
  EXPECT_FALSE(body.contains("stream_options")) << "only streams take stream_options";
}

TEST(RequestBody, ChatSendsOneUserMessage) {
  RequestSpec r;
  r.prompt = "hello there";
  r.output_len = 3;
  const auto body = json::parse(request_body(Endpoint::chat, "m", r, true));
  ASSERT_EQ(body["messages"].size(), 1u);
  EXPECT_EQ(body["messages"][0]["role"], "user");
  EXPECT_EQ(body["messages"][0]["content"], "hello there");
  EXPECT_FALSE(body.contains("prompt"));
  EXPECT_EQ(endpoint_path(Endpoint::chat), std::string("/v1/chat/completions"));
}

TEST(StreamEvent, TextChunksCountRoleAndEmptyChunksDoNot) {
  EXPECT_TRUE(parse_stream_event(R"({"choices":[{"index":0,"text":"a","finish_reason":null}],"usage":null})").content);
  EXPECT_FALSE(parse_stream_event(R"({"choices":[{"index":0,"text":"","finish_reason":"length"}]})").content);
  EXPECT_FALSE(parse_stream_event(R"({"choices":[{"delta":{"role":"assistant","content":""}}]})").content);
  EXPECT_TRUE(parse_stream_event(R"({"choices":[{"delta":{"content":"x"}}]})").content);
  EXPECT_TRUE(parse_stream_event(R"({"choices":[{"delta":{"reasoning_content":"hmm"}}]})").content);
  EXPECT_FALSE(parse_stream_event(R"({"choices":[{"delta":{"content":null}}]})").content);
  EXPECT_TRUE(parse_stream_event("[DONE]").done);
}

TEST(StreamEvent, UsageChunk) {
  const auto event = parse_stream_event(
      R"({"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":8}}})");
  ASSERT_TRUE(event.usage);
  EXPECT_FALSE(event.content);
  EXPECT_EQ(event.usage->prompt_tokens, 12);
  EXPECT_EQ(event.usage->completion_tokens, 5);
  EXPECT_EQ(event.usage->cached_tokens, 8);
  const auto plain = parse_stream_event(R"({"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}})");
  ASSERT_TRUE(plain.usage);
  EXPECT_FALSE(plain.usage->cached_tokens);
}

TEST(StreamEvent, ErrorsAndGarbage) {
  const auto event = parse_stream_event(R"({"error":{"message":"out of memory","type":"server_error"}})");
  ASSERT_TRUE(event.error);
  EXPECT_EQ(*event.error, "out of memory");
  EXPECT_THROW(parse_stream_event("not json"), Error);
  EXPECT_THROW(parse_stream_event("[1,2]"), Error);
}

TEST(Response, UsageOfAWholeResponse) {
  const auto usage = parse_response_usage(R"({"choices":[{"text":"abc"}],"usage":{"prompt_tokens":3,"completion_tokens":4}})");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->completion_tokens, 4);
  EXPECT_FALSE(parse_response_usage(R"({"choices":[]})"));
  EXPECT_THROW(parse_response_usage("<html>"), Error);
}

TEST(Models, FirstId) {
  EXPECT_EQ(first_model_id(R"({"object":"list","data":[{"id":"deepseek-v3","object":"model"},{"id":"b"}]})"),
            "deepseek-v3");
  EXPECT_THROW(first_model_id(R"({"object":"list","data":[]})"), Error);
  EXPECT_THROW(first_model_id("{}"), Error);
}

TEST(Endpoint, ParsesNames) {
  EXPECT_EQ(parse_endpoint("chat"), Endpoint::chat);
  EXPECT_EQ(parse_endpoint("completions"), Endpoint::completions);
  EXPECT_THROW(parse_endpoint("embeddings"), Error);
}

}  // namespace
}  // namespace tide::bench
