#pragma once
// Reading the reference fixtures (tests/fixtures/models/*): expected.json and the float32
// reference logits in expected.safetensors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/json_file.h"
#include "common/mapped_file.h"
#include "model/checkpoint/safetensors.h"

namespace tide::testing {

// $TIDE_FIXTURES_DIR when set (test binaries carried to a GPU machine, scripts/gpu-bundle.sh),
// else this checkout's tests/fixtures.
inline std::filesystem::path model_fixture(const std::string& name) {
  const char* env = std::getenv("TIDE_FIXTURES_DIR");
  return std::filesystem::path(env && *env ? env : TIDE_FIXTURES_DIR) / "models" / name;
}

inline const std::vector<std::string>& all_model_fixtures() {
  static const std::vector<std::string> names = {"deepseek-v3-tiny", "deepseek-v2-lite-tiny", "deepseek-v3-fp8-tiny",
                                                 "qwen2-tiny", "llama3-tiny"};
  return names;
}

// A fixture's folder name as a test name ("deepseek-v3-tiny" -> "deepseek_v3_tiny"), for
// INSTANTIATE_TEST_SUITE_P over fixture names.
inline std::string fixture_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

struct Expected {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::vector<int32_t>> greedy;
  std::vector<std::vector<float>> greedy_top_logit;
  std::vector<std::vector<float>> logits;  // logits_i flattened [len_i, vocab]
};

inline Expected load_expected(const std::filesystem::path& dir) {
  Expected e;
  auto json = read_json_file(dir / "expected.json");
  e.prompts = json.at("prompts").get<std::vector<std::vector<int32_t>>>();
  e.greedy = json.at("greedy").get<std::vector<std::vector<int32_t>>>();
  e.greedy_top_logit = json.at("greedy_top_logit").get<std::vector<std::vector<float>>>();
  MappedFile file(dir / "expected.safetensors");
  auto header = parse_safetensors_header(file.bytes(), (dir / "expected.safetensors").string());
  for (std::size_t i = 0; i < e.prompts.size(); ++i) {
    const auto& t = header.tensors.at("logits_" + std::to_string(i));
    std::vector<float> v(static_cast<std::size_t>(t.numel()));
    std::memcpy(v.data(), t.data.data(), t.data.size());
    e.logits.push_back(std::move(v));
  }
  return e;
}

// ‖a − b‖ / ‖b‖ over n floats.
inline double relative_error(const float* a, const float* b, std::size_t n) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < n; ++i) {
    diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    norm += double(b[i]) * b[i];
  }
  return std::sqrt(diff / norm);
}

}  // namespace tide::testing
