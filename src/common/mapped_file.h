#pragma once
// A read-only memory map of a whole file. Checkpoints are mapped rather than read so that a
// 600 GB model costs no copy and pages are loaded only when a weight is touched.
#include <cstddef>
#include <filesystem>
#include <span>

namespace tide {

class MappedFile {
 public:
  // Throws tide::Error naming the path when the file cannot be opened or mapped.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void release();
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace tide
