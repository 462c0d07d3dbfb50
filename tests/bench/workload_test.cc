// Length distributions and workloads: the length-spec syntax, seeded determinism, bounds,
// means, and shared-prefix groups.
#include <gtest/gtest.h>

#include <numeric>

#include "bench/workload.h"
#include "common/error.h"

namespace tide::bench {
namespace {

double mean_of(const LengthSpec& spec, int samples, uint64_t seed = 7) {
  Random random(seed);
  double sum = 0;
  for (int i = 0; i < samples; ++i) sum += sample_length(spec, random);
  return sum / samples;
}

void expect_error_naming(const std::string& spec, const std::string& fragment) {
  try {
    parse_length_spec(spec, "--prompt-len");
    FAIL() << "accepted '" << spec << "'";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("--prompt-len"), std::string::npos) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
  }
}

TEST(LengthSpec, ParsesEveryForm) {
  auto fixed = parse_length_spec("fixed:128", "--prompt-len");
  EXPECT_EQ(fixed.kind, LengthSpec::Kind::fixed);
  EXPECT_EQ(fixed.a, 128);
  EXPECT_EQ(parse_length_spec("64", "--prompt-len").text(), "fixed:64");
  auto uniform = parse_length_spec("uniform:64,256", "--prompt-len");
  EXPECT_EQ(uniform.kind, LengthSpec::Kind::uniform);
  EXPECT_EQ(uniform.a, 64);
  EXPECT_EQ(uniform.b, 256);
  auto longtail = parse_length_spec("longtail:128,2048", "--output-len");
  EXPECT_EQ(longtail.kind, LengthSpec::Kind::longtail);
  EXPECT_EQ(longtail.text(), "longtail:128,2048");
  EXPECT_EQ(longtail.max(), 2048);
}

TEST(LengthSpec, BadSpecsNameTheOption) {
  expect_error_naming("", "whole number");
  expect_error_naming("fixed:", "whole number");
  expect_error_naming("fixed:12x", "whole number");
  expect_error_naming("fixed:1,2", "one number");
  expect_error_naming("fixed:0", "[1, 1000000]");
  expect_error_naming("fixed:-5", "[1, 1000000]");
  expect_error_naming("uniform:64", "two numbers");
  expect_error_naming("uniform:256,64", "low end");
  expect_error_naming("uniform:1,", "whole number");
  expect_error_naming("longtail:4096,128", "cap");
  expect_error_naming("normal:5,6", "unknown distribution");
  expect_error_naming("fixed:99999999999", "whole number");
}

TEST(LengthSpec, SamplesStayInBoundsAndAreDeterministic) {
  const auto uniform = parse_length_spec("uniform:10,20", "x");
  const auto longtail = parse_length_spec("longtail:50,400", "x");
  Random a(42), b(42);
  bool saw_low = false, saw_high = false, saw_cap = false;
  for (int i = 0; i < 20000; ++i) {
    const int u = sample_length(uniform, a);
    EXPECT_EQ(u, sample_length(uniform, b));
    ASSERT_GE(u, 10);
    ASSERT_LE(u, 20);
    saw_low |= u == 10;
    saw_high |= u == 20;
    const int t = sample_length(longtail, a);
    EXPECT_EQ(t, sample_length(longtail, b));
    ASSERT_GE(t, 1);
    ASSERT_LE(t, 400);
    saw_cap |= t == 400;
  }
  EXPECT_TRUE(saw_low && saw_high) << "both ends of a uniform range are included";
  EXPECT_TRUE(saw_cap) << "a long tail reaches its cap";
}

TEST(LengthSpec, MeansAreRoughlyRight) {
  EXPECT_EQ(mean_of(parse_length_spec("fixed:77", "x"), 100), 77.0);
  EXPECT_NEAR(mean_of(parse_length_spec("uniform:64,256", "x"), 20000), 160.0, 3.0);
  // Clipping far above the mean removes almost nothing: the lognormal's mean shows.
  EXPECT_NEAR(mean_of(parse_length_spec("longtail:100,100000", "x"), 40000), 100.0, 4.0);
  // Long-tailed: the median sits well below the mean.
  Random random(3);
  std::vector<int> values;
  for (int i = 0; i < 10001; ++i) values.push_back(sample_length(parse_length_spec("longtail:100,100000", "x"), random));
  std::nth_element(values.begin(), values.begin() + 5000, values.end());
  EXPECT_NEAR(values[5000], 61, 4);  // exp(ln(100) - 0.5)
}

TEST(Workload, SameSeedSameRequestsOtherSeedOthers) {
  WorkloadConfig config;
  config.num_requests = 20;
  config.prompt_len = parse_length_spec("uniform:5,50", "x");
  config.output_len = parse_length_spec("longtail:16,64", "x");
  config.seed = 11;
  const auto a = build_workload(config), b = build_workload(config);
  config.seed = 12;
  const auto c = build_workload(config);
  ASSERT_EQ(a.size(), 20u);
  int differing = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].prompt, b[i].prompt);
    EXPECT_EQ(a[i].output_len, b[i].output_len);
    differing += a[i].prompt != c[i].prompt;
  }
  EXPECT_GT(differing, 15);
}

TEST(Workload, TextPromptsHaveOneWordPerToken) {
  WorkloadConfig config;
  config.num_requests = 5;
  config.prompt_len = parse_length_spec("fixed:40", "x");
  for (const auto& r : build_workload(config)) {
    EXPECT_EQ(r.prompt_len, 40);
    EXPECT_EQ(std::count(r.prompt.begin(), r.prompt.end(), ' '), 39);
    EXPECT_TRUE(r.prompt_ids.empty());
    EXPECT_EQ(r.group, -1);
  }
}

TEST(Workload, SharedPrefixGroups) {
  WorkloadConfig config;
  config.num_requests = 9;
  config.prompt_len = parse_length_spec("fixed:8", "x");
  config.shared_prefix_groups = 3;
  config.shared_prefix_len = 30;
  config.prompt_ids = true;
  config.id_low = 100;
  config.id_high = 120;
  const auto requests = build_workload(config);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    EXPECT_EQ(r.group, static_cast<int>(i % 3));
    ASSERT_EQ(r.prompt_ids.size(), 38u);
    EXPECT_EQ(r.prompt_len, 38);
    for (int id : r.prompt_ids) {
      EXPECT_GE(id, 100);
      EXPECT_LE(id, 120);
    }
    const auto& first_of_group = requests[r.group];
    EXPECT_TRUE(std::equal(r.prompt_ids.begin(), r.prompt_ids.begin() + 30, first_of_group.prompt_ids.begin()));
    if (i >= 3) {
      EXPECT_NE(r.prompt_ids, first_of_group.prompt_ids) << "the part after the prefix is the request's own";
    }
  }
  EXPECT_NE(std::vector<int32_t>(requests[0].prompt_ids.begin(), requests[0].prompt_ids.begin() + 30),
            std::vector<int32_t>(requests[1].prompt_ids.begin(), requests[1].prompt_ids.begin() + 30));
}

TEST(Workload, InconsistentConfigNamesTheOption) {
  WorkloadConfig config;
  config.shared_prefix_groups = 2;
  EXPECT_THROW(
      {
        try {
          build_workload(config);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("--shared-prefix-len"), std::string::npos);
          throw;
        }
      },
      Error);
  config = {};
  config.num_requests = 0;
  EXPECT_THROW(build_workload(config), Error);
  config = {};
  config.prompt_ids = true;
  config.id_low = 10;
  config.id_high = 5;
  EXPECT_THROW(build_workload(config), Error);
}

}  // namespace
}  // namespace tide::bench
