#include "model/checkpoint/checkpoint.h"

#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/json_file.h"
#include "common/paths.h"

namespace tide {

Checkpoint Checkpoint::open(const std::filesystem::path& dir) {
  Checkpoint ckpt;
  ckpt.dir_ = dir;
  const auto single = dir / "model.safetensors";
  const auto index_path = dir / "model.safetensors.index.json";
  if (path_exists(index_path)) {
    nlohmann::json index = read_json_file(index_path);
    auto map_it = index.find("weight_map");
    if (!index.is_object() || map_it == index.end() || !map_it->is_object())
      fail("{}: no 'weight_map' object", index_path.string());
    std::map<std::string, std::string> wanted;  // tensor -> shard file name
    std::set<std::string> shards;
    for (auto it = map_it->begin(); it != map_it->end(); ++it) {
      if (!it->is_string()) fail("{}: weight_map['{}'] is not a file name", index_path.string(), it.key());
      std::string shard = it->get<std::string>();
      // A shard name must stay inside the model directory.
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
        fail("{}: weight_map['{}'] names an invalid shard '{}'", index_path.string(), it.key(), shard);
      wanted[it.key()] = shard;
      shards.insert(shard);
    }
    for (const auto& shard : shards) ckpt.add_file(dir / shard);
    for (const auto& [name, shard] : wanted) {
      auto found = ckpt.tensors_.find(name);
      if (found == ckpt.tensors_.end() || found->second.file != (dir / shard).string())
        fail("{}: tensor '{}' is listed in shard '{}' but that file does not contain it", index_path.string(), name,
             shard);
    }
  } else if (path_exists(single)) {
    ckpt.add_file(single);
  } else {
    fail("{}: no model.safetensors or model.safetensors.index.json; point --model at a Hugging Face model "
         "directory",
         dir.string());
  }
  return ckpt;
}

void Checkpoint::add_file(const std::filesystem::path& path) {
  auto file = std::make_unique<MappedFile>(path);
  SafetensorsHeader header = parse_safetensors_header(file->bytes(), path.string());
  for (auto& [name, info] : header.tensors) {
    auto [it, inserted] = tensors_.emplace(name, std::move(info));
    if (!inserted) fail("{}: tensor '{}' also appears in {}", path.string(), name, it->second.file);
  }
  files_.push_back(std::move(file));
}

const TensorInfo* Checkpoint::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorInfo& Checkpoint::get(const std::string& name, const std::vector<int64_t>& expected_shape) const {
  const TensorInfo* info = find(name);
  if (info == nullptr) fail("{}: missing tensor '{}'", dir_.string(), name);
  if (info->shape != expected_shape)
    fail("{}: tensor '{}' has shape {} but the config implies {}", info->file, name, nlohmann::json(info->shape).dump(),
         nlohmann::json(expected_shape).dump());
  return *info;
}

}  // namespace tide
