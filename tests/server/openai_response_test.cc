// The JSON shapes of responses, stream chunks, usage and logprobs, field by field as OpenAI's
// clients read them.
#include <gtest/gtest.h>

#include "server/openai_response.h"

namespace tide::server {
namespace {

using Json = nlohmann::ordered_json;

const tokenizer::Tokenizer& tok() {
  static const auto t = tokenizer::Tokenizer::from_directory(TIDE_FIXTURES_DIR "/models/deepseek-v3-tiny");
  return t;
}

const ResponseMeta kMeta{"chatcmpl-1", 1700000000, "tiny"};

ChoiceOutput output(std::string text, std::optional<std::string> reasoning = std::nullopt,
                    FinishReason finish = FinishReason::Stop) {
  ChoiceOutput c;
  c.text = std::move(text);
  c.reasoning = std::move(reasoning);
  c.finish = finish;
  return c;
}

TEST(OpenAiResponse, FinishReasons) {
  EXPECT_STREQ(openai_finish_reason(FinishReason::Stop), "stop");
  EXPECT_STREQ(openai_finish_reason(FinishReason::Length), "length");
  EXPECT_STREQ(openai_finish_reason(FinishReason::Deadline), "length");
  EXPECT_STREQ(openai_finish_reason(FinishReason::Cancelled), "abort");
  EXPECT_STREQ(openai_finish_reason(FinishReason::Error), "error");
}

TEST(OpenAiResponse, Usage) {
  const Json u = usage_json({.prompt_tokens = 10, .completion_tokens = 5, .cached_tokens = 4});
  EXPECT_EQ(u.dump(),
            R"({"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4}})");
}

TEST(OpenAiResponse, ChatCompletion) {
  ChoiceOutput a = output("Hi", "hmm");
  ChoiceOutput b = output("Yo", "", FinishReason::Length);
  const Json r = chat_response(kMeta, {a, b}, {.prompt_tokens = 3, .completion_tokens = 4}, tok());
  EXPECT_EQ(r["id"], "chatcmpl-1");
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["created"], 1700000000);
  EXPECT_EQ(r["model"], "tiny");
  ASSERT_EQ(r["choices"].size(), 2u);
  EXPECT_EQ(r["choices"][0]["index"], 0);
  EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(r["choices"][0]["message"]["content"], "Hi");
  EXPECT_EQ(r["choices"][0]["message"]["reasoning_content"], "hmm");
  EXPECT_TRUE(r["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(r["choices"][1]["index"], 1);
  EXPECT_TRUE(r["choices"][1]["message"]["reasoning_content"].is_null());
  EXPECT_EQ(r["choices"][1]["finish_reason"], "length");
  EXPECT_EQ(r["usage"]["total_tokens"], 7);
}

TEST(OpenAiResponse, ChatWithoutReasoningParserHasNoReasoningKey) {
  const Json r = chat_response(kMeta, {output("x")}, {}, tok());
  EXPECT_FALSE(r["choices"][0]["message"].contains("reasoning_content"));
}

TEST(OpenAiResponse, TextCompletion) {
  const Json r = completion_response({"cmpl-1", 1, "tiny"}, {output("abc")}, {}, tok());
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_EQ(r["choices"][0]["text"], "abc");
  EXPECT_EQ(r["choices"][0]["index"], 0);
  EXPECT_TRUE(r["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(r.contains("usage"));
}

TEST(OpenAiResponse, ChatChunk) {
  const Json c = chat_chunk(kMeta, 2, {{"content", "x"}}, nullptr, std::nullopt);
  EXPECT_EQ(c["object"], "chat.completion.chunk");
  EXPECT_EQ(c["choices"][0]["index"], 2);
  EXPECT_EQ(c["choices"][0]["delta"]["content"], "x");
  EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(c.contains("usage"));
  const Json last = chat_chunk(kMeta, 0, Json::object(), nullptr, FinishReason::Stop);
  EXPECT_EQ(last["choices"][0]["delta"].dump(), "{}");
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
}

TEST(OpenAiResponse, CompletionChunk) {
  const Json c = completion_chunk({"cmpl-1", 1, "tiny"}, 0, "tok", nullptr, FinishReason::Length);
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_EQ(c["choices"][0]["text"], "tok");
  EXPECT_EQ(c["choices"][0]["finish_reason"], "length");
}

TEST(OpenAiResponse, UsageChunkHasNoChoices) {
  const Json c = usage_chunk(kMeta, Endpoint::ChatCompletions, {.prompt_tokens = 1, .completion_tokens = 2});
  EXPECT_EQ(c["object"], "chat.completion.chunk");
  EXPECT_TRUE(c["choices"].is_array());
  EXPECT_TRUE(c["choices"].empty());
  EXPECT_EQ(c["usage"]["total_tokens"], 3);
}

TEST(OpenAiResponse, ChatLogprobs) {
  const int32_t a = tok().encode("a")[0], b = tok().encode("b")[0];
  const Json lp = chat_logprobs({{a, -0.5f, {{a, -0.5f}, {b, -1.5f}}}}, tok());
  ASSERT_EQ(lp["content"].size(), 1u);
  EXPECT_EQ(lp["content"][0]["token"], "a");
  EXPECT_FLOAT_EQ(lp["content"][0]["logprob"].get<float>(), -0.5f);
  EXPECT_EQ(lp["content"][0]["bytes"].dump(), "[97]");
  ASSERT_EQ(lp["content"][0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(lp["content"][0]["top_logprobs"][1]["token"], "b");
}

TEST(OpenAiResponse, CompletionLogprobsWithOffsets) {
  const auto ids = tok().encode("ab cd");
  std::vector<TokenLogprob> lps;
  for (auto id : ids) lps.push_back({id, -1.f, {{id, -1.f}}});
  const Json lp = completion_logprobs(lps, tok(), 10);
  ASSERT_EQ(lp["tokens"].size(), ids.size());
  EXPECT_EQ(lp["text_offset"][0], 10);
  std::string joined;
  for (const auto& t : lp["tokens"]) joined += t.get<std::string>();
  EXPECT_EQ(joined, "ab cd");
  EXPECT_EQ(lp["text_offset"].back(), 10 + 5 - lp["tokens"].back().get<std::string>().size());
  EXPECT_TRUE(lp["top_logprobs"][0].is_object());
}

TEST(OpenAiResponse, SpecialTokensAddNoTextOffset) {
  const int32_t a = tok().encode("a")[0], eos = *tok().eos_id();
  const Json lp = completion_logprobs({{eos, -1.f, {}}, {a, -1.f, {}}}, tok(), 0);
  EXPECT_EQ(lp["text_offset"].dump(), "[0,0]");
  EXPECT_EQ(token_text_bytes(tok(), eos), 0u);
  EXPECT_EQ(token_text_bytes(tok(), a), 1u);
}

TEST(OpenAiResponse, InvalidUtf8IsReplacedNotThrown) {
  EXPECT_NO_THROW(dump_json(Json{{"text", std::string("\xff")}}));
}

}  // namespace
}  // namespace tide::server
