// Every CUDA kernel is launched as a programmatic dependent of the one before it
// (backend/cuda/dependent_launch.cuh), which is only correct if each kernel waits for that one
// before it reads or writes what the stream's earlier work touches. A kernel that forgot would
// race silently, and only on a GPU; this reads the kernels' sources so that the check runs on
// every machine, GPU or not: no launch bypasses launch_dependent, and every __global__ body
// waits (the order within a body is for review: only weights may be read before the wait).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string read(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The body of the function whose declaration starts at `from`: the text between its first `{`
// and the matching `}` (kernel parameter lists hold no braces).
std::string body_after(const std::string& source, std::size_t from) {
  const std::size_t open = source.find('{', from);
  if (open == std::string::npos) return "";
  int depth = 0;
  for (std::size_t i = open; i < source.size(); ++i) {
    if (source[i] == '{') ++depth;
    if (source[i] == '}' && --depth == 0) return source.substr(open, i - open + 1);
  }
  return "";
}

std::string kernel_name(const std::string& source, std::size_t at) {
  const std::size_t paren = source.find('(', source.find("void", at));
  std::size_t start = source.rfind(' ', paren);
  return source.substr(start + 1, paren - start - 1);
}

std::vector<std::filesystem::path> kernel_sources() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(TIDE_CUDA_SOURCE_DIR))
    if (entry.path().extension() == ".cu" || entry.path().extension() == ".cuh") files.push_back(entry.path());
  return files;
}

TEST(CudaLaunchContract, EveryKernelIsLaunchedThroughLaunchDependent) {
  const auto files = kernel_sources();
  ASSERT_GE(files.size(), 10u) << "no kernel sources found in " << TIDE_CUDA_SOURCE_DIR;
  for (const auto& file : files)
    EXPECT_EQ(read(file).find("<<<"), std::string::npos) << file << " launches with <<<>>>";
}

TEST(CudaLaunchContract, EveryKernelWaitsForTheKernelBeforeIt) {
  int kernels = 0;
  for (const auto& file : kernel_sources()) {
    const std::string source = read(file);
    for (std::size_t at = source.find("__global__"); at != std::string::npos; at = source.find("__global__", at + 1)) {
      const std::string body = body_after(source, at);
      ++kernels;
      const bool waits = body.find("begin_dependent_kernel()") != std::string::npos ||
                         body.find("wait_for_prior_grids()") != std::string::npos;
      EXPECT_TRUE(waits) << file.filename() << ": kernel " << kernel_name(source, at)
                         << " never waits for the kernel before it (dependent_launch.cuh)";
    }
  }
  EXPECT_GE(kernels, 20) << "the scan found too few kernels to be reading the sources right";
}

}  // namespace
