// Safetensors files are untrusted input: every malformed header must be refused with a message
// that names the file and, where one is at fault, the tensor.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "checkpoint_support.h"
#include "model/checkpoint/checkpoint.h"

namespace tide {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::error_of;
using testing::le64;
using testing::safetensors_bytes;
using testing::TempDir;
using testing::write_file;

class SafetensorsTest : public ::testing::Test {
 protected:
  // Writes `bytes` as the directory's model.safetensors and returns the error of opening it.
  std::string open_error(const std::string& bytes) {
    write_file(file(), bytes);
    return error_of([&] { Checkpoint::open(dir_.path()); });
  }
  std::string file() const { return (dir_ / "model.safetensors").string(); }

  TempDir dir_;
};

TEST_F(SafetensorsTest, WrittenFileReadsBackWithDataAndMetadata) {
  const std::vector<float> values = {1.5f, -2.f, 3.25f, 4.f, 5.f, 6.f};
  std::vector<std::byte> bytes(values.size() * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  const std::vector<uint16_t> halves = {0x3f80, 0xc000};
  std::vector<std::byte> half_bytes(4);
  std::memcpy(half_bytes.data(), halves.data(), 4);
  write_safetensors(file(), {{"a", DType::F32, {2, 3}, bytes}, {"b.weight", DType::BF16, {2}, half_bytes}},
                    {{"format", "pt"}});

  MappedFile mapped(file());
  auto header = parse_safetensors_header(mapped.bytes(), file());
  ASSERT_EQ(header.tensors.size(), 2u);
  const TensorInfo& a = header.tensors.at("a");
  EXPECT_EQ(a.dtype, DType::F32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(a.data.size(), 24u);
  EXPECT_EQ(std::memcmp(a.data.data(), values.data(), 24), 0);
  EXPECT_EQ(a.file, file());
  const TensorInfo& b = header.tensors.at("b.weight");
  EXPECT_EQ(b.dtype, DType::BF16);
  ASSERT_EQ(b.data.size(), 4u);
  EXPECT_EQ(std::memcmp(b.data.data(), halves.data(), 4), 0);
  EXPECT_EQ(header.metadata.at("format"), "pt");
  // The data section starts on an 8-byte boundary, so mapped f32/bf16 weights are aligned.
  EXPECT_EQ((a.data.data() - mapped.bytes().data()) % 8, 0);
}

TEST_F(SafetensorsTest, FileShorterThanTheLengthPrefixIsTruncated) {
  EXPECT_THAT(open_error("abc"), AllOf(HasSubstr(file()), HasSubstr("truncated"), HasSubstr("3 bytes")));
}

TEST_F(SafetensorsTest, HeaderLengthBeyondTheEndOfFileIsTruncated) {
  EXPECT_THAT(open_error(le64(100) + "{}"), AllOf(HasSubstr(file()), HasSubstr("header length 100 is longer than the file")));
}

TEST_F(SafetensorsTest, AbsurdHeaderLengthIsRefusedBeforeAllocating) {
  EXPECT_THAT(open_error(le64(uint64_t{1} << 60) + "{}"),
              AllOf(HasSubstr(file()), HasSubstr("header length 1152921504606846976 is implausibly large")));
}

TEST_F(SafetensorsTest, HeaderThatIsNotJsonIsRefused) {
  EXPECT_THAT(open_error(safetensors_bytes("{\"a\": ", 0)), AllOf(HasSubstr(file()), HasSubstr("invalid JSON")));
}

TEST_F(SafetensorsTest, HeaderThatIsNotAnObjectIsRefused) {
  EXPECT_THAT(open_error(safetensors_bytes("[1, 2]", 0)), AllOf(HasSubstr(file()), HasSubstr("not a JSON object")));
}

TEST_F(SafetensorsTest, EntryMissingDtypeNamesTensorAndField) {
  EXPECT_THAT(open_error(safetensors_bytes(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4)),
              AllOf(HasSubstr(file()), HasSubstr("tensor 'w'"), HasSubstr("'dtype'")));
}

TEST_F(SafetensorsTest, EntryMissingShapeNamesTensorAndField) {
  EXPECT_THAT(open_error(safetensors_bytes(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", 4)),
              AllOf(HasSubstr(file()), HasSubstr("tensor 'w'"), HasSubstr("'shape'")));
}

TEST_F(SafetensorsTest, EntryMissingOffsetsNamesTensorAndField) {
  EXPECT_THAT(open_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [1]}})", 4)),
              AllOf(HasSubstr(file()), HasSubstr("tensor 'w'"), HasSubstr("'data_offsets'")));
}

TEST_F(SafetensorsTest, UnknownDtypeIsNamed) {
  EXPECT_THAT(open_error(safetensors_bytes(R"({"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}})", 16)),
              AllOf(HasSubstr(file()), HasSubstr("tensor 'w'"), HasSubstr("unknown dtype 'F128'")));
}

TEST_F(SafetensorsTest, NegativeDimensionIsRefused) {
  EXPECT_THAT(open_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [-1, 2], "data_offsets": [0, 8]}})", 8)),
              AllOf(HasSubstr(file()), HasSubstr("tensor 'w'"), HasSubstr("negative dimension -1")));
}

TEST_F(SafetensorsTest, NonIntegerDimensionIsRefused) {
  EXPECT_THAT(open_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", 4)),
              AllOf(HasSubstr(file()), HasSubstr("tensor 'w'"), HasSubstr("shape entries must be integers")));
}

TEST_F(SafetensorsTest, ShapeDisagreeingWithOffsetsGivesBothSizes) {
  EXPECT_THAT(open_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})", 12)),
              AllOf(HasSubstr(file()), HasSubstr("tensor 'w'"), HasSubstr("needs 16 bytes but data_offsets span 12")));
}

TEST_F(SafetensorsTest, OffsetsPastTheDataSectionAreOutOfRange) {
  EXPECT_THAT(open_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8)),
              AllOf(HasSubstr(file()), HasSubstr("tensor 'w'"), HasSubstr("data_offsets [0, 16] out of range"),
                    HasSubstr("8 bytes")));
}

TEST_F(SafetensorsTest, NegativeOffsetIsRefused) {
  EXPECT_THAT(open_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 8)),
              AllOf(HasSubstr(file()), HasSubstr("tensor 'w'"), HasSubstr("non-negative")));
}

TEST_F(SafetensorsTest, BeginAfterEndIsRefused) {
  EXPECT_THAT(open_error(safetensors_bytes(R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [8, 4]}})", 8)),
              AllOf(HasSubstr(file()), HasSubstr("tensor 'w'"), HasSubstr("data_offsets [8, 4]")));
}

TEST_F(SafetensorsTest, OverlappingTensorsAreRefused) {
  const std::string header = R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                             R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})";
  EXPECT_THAT(open_error(safetensors_bytes(header, 12)),
              AllOf(HasSubstr(file()), HasSubstr("tensors 'a' and 'b' overlap")));
}

TEST_F(SafetensorsTest, ShapeProductOverflowingInt64IsRefused) {
  EXPECT_THAT(
      open_error(safetensors_bytes(R"({"w": {"dtype": "U8", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", 0)),
      AllOf(HasSubstr(file()), HasSubstr("tensor 'w'"), HasSubstr("overflows")));
}

TEST_F(SafetensorsTest, ByteSizeOverflowingIsRefusedAsOverflow) {
  // 2^62 elements fit int64, but 2^62 floats do not fit in 2^64 bytes.
  EXPECT_THAT(
      open_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 0]}})", 0)),
      AllOf(HasSubstr(file()), HasSubstr("tensor 'w'"), HasSubstr("overflows")));
}

TEST_F(SafetensorsTest, EmptyTensorsMayShareAnOffset) {
  const std::string header = R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]},)"
                             R"( "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
  write_file(file(), safetensors_bytes(header, 4));
  auto ckpt = Checkpoint::open(dir_.path());
  EXPECT_EQ(ckpt.get("a", {0}).numel(), 0);
  EXPECT_EQ(ckpt.get("b", {1}).data.size(), 4u);
}

}  // namespace
}  // namespace tide
