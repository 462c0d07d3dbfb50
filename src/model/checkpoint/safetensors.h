#pragma once
// The safetensors format: an 8-byte little-endian header length, a JSON header mapping tensor
// names to {dtype, shape, data_offsets}, then the raw data. Everything in the header is
// untrusted: parse_safetensors_header validates every length and offset against the file before
// any byte of tensor data is touched.
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace tide {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;  // inside the mapped file
  std::string file;                 // for error messages

  int64_t numel() const;
};

struct SafetensorsHeader {
  std::map<std::string, TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
};

// Validates and indexes the header of a whole safetensors file held in `bytes`. Throws tide::Error
// naming `origin` (and the tensor, where one is at fault) for a truncated file, a header longer
// than the file, malformed JSON, an unknown dtype, a shape whose size disagrees with its offsets,
// or offsets that are out of range or overlap.
SafetensorsHeader parse_safetensors_header(std::span<const std::byte> bytes, const std::string& origin);

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;
};

// Writes a safetensors file (header padded to 8 bytes, tensors in the given order).
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace tide
