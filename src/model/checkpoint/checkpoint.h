#pragma once
// A model directory's weights: one model.safetensors, or shards listed by
// model.safetensors.index.json. Every file is memory-mapped and its header validated on open;
// tensors are looked up by name and checked for shape when a model claims them.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/mapped_file.h"
#include "model/checkpoint/safetensors.h"

namespace tide {

class Checkpoint {
 public:
  // Throws tide::Error naming the directory or file at fault.
  static Checkpoint open(const std::filesystem::path& dir);

  const TensorInfo* find(const std::string& name) const;
  // Throws "DIR: missing tensor 'NAME'" when absent, or a shape mismatch naming both shapes.
  const TensorInfo& get(const std::string& name, const std::vector<int64_t>& expected_shape) const;
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  void add_file(const std::filesystem::path& path);

  std::filesystem::path dir_;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::map<std::string, TensorInfo> tensors_;
};

}  // namespace tide
