// Model directories: a single model.safetensors or shards listed by model.safetensors.index.json.
// The index is untrusted too: it must not reach outside the directory, and it must agree with
// the shards it names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "checkpoint_support.h"
#include "model/checkpoint/checkpoint.h"

namespace tide {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::error_of;
using testing::f32_tensor;
using testing::TempDir;
using testing::write_file;
using testing::write_tensors;

std::vector<float> tensor_values(const TensorInfo& t) {
  std::vector<float> v(static_cast<std::size_t>(t.numel()));
  std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

class ShardedCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_tensors(dir_ / "model-00001-of-00002.safetensors",
                  {f32_tensor("embed.weight", {2, 2}, {1, 2, 3, 4}), f32_tensor("norm.weight", {2}, {5, 6})});
    write_tensors(dir_ / "model-00002-of-00002.safetensors", {f32_tensor("head.weight", {3}, {7, 8, 9})});
  }
  void write_index(const std::string& weight_map) {
    write_file(index(), R"({"metadata": {"total_size": 36}, "weight_map": )" + weight_map + "}");
  }
  std::string index() const { return (dir_ / "model.safetensors.index.json").string(); }

  TempDir dir_;
};

TEST_F(ShardedCheckpointTest, TensorsAreReadFromEveryShard) {
  write_index(R"({"embed.weight": "model-00001-of-00002.safetensors",
                  "norm.weight": "model-00001-of-00002.safetensors",
                  "head.weight": "model-00002-of-00002.safetensors"})");
  auto ckpt = Checkpoint::open(dir_.path());
  EXPECT_EQ(ckpt.tensors().size(), 3u);
  EXPECT_EQ(tensor_values(ckpt.get("embed.weight", {2, 2})), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(tensor_values(ckpt.get("norm.weight", {2})), (std::vector<float>{5, 6}));
  const TensorInfo& head = ckpt.get("head.weight", {3});
  EXPECT_EQ(tensor_values(head), (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(head.file, (dir_ / "model-00002-of-00002.safetensors").string());
}

TEST_F(ShardedCheckpointTest, IndexTakesPrecedenceOverASingleFile) {
  write_tensors(dir_ / "model.safetensors", {f32_tensor("stale.weight", {1}, {0})});
  write_index(R"({"head.weight": "model-00002-of-00002.safetensors"})");
  auto ckpt = Checkpoint::open(dir_.path());
  EXPECT_NE(ckpt.find("head.weight"), nullptr);
  EXPECT_EQ(ckpt.find("stale.weight"), nullptr);
}

TEST_F(ShardedCheckpointTest, MissingShardFileIsNamed) {
  write_index(R"({"embed.weight": "model-00001-of-00002.safetensors",
                  "lost.weight": "model-00003-of-00003.safetensors"})");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_.path()); }),
              AllOf(HasSubstr((dir_ / "model-00003-of-00003.safetensors").string()), HasSubstr("cannot open")));
}

TEST_F(ShardedCheckpointTest, TensorAbsentFromItsShardIsNamed) {
  write_index(R"({"head.weight": "model-00001-of-00002.safetensors"})");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_.path()); }),
              AllOf(HasSubstr(index()), HasSubstr("tensor 'head.weight'"),
                    HasSubstr("shard 'model-00001-of-00002.safetensors'"), HasSubstr("does not contain it")));
}

TEST_F(ShardedCheckpointTest, ShardNameWithASlashIsRefused) {
  // The index sits in inner/ and names a real shard one level up that holds the tensor: only
  // the name check stops it from being read from outside the model directory.
  write_tensors(dir_ / "model-00001-of-00002.safetensors", {f32_tensor("x", {1}, {1})});
  std::filesystem::create_directory(dir_ / "inner");
  write_index(R"({"x": "../model-00001-of-00002.safetensors"})");
  auto inner = dir_ / "inner";
  std::filesystem::copy(index(), inner / "model.safetensors.index.json");
  EXPECT_THAT(error_of([&] { Checkpoint::open(inner); }),
              AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("weight_map['x']"),
                    HasSubstr("invalid shard '../model-00001-of-00002.safetensors'")));
}

TEST_F(ShardedCheckpointTest, AbsoluteShardPathIsRefused) {
  write_index(R"({"x": "/etc/passwd"})");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_.path()); }), HasSubstr("invalid shard '/etc/passwd'"));
}

TEST_F(ShardedCheckpointTest, DotDotShardNameIsRefused) {
  write_index(R"({"x": ".."})");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_.path()); }), HasSubstr("invalid shard '..'"));
}

TEST_F(ShardedCheckpointTest, TensorInTwoShardsIsRefused) {
  write_tensors(dir_ / "model-00002-of-00002.safetensors",
                {f32_tensor("head.weight", {3}, {7, 8, 9}), f32_tensor("norm.weight", {2}, {0, 0})});
  write_index(R"({"norm.weight": "model-00001-of-00002.safetensors",
                  "head.weight": "model-00002-of-00002.safetensors"})");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_.path()); }),
              AllOf(HasSubstr("tensor 'norm.weight' also appears in"), HasSubstr("model-00001-of-00002.safetensors"),
                    HasSubstr("model-00002-of-00002.safetensors")));
}

TEST_F(ShardedCheckpointTest, IndexWithoutWeightMapIsRefused) {
  write_file(index(), R"({"metadata": {}})");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_.path()); }), AllOf(HasSubstr(index()), HasSubstr("'weight_map'")));
}

TEST_F(ShardedCheckpointTest, ShardNameThatIsNotAStringIsRefused) {
  write_index(R"({"head.weight": 2})");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_.path()); }),
              AllOf(HasSubstr(index()), HasSubstr("weight_map['head.weight'] is not a file name")));
}

TEST_F(ShardedCheckpointTest, IndexThatIsNotJsonIsNamed) {
  write_file(index(), "{\"weight_map\": ");
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir_.path()); }), AllOf(HasSubstr(index()), HasSubstr("invalid JSON")));
}

TEST(CheckpointTest, DirectoryWithoutWeightsSaysWhatItLookedFor) {
  TempDir dir;
  EXPECT_THAT(error_of([&] { Checkpoint::open(dir.path()); }),
              AllOf(HasSubstr(dir.path().string()), HasSubstr("model.safetensors"),
                    HasSubstr("model.safetensors.index.json")));
}

TEST(CheckpointTest, GetNamesMissingTensorAndMismatchedShape) {
  TempDir dir;
  write_tensors(dir / "model.safetensors", {f32_tensor("w", {2, 3}, {1, 2, 3, 4, 5, 6})});
  auto ckpt = Checkpoint::open(dir.path());
  EXPECT_THAT(error_of([&] { ckpt.get("v", {2, 3}); }), AllOf(HasSubstr(dir.path().string()), HasSubstr("missing tensor 'v'")));
  EXPECT_THAT(error_of([&] { ckpt.get("w", {3, 2}); }),
              AllOf(HasSubstr("tensor 'w' has shape [2,3] but the config implies [3,2]")));
}

}  // namespace
}  // namespace tide
