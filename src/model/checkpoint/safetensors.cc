#include "model/checkpoint/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/json_file.h"

namespace tide {
namespace {

// Real headers are a few MB at most (DeepSeek-V3 shards: ~100 KB); a larger claim is a corrupt
// or hostile file, refused before allocating for it.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

uint64_t read_le64(std::span<const std::byte> bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | std::to_integer<uint64_t>(bytes[i]);
  return value;
}

int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& where) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail("{}: negative dimension {}", where, d);
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) fail("{}: shape overflows", where);
    n *= d;
  }
  return n;
}

TensorInfo parse_entry(const std::string& name, const nlohmann::json& entry, std::span<const std::byte> data,
                       const std::string& origin) {
  const std::string where = origin + ": tensor '" + name + "'";
  if (!entry.is_object()) fail("{}: header entry is not an object", where);
  auto dtype_it = entry.find("dtype");
  auto shape_it = entry.find("shape");
  auto offsets_it = entry.find("data_offsets");
  if (dtype_it == entry.end() || !dtype_it->is_string()) fail("{}: missing or non-string 'dtype'", where);
  if (shape_it == entry.end() || !shape_it->is_array()) fail("{}: missing or non-array 'shape'", where);
  if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2)
    fail("{}: 'data_offsets' must be an array of two integers", where);

  TensorInfo info;
  info.name = name;
  info.file = origin;
  auto dtype = dtype_from_name(dtype_it->get<std::string>());
  if (!dtype) fail("{}: unknown dtype '{}'", where, dtype_it->get<std::string>());
  info.dtype = *dtype;
  for (const auto& d : *shape_it) {
    if (!d.is_number_integer()) fail("{}: shape entries must be integers", where);
    info.shape.push_back(d.get<int64_t>());
  }
  const auto& b = (*offsets_it)[0];
  const auto& e = (*offsets_it)[1];
  if (!b.is_number_unsigned() || !e.is_number_unsigned()) fail("{}: data_offsets must be non-negative integers", where);
  uint64_t begin = b.get<uint64_t>(), end = e.get<uint64_t>();
  if (begin > end || end > data.size())
    fail("{}: data_offsets [{}, {}] out of range (data section is {} bytes)", where, begin, end, data.size());
  int64_t numel = checked_numel(info.shape, where);
  uint64_t want = static_cast<uint64_t>(numel);
  if (want > std::numeric_limits<uint64_t>::max() / dtype_size(info.dtype))
    fail("{}: shape {} of {} overflows the byte size", where, nlohmann::json(info.shape).dump(), dtype_name(info.dtype));
  if (want * dtype_size(info.dtype) != end - begin)
    fail("{}: shape {} of {} needs {} bytes but data_offsets span {}", where, nlohmann::json(info.shape).dump(),
         dtype_name(info.dtype), want * dtype_size(info.dtype), end - begin);
  info.data = data.subspan(begin, end - begin);
  return info;
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsHeader parse_safetensors_header(std::span<const std::byte> bytes, const std::string& origin) {
  if (bytes.size() < 8) fail("{}: truncated safetensors file ({} bytes, no header length)", origin, bytes.size());
  uint64_t header_len = read_le64(bytes);
  if (header_len > kMaxHeaderBytes) fail("{}: header length {} is implausibly large; the file is corrupt", origin, header_len);
  if (header_len > bytes.size() - 8)
    fail("{}: header length {} is longer than the file ({} bytes); the file is truncated", origin, header_len,
         bytes.size());
  auto header_bytes = bytes.subspan(8, header_len);
  std::string_view header_text(reinterpret_cast<const char*>(header_bytes.data()), header_bytes.size());
  nlohmann::json header = parse_json(header_text, origin + " (safetensors header)");
  if (!header.is_object()) fail("{}: safetensors header is not a JSON object", origin);

  auto data = bytes.subspan(8 + header_len);
  SafetensorsHeader result;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail("{}: __metadata__ is not an object", origin);
      for (auto m = it->begin(); m != it->end(); ++m)
        if (m->is_string()) result.metadata[m.key()] = m->get<std::string>();
      continue;
    }
    result.tensors.emplace(it.key(), parse_entry(it.key(), *it, data, origin));
  }

  // Overlapping tensors mean a corrupt or crafted file: two weights would alias the same bytes.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& [name, info] : result.tensors)
    if (!info.data.empty()) by_offset.push_back(&info);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->data.data() < b->data.data(); });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo* prev = by_offset[i - 1];
    if (prev->data.data() + prev->data.size() > by_offset[i]->data.data())
      fail("{}: tensors '{}' and '{}' overlap in the data section", origin, prev->name, by_offset[i]->name);
  }
  return result;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail("{}: cannot open for writing", path.string());
  uint64_t len = text.size();
  char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  out.write(len_bytes, 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& t : tensors)
    out.write(reinterpret_cast<const char*>(t.data.data()), static_cast<std::streamsize>(t.data.size()));
  if (!out) fail("{}: write failed (disk full?)", path.string());
}

}  // namespace tide
