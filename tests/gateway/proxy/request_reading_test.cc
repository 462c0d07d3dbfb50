// What the gateway reads from requests, answers and discovery files: the routing traits of a
// request body (and the bodies it refuses), the generated text a mirrored answer is compared
// by, and the host:port lines of a discovery file.
#include <gtest/gtest.h>

#include "gateway/proxy/request_inspector.h"
#include "gateway/proxy/response_text.h"
#include "gateway/runtime/pool_watcher.h"
#include "server/api_error.h"

namespace tide::gateway {
namespace {

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
