#include "autoscaler/policy/trace.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "autoscaler/policy/trace_shapes.h"
#include "common/error.h"

namespace tide::autoscaler {
namespace {

std::string error_of(const std::string& csv) {
  try {
    parse_trace(csv, "t.csv");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Trace, ParsesRowsCommentsAndAHeader) {
  const Trace t = parse_trace("# a comment\ntime_s,rate_rps\n\n0,10\r\n60, 20 # trailing\n120,0\n", "t.csv");
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.rows[1].time_s, 60);
  EXPECT_EQ(t.rows[1].rate_rps, 20);
  EXPECT_EQ(t.end_s, 180) << "the last row lasts as long as the step before it";
  EXPECT_EQ(t.peak_rps(), 20);
  EXPECT_DOUBLE_EQ(t.mean_rps(), 10);
}

TEST(Trace, ErrorsNameTheLine) {
  EXPECT_EQ(error_of("0,1\n60\n"), "t.csv:2: expected two fields, time_s,rate_rps");
  EXPECT_EQ(error_of("0,1\n60,1,2\n"), "t.csv:2: expected two fields, time_s,rate_rps");
  EXPECT_EQ(error_of("# c\n0,1\nsoon,1\n"), "t.csv:3: time_s \"soon\" is not a number");
  EXPECT_EQ(error_of("0,1\n60,lots\n"), "t.csv:2: rate_rps \"lots\" is not a number");
  EXPECT_EQ(error_of("0,1\n60,nan\n"), "t.csv:2: rate_rps \"nan\" is not a number");
  EXPECT_EQ(error_of("0,1\n60,2\n60,3\n"), "t.csv:3: time_s 60 does not increase (the previous row is at 60)");
  EXPECT_EQ(error_of("0,1\n60,-1\n"), "t.csv:2: rate_rps -1 is outside [0, 1000000]");
  EXPECT_THAT(error_of("-5,1\n60,1\n"), testing::HasSubstr("t.csv:1: time_s -5 is outside"));
  EXPECT_EQ(error_of("0,1\ntime_s,rate_rps\n"), "t.csv:2: time_s \"time_s\" is not a number") << "a header only first";
  EXPECT_THAT(error_of("0,1\n"), testing::HasSubstr("t.csv: needs at least two rows"));
  EXPECT_THAT(error_of(""), testing::HasSubstr("needs at least two rows"));
}

TEST(Trace, FormatParsesBack) {
  const Trace t = make_trace("spike");
  const Trace back = parse_trace(format_trace(t, {"spike"}), "spike.csv");
  ASSERT_EQ(back.rows.size(), t.rows.size());
  EXPECT_EQ(back.end_s, t.end_s);
  for (std::size_t i = 0; i < t.rows.size(); ++i) EXPECT_NEAR(back.rows[i].rate_rps, t.rows[i].rate_rps, 5e-4);
}

TEST(Trace, ShippedTracesAreWhatTheGeneratorWrites) {
  for (const std::string& name : trace_shape_names()) {
    std::ifstream in(std::string(TIDE_TRACES_DIR) + "/" + name + ".csv", std::ios::binary);
    ASSERT_TRUE(in) << name;
    std::ostringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), format_trace(make_trace(name), trace_shape_comment(name))) << name;
  }
  EXPECT_THROW(make_trace("tsunami"), Error);
}

TEST(Trace, ShapesHaveTheirDocumentedPeaksAndTroughs) {
  const Trace tidal = make_trace("tidal");
  EXPECT_EQ(tidal.end_s, 86'400);
  EXPECT_NEAR(tidal.peak_rps(), 80 * 1.08, 80 * 0.08);
  const Trace spike = make_trace("spike");
  EXPECT_NEAR(spike.rows[59].rate_rps, 8, 0.5);
  EXPECT_NEAR(spike.rows[60].rate_rps, 80, 4.1);
  const Trace ramp = make_trace("ramp");
  EXPECT_LT(ramp.rows[29].rate_rps, 8.5);
  EXPECT_GT(ramp.rows.back().rate_rps, 75);
}

}  // namespace
}  // namespace tide::autoscaler
