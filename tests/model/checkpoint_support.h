#pragma once
// Building model directories on disk for tests of the loaders: temporary directories, raw
// safetensors bytes with a hand-written header, and copies of a fixture model with some of its
// tensors edited.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/mapped_file.h"
#include "model/checkpoint/safetensors.h"

namespace tide::testing {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "tide-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// The 8-byte little-endian length prefix of a safetensors file.
inline std::string le64(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

// A safetensors file whose header is `header` verbatim, followed by `data_bytes` zero bytes.
inline std::string safetensors_bytes(const std::string& header, std::size_t data_bytes) {
  return le64(header.size()) + header + std::string(data_bytes, '\0');
}

// The message of the tide::Error that `action` throws; fails the test when it throws nothing.
inline std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a tide::Error";
  return {};
}

// A tensor held in memory, to be written into a test checkpoint.
struct OwnedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<std::byte> data;
};

inline OwnedTensor f32_tensor(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& values) {
  OwnedTensor t{name, DType::F32, std::move(shape), std::vector<std::byte>(values.size() * sizeof(float))};
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

inline void write_tensors(const std::filesystem::path& path, const std::vector<OwnedTensor>& tensors) {
  std::vector<TensorToWrite> out;
  for (const auto& t : tensors) out.push_back({t.name, t.dtype, t.shape, t.data});
  write_safetensors(path, out);
}

inline std::vector<OwnedTensor> read_tensors(const std::filesystem::path& path) {
  MappedFile file(path);
  auto header = parse_safetensors_header(file.bytes(), path.string());
  std::vector<OwnedTensor> tensors;
  for (const auto& [name, info] : header.tensors)
    tensors.push_back({name, info.dtype, info.shape, std::vector<std::byte>(info.data.begin(), info.data.end())});
  return tensors;
}

// Copies the fixture model directory `source` into `dir`, with its model.safetensors passed
// through `edit` (which may add, drop or change tensors).
inline void copy_model_with_edit(const std::filesystem::path& source, const std::filesystem::path& dir,
                                 const std::function<void(std::vector<OwnedTensor>&)>& edit) {
  for (const auto& entry : std::filesystem::directory_iterator(source))
    if (entry.path().filename() != "model.safetensors") std::filesystem::copy(entry.path(), dir / entry.path().filename());
  auto tensors = read_tensors(source / "model.safetensors");
  edit(tensors);
  write_tensors(dir / "model.safetensors", tensors);
}

inline OwnedTensor& tensor_named(std::vector<OwnedTensor>& tensors, const std::string& name) {
  for (auto& t : tensors)
    if (t.name == name) return t;
  throw std::runtime_error("fixture has no tensor " + name);
}

}  // namespace tide::testing
