// Server-Sent Events framing (what the server writes) and parsing (what the client reads).
#include <gtest/gtest.h>

#include "common/error.h"
#include "common/http/sse_parser.h"
#include "common/http/sse_writer.h"

namespace tide::http {
namespace {

TEST(SseEvent, OneLine) { EXPECT_EQ(sse_event(R"({"a":1})"), "data: {\"a\":1}\n\n"); }

TEST(SseEvent, EveryLineGetsItsOwnDataField) {
  EXPECT_EQ(sse_event("one\ntwo\r\nthree"), "data: one\ndata: two\ndata: three\n\n");
}

TEST(SseEvent, Done) { EXPECT_EQ(sse_event("[DONE]"), "data: [DONE]\n\n"); }

TEST(SseParser, RoundTripsFramedEvents) {
  SseParser parser;
  auto events = parser.feed(sse_event("first") + sse_event("line 1\nline 2") + sse_event("[DONE]"));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], "first");
  EXPECT_EQ(events[1], "line 1\nline 2");
  EXPECT_EQ(events[2], "[DONE]");
}

TEST(SseParser, BytesSplitAnywhere) {
  const std::string stream = "data: {\"x\": \"a:b\"}\r\n\r\n: keep-alive comment\n\nevent: ping\ndata:no-space\n\n";
  for (std::size_t piece = 1; piece <= 4; ++piece) {
    SseParser parser;
    std::vector<std::string> events;
    for (std::size_t i = 0; i < stream.size(); i += piece)
      for (auto& e : parser.feed(std::string_view(stream).substr(i, piece))) events.push_back(e);
    ASSERT_EQ(events.size(), 2u) << "piece " << piece;
    EXPECT_EQ(events[0], "{\"x\": \"a:b\"}");
    EXPECT_EQ(events[1], "no-space");
  }
}

TEST(SseParser, IncompleteEventIsHeldBack) {
  SseParser parser;
  EXPECT_TRUE(parser.feed("data: part").empty());
  EXPECT_TRUE(parser.feed("ial\n").empty());
  auto events = parser.feed("\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], "partial");
}

TEST(SseParser, OversizedEventIsAnError) {
  SseParser parser(16);
  EXPECT_THROW(parser.feed("data: " + std::string(64, 'x')), Error);
}

}  // namespace
}  // namespace tide::http
