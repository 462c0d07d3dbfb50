// Request bodies → typed requests → engine requests: every prompt form, every parameter, and
// a 400 naming the field for everything wrong.
#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/json_body.h"
#include "server/openai_request.h"

namespace tide::server {
namespace {

OpenAiRequest completion(const std::string& body) {
  return parse_openai_request(Endpoint::Completions, parse_json_body(body));
}
OpenAiRequest chat(const std::string& body) {
  return parse_openai_request(Endpoint::ChatCompletions, parse_json_body(body));
}

// The ApiError a body gets, with the parameter it names.
ApiError error_of(Endpoint endpoint, const std::string& body) {
  try {
    parse_openai_request(endpoint, parse_json_body(body));
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << body;
  return ApiError(0, "");
}

void expect_invalid(Endpoint endpoint, const std::string& body, const std::string& param) {
  const ApiError e = error_of(endpoint, body);
  EXPECT_EQ(e.status, 400) << body;
  EXPECT_EQ(e.param, param) << body << ": " << e.what();
  EXPECT_EQ(e.type, "invalid_request_error");
}

const std::string kUser = R"("messages": [{"role": "user", "content": "hi"}])";

TEST(JsonBody, MalformedJsonIs400) {
  for (const char* body : {"{", "{\"a\": }", "[1, 2", "nul", "{\"a\": 1} trailing"}) {
    try {
      parse_json_body(body);
      ADD_FAILURE() << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400);
      EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
    }
  }
}

TEST(JsonBody, EmptyBodyIs400) { EXPECT_THROW(parse_json_body(""), ApiError); }

TEST(JsonBody, NumberBeyondADoubleIs400) {
  try {
    parse_json_body(R"({"max_tokens": 1E473})");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
  }
}

TEST(JsonBody, InvalidUtf8InAStringIs400) {
  EXPECT_THROW(parse_json_body("{\"prompt\": \"\xff\xfe\"}"), ApiError);
  EXPECT_THROW(parse_json_body(R"({"prompt": "\ud800"})"), ApiError);  // lone surrogate
}

TEST(JsonBody, DeepNestingIsRefused) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  try {
    parse_json_body(deep);
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(std::string(e.what()).find("nested deeper than 64"), std::string::npos) << e.what();
  }
  const std::string ok = std::string(63, '[') + std::string(63, ']');
  EXPECT_NO_THROW(parse_json_body(ok));
  const std::string too_deep = std::string(65, '[') + std::string(65, ']');
  EXPECT_THROW(parse_json_body(too_deep), ApiError);
}

TEST(CompletionRequest, PromptAsString) {
  auto r = completion(R"({"prompt": "Hello"})");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(std::get<std::string>(r.prompts[0]), "Hello");
}

TEST(CompletionRequest, PromptAsListOfStrings) {
  auto r = completion(R"({"prompt": ["a", "b", "c"]})");
  ASSERT_EQ(r.prompts.size(), 3u);
  EXPECT_EQ(std::get<std::string>(r.prompts[2]), "c");
}

TEST(CompletionRequest, PromptAsTokenIds) {
  auto r = completion(R"({"prompt": [1, 2, 3]})");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(std::get<std::vector<int32_t>>(r.prompts[0]), (std::vector<int32_t>{1, 2, 3}));
}

TEST(CompletionRequest, PromptAsListOfTokenIdLists) {
  auto r = completion(R"({"prompt": [[1, 2], [3]]})");
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(std::get<std::vector<int32_t>>(r.prompts[1]), (std::vector<int32_t>{3}));
}

TEST(CompletionRequest, BadPrompts) {
  for (const char* body : {R"({})", R"({"prompt": null})", R"({"prompt": 5})", R"({"prompt": {}})", R"({"prompt": []})",
                           R"({"prompt": [1, "a"]})", R"({"prompt": ["a", 1]})", R"({"prompt": [[1], 2]})",
                           R"({"prompt": [[]]})", R"({"prompt": [-1]})", R"({"prompt": [1.5]})",
                           R"({"prompt": [3000000000]})", R"({"prompt": [true]})"})
    expect_invalid(Endpoint::Completions, body, "prompt");
}

TEST(CompletionRequest, Defaults) {
  auto r = completion(R"({"prompt": "x"})");
  EXPECT_EQ(r.n, 1);
  EXPECT_FALSE(r.max_tokens);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 1.f);
  EXPECT_EQ(r.top_logprobs, -1);
  EXPECT_FALSE(r.stream);
  EXPECT_TRUE(r.stop.empty());
}

TEST(CompletionRequest, EveryParameter) {
  auto r = completion(R"({"prompt": "x", "model": "m", "temperature": 0.5, "top_p": 0.9, "top_k": 40, "min_p": 0.1,
    "max_tokens": 32, "n": 3, "stop": ["a", "b"], "seed": 7, "presence_penalty": 1.5, "frequency_penalty": -1,
    "repetition_penalty": 1.2, "logprobs": 5, "ignore_eos": true, "priority": 2, "stream": true,
    "stream_options": {"include_usage": true}, "user": "ignored", "stop_token_ids": [9],
    "include_stop_str_in_output": true, "best_of": 3, "echo": false, "logit_bias": {}})");
  EXPECT_EQ(r.model, "m");
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.1f);
  EXPECT_EQ(*r.max_tokens, 32);
  EXPECT_EQ(r.n, 3);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*r.sampling.seed, 7u);
  EXPECT_FLOAT_EQ(r.presence_penalty, 1.5f);
  EXPECT_FLOAT_EQ(r.frequency_penalty, -1.f);
  EXPECT_FLOAT_EQ(r.repetition_penalty, 1.2f);
  EXPECT_EQ(r.top_logprobs, 5);
  EXPECT_TRUE(r.ignore_eos);
  EXPECT_EQ(r.priority, 2);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.stop_token_ids, (std::vector<int32_t>{9}));
  EXPECT_TRUE(r.include_stop_str_in_output);
}

TEST(CompletionRequest, StopAsString) { EXPECT_EQ(completion(R"({"prompt": "x", "stop": "\n"})").stop.size(), 1u); }

TEST(CompletionRequest, NullMeansAbsent) {
  auto r = completion(R"({"prompt": "x", "temperature": null, "stop": null, "max_tokens": null, "seed": null})");
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.f);
  EXPECT_FALSE(r.max_tokens);
}

TEST(CompletionRequest, IntegralFloatsAreIntegers) {
  EXPECT_EQ(*completion(R"({"prompt": "x", "max_tokens": 8.0})").max_tokens, 8);
}

TEST(CompletionRequest, WrongTypesNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("temperature": "hot")", "temperature"}, {R"("max_tokens": "10")", "max_tokens"},
      {R"("max_tokens": 1.5)", "max_tokens"},     {R"("n": true)", "n"},
      {R"("stream": 1)", "stream"},               {R"("stop": 5)", "stop"},
      {R"("stop": [1])", "stop"},                 {R"("seed": "x")", "seed"},
      {R"("seed": 1.5)", "seed"},                 {R"("model": 3)", "model"},
      {R"("logprobs": true)", "logprobs"},        {R"("top_k": 2.5)", "top_k"},
      {R"("ignore_eos": "yes")", "ignore_eos"},   {R"("stop_token_ids": 3)", "stop_token_ids"},
      {R"("priority": "high")", "priority"}};
  for (const auto& [field, param] : cases)
    expect_invalid(Endpoint::Completions, R"({"prompt": "x", )" + field + "}", param);
}

TEST(CompletionRequest, OutOfRangeValuesNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("temperature": -0.1)", "temperature"},   {R"("temperature": 1000)", "temperature"},
      {R"("top_p": 0)", "top_p"},                  {R"("top_p": 1.5)", "top_p"},
      {R"("min_p": 2)", "min_p"},                  {R"("top_k": -2)", "top_k"},
      {R"("max_tokens": 0)", "max_tokens"},        {R"("max_tokens": -5)", "max_tokens"},
      {R"("max_tokens": 1e30)", "max_tokens"},     {R"("max_tokens": 99999999999)", "max_tokens"},
      {R"("n": 0)", "n"},                          {R"("n": 1000)", "n"},
      {R"("presence_penalty": 2.5)", "presence_penalty"}, {R"("frequency_penalty": -3)", "frequency_penalty"},
      {R"("repetition_penalty": 0)", "repetition_penalty"}, {R"("logprobs": 21)", "logprobs"},
      {R"("logprobs": -1)", "logprobs"},           {R"("stop": [""])", "stop"},
      {R"("stop": ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"])", "stop"}};
  for (const auto& [field, param] : cases)
    expect_invalid(Endpoint::Completions, R"({"prompt": "x", )" + field + "}", param);
}

TEST(CompletionRequest, TooManyChoices) {
  expect_invalid(Endpoint::Completions, R"({"prompt": ["a","b","c","d","e"], "n": 16})", "n");
}

TEST(CompletionRequest, UnsupportedOptionsAreRefused) {
  expect_invalid(Endpoint::Completions, R"({"prompt": "x", "echo": true})", "echo");
  expect_invalid(Endpoint::Completions, R"({"prompt": "x", "suffix": "end"})", "suffix");
  expect_invalid(Endpoint::Completions, R"({"prompt": "x", "best_of": 2})", "best_of");
  expect_invalid(Endpoint::Completions, R"({"prompt": "x", "logit_bias": {"1": 5}})", "logit_bias");
  expect_invalid(Endpoint::Completions, R"({"prompt": "x", "response_format": {"type": "json_object"}})",
                 "response_format");
  // A type that is not a string is refused the same way, not thrown from the JSON library.
  expect_invalid(Endpoint::Completions, R"({"prompt": "x", "response_format": {"type": 1}})", "response_format");
  expect_invalid(Endpoint::Completions, R"({"prompt": "x", "response_format": {"type": null}})", "response_format");
}

TEST(CompletionRequest, StreamOptionsNeedStream) {
  expect_invalid(Endpoint::Completions, R"({"prompt": "x", "stream_options": {"include_usage": true}})",
                 "stream_options");
}

TEST(CompletionRequest, BodyMustBeAnObject) {
  EXPECT_EQ(error_of(Endpoint::Completions, "[1]").status, 400);
  EXPECT_EQ(error_of(Endpoint::Completions, "\"text\"").status, 400);
}

TEST(ChatRequest, MessagesWithStringAndPartsContent) {
  auto r = chat(R"({"messages": [
      {"role": "system", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
      {"role": "assistant", "content": null, "tool_calls": []},
      {"role": "developer", "content": "dev"}]})");
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[1]["content"], "one\ntwo");
  EXPECT_TRUE(r.messages[2]["content"].is_null());
  EXPECT_TRUE(r.messages[2].contains("tool_calls"));  // other keys pass through to the template
  EXPECT_EQ(r.messages[3]["role"], "system");
  EXPECT_TRUE(r.tools.is_null());
}

TEST(ChatRequest, BadMessages) {
  expect_invalid(Endpoint::ChatCompletions, R"({})", "messages");
  expect_invalid(Endpoint::ChatCompletions, R"({"messages": []})", "messages");
  expect_invalid(Endpoint::ChatCompletions, R"({"messages": "hi"})", "messages");
  expect_invalid(Endpoint::ChatCompletions, R"({"messages": [5]})", "messages[0]");
  expect_invalid(Endpoint::ChatCompletions, R"({"messages": [{"content": "x"}]})", "messages[0].role");
  expect_invalid(Endpoint::ChatCompletions, R"({"messages": [{"role": "robot", "content": "x"}]})", "messages[0].role");
  expect_invalid(Endpoint::ChatCompletions, R"({"messages": [{"role": "user"}]})", "messages[0].content");
  expect_invalid(Endpoint::ChatCompletions, R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content");
  expect_invalid(Endpoint::ChatCompletions,
                 R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})",
                 "messages[0].content");
  expect_invalid(Endpoint::ChatCompletions, R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})",
                 "messages[0].content");
}

TEST(ChatRequest, ToolsPassThroughInOrder) {
  auto r = chat(R"({)" + kUser + R"(, "tools": [{"type": "function", "function": {"name": "f", "parameters": {"z": 1, "a": 2}}}],
    "tool_choice": "auto"})");
  ASSERT_TRUE(r.tools.is_array());
  EXPECT_EQ(r.tools[0]["function"]["parameters"].dump(), R"({"z":1,"a":2})");
}

TEST(ChatRequest, BadTools) {
  expect_invalid(Endpoint::ChatCompletions, "{" + kUser + R"(, "tools": {}})", "tools");
  expect_invalid(Endpoint::ChatCompletions, "{" + kUser + R"(, "tools": [{"type": "function"}]})", "tools");
  // A "type" that is not a string is a bad request, not an exception from the JSON library.
  expect_invalid(Endpoint::ChatCompletions, "{" + kUser + R"(, "tools": [{"type": ["function"]}]})", "tools");
  expect_invalid(Endpoint::ChatCompletions, "{" + kUser + R"(, "tools": [{"type": 7, "function": {"name": "f"}}]})",
                 "tools");
  expect_invalid(Endpoint::ChatCompletions,
                 "{" + kUser + R"(, "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "required"})",
                 "tool_choice");
}

TEST(ChatRequest, LogprobsAreABooleanWithTopLogprobs) {
  EXPECT_EQ(chat("{" + kUser + R"(, "logprobs": true})").top_logprobs, 0);
  EXPECT_EQ(chat("{" + kUser + R"(, "logprobs": true, "top_logprobs": 3})").top_logprobs, 3);
  EXPECT_EQ(chat("{" + kUser + R"(, "logprobs": false})").top_logprobs, -1);
  expect_invalid(Endpoint::ChatCompletions, "{" + kUser + R"(, "top_logprobs": 3})", "top_logprobs");
  expect_invalid(Endpoint::ChatCompletions, "{" + kUser + R"(, "logprobs": true, "top_logprobs": 21})", "top_logprobs");
  expect_invalid(Endpoint::ChatCompletions, "{" + kUser + R"(, "logprobs": 3})", "logprobs");
}

TEST(ChatRequest, MaxCompletionTokensWins) {
  EXPECT_EQ(*chat("{" + kUser + R"(, "max_tokens": 5, "max_completion_tokens": 9})").max_tokens, 9);
}

TEST(ChatRequest, TemplateKwargs) {
  EXPECT_EQ(chat("{" + kUser + R"(, "chat_template_kwargs": {"thinking": true}})").template_kwargs["thinking"], true);
  expect_invalid(Endpoint::ChatCompletions, "{" + kUser + R"(, "chat_template_kwargs": 1})", "chat_template_kwargs");
}

TEST(GenerationRequests, OnePerChoiceWithSeedsAndIds) {
  auto r = completion(R"({"prompt": [[1, 2], [3]], "n": 2, "seed": 10, "max_tokens": 4, "stop": ["x"],
    "temperature": 0.7, "top_k": 5, "logprobs": 2, "ignore_eos": true, "priority": 3, "presence_penalty": 0.5})");
  auto g = make_generation_requests(r, {{1, 2}, {3}}, "abc", {.context_length = 100});
  ASSERT_EQ(g.size(), 4u);
  EXPECT_EQ(g[0].id, "abc-0");
  EXPECT_EQ(g[3].id, "abc-3");
  EXPECT_EQ(g[0].prompt, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(g[1].prompt, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(g[2].prompt, (std::vector<int32_t>{3}));
  EXPECT_EQ(*g[0].sampling.seed, 10u);
  EXPECT_EQ(*g[1].sampling.seed, 11u);
  EXPECT_EQ(*g[2].sampling.seed, 10u);
  for (const auto& x : g) {
    EXPECT_EQ(x.max_tokens, 4);
    EXPECT_EQ(x.stop, (std::vector<std::string>{"x"}));
    EXPECT_FLOAT_EQ(x.sampling.temperature, 0.7f);
    EXPECT_EQ(x.sampling.top_k, 5);
    EXPECT_EQ(x.top_logprobs, 2);
    EXPECT_TRUE(x.ignore_eos);
    EXPECT_EQ(x.priority, 3);
    EXPECT_FLOAT_EQ(x.presence_penalty, 0.5f);
  }
}

TEST(GenerationRequests, NoSeedStaysUnseeded) {
  auto r = completion(R"({"prompt": "x", "n": 2})");
  for (const auto& g : make_generation_requests(r, {{1}}, "id", {.context_length = 100})) EXPECT_FALSE(g.sampling.seed);
}

TEST(GenerationRequests, DefaultMaxTokens) {
  auto c = completion(R"({"prompt": "x"})");
  EXPECT_EQ(make_generation_requests(c, {{1, 2, 3}}, "id", {.context_length = 100})[0].max_tokens, 16);
  auto ch = chat("{" + kUser + "}");
  // Chat: the rest of the context, within the cap.
  EXPECT_EQ(make_generation_requests(ch, {{1, 2, 3}}, "id", {.context_length = 100})[0].max_tokens, 97);
  EXPECT_EQ(make_generation_requests(ch, {{1, 2, 3}}, "id", {.context_length = 100, .max_tokens_cap = 20})[0].max_tokens,
            20);
}

}  // namespace
}  // namespace tide::server
