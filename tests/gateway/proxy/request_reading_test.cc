// What the gateway reads from requests, answers and discovery files: the routing traits of a
// request body (and the bodies it refuses), the generated text a mirrored answer is compared
// by, and the host:port lines of a discovery file.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <random>

#include "gateway/proxy/request_inspector.h"
#include "gateway/proxy/response_text.h"
#include "gateway/proxy/traits_reading.h"
#include "gateway/runtime/pool_watcher.h"
#include "server/api_error.h"
#include "server/json_body.h"

namespace tide::gateway {
namespace {

// The inspector reads bodies as a stream of parse events; this reads them as a document, the
// plain way, and must agree with it on every body: the same traits, or the same refusal.
namespace reference {

using Json = nlohmann::ordered_json;
constexpr std::size_t kPrefixChars = 8192;

void append_bounded(std::string& out, std::string_view text) {
  if (out.size() >= kPrefixChars) return;
  out.append(text.substr(0, kPrefixChars - out.size()));
}

void append_prompt(std::string& out, const Json& prompt) {
  if (prompt.is_string()) return append_bounded(out, prompt.get_ref<const std::string&>());
  if (!prompt.is_array()) server::invalid_param("prompt", "prompt must be a string or an array");
  if (prompt.empty()) return;
  const Json& first = prompt.front();
  if (first.is_string()) return append_bounded(out, first.get_ref<const std::string&>());
  if (first.is_number_integer()) {
    for (const auto& id : prompt) {
      if (!id.is_number_integer()) server::invalid_param("prompt", "a token-id prompt holds integers only");
      append_bounded(out, fmt::format("{},", id.get<int64_t>()));
    }
    return;
  }
  if (first.is_array()) return append_prompt(out, first);
  server::invalid_param("prompt", "prompt must be a string, strings, token ids or lists of token ids");
}

void append_messages(std::string& out, const Json& messages) {
  if (!messages.is_array()) server::invalid_param("messages", "messages must be an array");
  for (const auto& m : messages) {
    if (!m.is_object()) server::invalid_param("messages", "each message must be an object");
    if (auto role = m.find("role"); role != m.end() && role->is_string()) {
      append_bounded(out, role->get_ref<const std::string&>());
      append_bounded(out, ":");
    }
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) continue;
    if (content->is_string()) {
      append_bounded(out, content->get_ref<const std::string&>());
    } else if (content->is_array()) {
      for (const auto& part : *content)
        if (part.is_object())
          if (auto text = part.find("text"); text != part.end() && text->is_string())
            append_bounded(out, text->get_ref<const std::string&>());
    }
    append_bounded(out, "\n");
  }
}

RequestTraits inspect(std::string_view body, int max_json_depth = 64) {
  const Json json = server::parse_json_body(body, max_json_depth);
  if (!json.is_object()) throw server::ApiError(400, "the request body must be a JSON object");
  RequestTraits traits;
  if (auto model = json.find("model"); model != json.end()) {
    if (!model->is_string()) server::invalid_param("model", "model must be a string");
    traits.model = model->get<std::string>();
  }
  if (auto stream = json.find("stream"); stream != json.end() && !stream->is_null()) {
    if (!stream->is_boolean()) server::invalid_param("stream", "stream must be a boolean");
    traits.stream = stream->get<bool>();
  }
  if (auto user = json.find("user"); user != json.end() && !user->is_null()) {
    if (!user->is_string()) server::invalid_param("user", "user must be a string");
    traits.user = user->get<std::string>();
  }
  for (const char* field : {"max_tokens", "max_completion_tokens"}) {
    auto value = json.find(field);
    if (value == json.end() || value->is_null()) continue;
    if (!value->is_number_integer()) server::invalid_param(field, "{} must be an integer", field);
    traits.max_tokens = std::max<int64_t>(traits.max_tokens, value->get<int64_t>());
  }
  if (auto priority = json.find("priority"); priority != json.end() && !priority->is_null()) {
    if (!priority->is_number_integer()) server::invalid_param("priority", "priority must be an integer");
    traits.priority = static_cast<int>(std::clamp<int64_t>(priority->get<int64_t>(), INT32_MIN, INT32_MAX));
  }
  if (auto messages = json.find("messages"); messages != json.end()) append_messages(traits.prefix_text, *messages);
  if (auto prompt = json.find("prompt"); prompt != json.end()) append_prompt(traits.prefix_text, *prompt);
  return traits;
}

}  // namespace reference

// Traits as one comparable line.
std::string describe(const RequestTraits& t) {
  return fmt::format("model={} stream={} user={} max_tokens={} priority={} prefix={}", t.model, t.stream, t.user,
                     t.max_tokens, t.priority, t.prefix_text);
}

// What reading `body` gives, as one comparable line.
template <class Inspect>
std::string outcome(Inspect inspect, const std::string& body) {
  try {
    return describe(inspect(body));
  } catch (const server::ApiError& e) {
    return fmt::format("{} {} {}", e.status, e.param, e.what());
  }
}

// A random JSON text over the keys and shapes the inspector reads, some of it malformed.
std::string random_body(std::mt19937& random, int depth = 0) {
  auto pick = [&](int n) { return static_cast<int>(random() % n); };
  static const char* const kKeys[] = {"model", "stream", "user", "max_tokens", "max_completion_tokens", "priority",
                                      "messages", "prompt", "role", "content", "text", "type", "x"};
  switch (depth == 0 && pick(10) ? 6 : depth > 4 ? pick(6) : pick(9)) {
    case 0: return "null";
    case 1: return pick(2) ? "true" : "false";
    case 2: return std::to_string(static_cast<int64_t>(random()) - (1ll << 31));
    case 3: return pick(2) ? "1.5" : "18446744073709551615";
    case 4: return fmt::format("\"{}\"", kKeys[pick(13)]);
    case 5: return pick(20) == 0 ? "1E473" : "\"t\\u00e9xt\"";
    case 6:
    case 7: {
      std::string out = "{";
      for (int i = 0, n = pick(5); i < n; ++i)
        out += fmt::format("{}\"{}\":{}", i ? "," : "", kKeys[pick(13)], random_body(random, depth + 1));
      return out + (pick(40) ? "}" : "");
    }
    default: {
      std::string out = "[";
      for (int i = 0, n = pick(5); i < n; ++i) {
        if (i) out += ',';
        out += random_body(random, depth + 1);
      }
      return out + (pick(40) ? "]" : ",]");
    }
  }
}

TEST(RequestInspector, ReadsTheFieldsRoutingNeeds) {
  auto t = inspect_generation_request(
      R"({"model":"m","stream":true,"user":"u","priority":3,"max_tokens":7,"max_completion_tokens":9,
          "messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}]})");
  EXPECT_EQ(t.model, "m");
  EXPECT_TRUE(t.stream);
  EXPECT_EQ(t.user, "u");
  EXPECT_EQ(t.priority, 3);
  EXPECT_EQ(t.max_tokens, 9);
  EXPECT_EQ(t.prefix_text, "system:be brief\nuser:hi\n");
  EXPECT_EQ(inspect_generation_request(R"({"prompt":[[1,2],[3]]})").prefix_text, "1,2,");
  EXPECT_EQ(inspect_generation_request(R"({"prompt":["a","b"]})").prefix_text, "a");
  // The prefix is bounded whatever the prompt's size.
  EXPECT_EQ(inspect_generation_request(R"({"prompt":")" + std::string(100000, 'x') + R"("})").prefix_text.size(), 8192u);
}

TEST(RequestInspector, RefusesWhatMustNotReachAReplica) {
  for (const std::string& body : {std::string("{"), std::string("[]"), std::string(R"({"model":1})"),
                                 std::string(R"({"stream":"yes"})"), std::string(R"({"max_tokens":1.5})"),
                                 std::string(R"({"prompt":[1,"a"]})"), std::string(R"({"messages":[1]})"),
                                 std::string(300, '['), std::string("{\"prompt\":\"\xc3\"}"), std::string()}) {
    try {
      inspect_generation_request(body);
      ADD_FAILURE() << "accepted: " << body.substr(0, 40);
    } catch (const server::ApiError& e) {
      EXPECT_EQ(e.status, 400) << body.substr(0, 40);
    }
  }
}

TEST(RequestInspector, ReadsEveryBodyAsTheDocumentReads) {
  const std::vector<std::string> bodies = {
      R"({"model":"m","model":"n"})", R"({"model":null})", R"({"stream":null,"user":null,"priority":null})",
      R"({"max_tokens":5,"max_completion_tokens":3})", R"({"max_tokens":18446744073709551615})",
      R"({"priority":99999999999})", R"({"priority":-99999999999})", R"({"max_tokens":1.0})",
      R"({"messages":[{"content":"a","role":"r"},{"role":"s"},{"role":"t","content":null},{"content":5}]})",
      R"({"messages":[{"role":1,"content":[{"text":"a"},{"text":2},"x",{"type":"text","text":"b","text":"c"}]}]})",
      R"({"messages":[{"content":[{"text":"a"}],"content":"b"}]})", R"({"messages":[1],"messages":[]})",
      R"({"messages":5,"prompt":5})", R"({"prompt":"p","messages":[{"role":"r","content":"c"}]})",
      R"({"prompt":[]})", R"({"prompt":[[]]})", R"({"prompt":[[["deep"]],1]})", R"({"prompt":[1,2,[3]]})",
      R"({"prompt":[1.5]})", R"({"prompt":[null]})", R"({"prompt":[{"a":1}]})", R"({"prompt":{}})",
      R"({"prompt":["a",1,null]})", R"({"prompt":[-1,18446744073709551615]})", R"({"x":{"prompt":5}})",
      R"({"model":"m"} x)", R"( {"model":"m"} )", "{\"model\":\"\\u00e9\"}", R"({"n":1E473})", "5", "\"s\"",
      R"({"model":"m",})", std::string(63, '[') + std::string(63, ']'), "{\"a\":" + std::string(63, '[') + std::string(63, ']') + "}",
      "{\"a\":" + std::string(62, '[') + std::string(62, ']') + "}", "{\"prompt\":\"" + std::string(9000, 'x') + "\"}",
      "{\"messages\":[{\"content\":\"" + std::string(9000, 'y') + "\"}],\"prompt\":\"z\"}"};
  for (const auto& body : bodies)
    EXPECT_EQ(outcome([](const std::string& b) { return inspect_generation_request(b); }, body),
              outcome([](const std::string& b) { return reference::inspect(b); }, body))
        << body.substr(0, 80);
  std::mt19937 random(7);
  for (int i = 0; i < 3000; ++i) {
    const std::string body = random_body(random);
    ASSERT_EQ(outcome([](const std::string& b) { return inspect_generation_request(b); }, body),
              outcome([](const std::string& b) { return reference::inspect(b); }, body))
        << body;
  }
}

// The fast reading (simdjson) answers for the bodies it accepts, which must be the common ones,
// and must give there exactly what the reference reading (nlohmann) gives; it never refuses.
TEST(RequestInspector, FastReadingTakesTheCommonBodiesAndAgreesWithTheReference) {
  for (const std::string& body : std::vector<std::string>{
           R"({"model":"m","prompt":"Say hello.","max_tokens":16})",
        R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi \u00e9 \ud83d\ude00"}]})",
        R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url"}]}],"user":"u"})",
        R"({"prompt":[[1,2],[3]],"priority":-4,"max_completion_tokens":18446744073709551615})",
        "{\"a\":" + std::string(63, '[') + std::string(63, ']') + "}", "{\"prompt\":\"" + std::string(200000, 'x') + "\"}"}) {
    const auto fast = detail::read_traits_fast(body, 64);
    ASSERT_TRUE(fast.has_value()) << body.substr(0, 80);
    EXPECT_EQ(describe(*fast), describe(detail::read_traits_reference(body, 64))) << body.substr(0, 80);
  }
  // A body past the fast reading's size bound is left to the reference, which reads it alike.
  const std::string big = "{\"prompt\":\"" + std::string(300000, 'x') + "\"}";
  EXPECT_FALSE(detail::read_traits_fast(big, 64));
  EXPECT_EQ(inspect_generation_request(big).prefix_text.size(), 8192u);
  // Past the depth limit by one: left to the reference, which refuses it.
  EXPECT_FALSE(detail::read_traits_fast("{\"a\":" + std::string(64, '[') + std::string(64, ']') + "}", 64));
  // A depth limit that changes between calls on one thread (a configuration reload) holds.
  EXPECT_FALSE(detail::read_traits_fast(R"({"a":[[]]})", 2));
  EXPECT_TRUE(detail::read_traits_fast(R"({"a":[]})", 2));
  EXPECT_TRUE(detail::read_traits_fast(R"({"a":[[[1]]]})", 64));
  // After a body that grows the thread's parser, the limit still sits where it did.
  ASSERT_TRUE(detail::read_traits_fast("{\"prompt\":\"" + std::string(200000, 'x') + "\"}", 64));
  EXPECT_TRUE(detail::read_traits_fast("{\"a\":" + std::string(63, '[') + std::string(63, ']') + "}", 64));
  EXPECT_FALSE(detail::read_traits_fast("{\"a\":" + std::string(64, '[') + std::string(64, ']') + "}", 64));
  std::mt19937 random(11);
  int taken = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string body = random_body(random);
    const auto fast = detail::read_traits_fast(body, 64);
    if (!fast) continue;
    ++taken;
    ASSERT_EQ(describe(*fast), describe(detail::read_traits_reference(body, 64))) << body;
  }
  EXPECT_GT(taken, 100);
}

TEST(RequestInspector, RequestIdsArePropagatedOnlyWhenSafe) {
  EXPECT_EQ(request_id_from("abc-123_X.y:z"), "abc-123_X.y:z");
  for (const std::string& bad : {std::string(), std::string("has space"), std::string(200, 'a'), std::string("a\r\nb")}) {
    const std::string id = request_id_from(bad);
    EXPECT_TRUE(id.starts_with("gw-")) << bad;
    EXPECT_EQ(id.size(), 19u);
  }
}

TEST(ResponseText, ReadsJsonAndEventStreams) {
  EXPECT_EQ(generated_text(R"({"choices":[{"text":"a"},{"text":"b"}]})"), "ab");
  EXPECT_EQ(generated_text(R"({"choices":[{"message":{"reasoning_content":"think ","content":"answer"}}]})"),
            "think answer");
  EXPECT_EQ(generated_text("data: {\"choices\":[{\"delta\":{\"content\":\"He\"}}]}\n\n"
                           "data: {\"choices\":[{\"delta\":{\"content\":\"llo\"}}]}\r\n\r\n"
                           "data: [DONE]\n\n"),
            "Hello");
  // Unreadable answers yield what could be read, never an exception.
  EXPECT_EQ(generated_text("{not json"), "");
  EXPECT_EQ(generated_text("data: {\"choices\":[{\"text\":\"ok\"}]}\n\ndata: {broken\n\n"), "ok");
  EXPECT_EQ(generated_text(""), "");
  EXPECT_EQ(generated_text(R"({"choices":"x"})"), "");
}

TEST(EndpointList, ParsesLinesAndNamesTheBadOnes) {
  std::vector<std::string> problems;
  const auto list = parse_endpoint_list("# replicas\n10.0.0.1:8000\n  10.0.0.2:8001  # second\n\nnope\n[::1]:9000\n",
                                        &problems);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(to_string(list[0]), "10.0.0.1:8000");
  EXPECT_EQ(list[1].port, 8001);
  EXPECT_EQ(list[2].host, "::1");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("line 5"), std::string::npos);
}

TEST(EndpointList, ResolvesAddressesAndNames) {
  EXPECT_EQ(resolve_all({"127.0.0.1", 80}), (std::vector<HostPort>{{"127.0.0.1", 80}}));
  EXPECT_FALSE(resolve_all({"localhost", 80}).empty());  // from /etc/hosts: no network needed
}

}  // namespace
}  // namespace tide::gateway
