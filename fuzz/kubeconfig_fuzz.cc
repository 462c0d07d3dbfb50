// A kubeconfig is operator-supplied YAML: whatever it holds, parse_kubeconfig either gives a
// ClusterAccess or throws tide::Error naming the field, nothing else. It reads no files (paths
// are only resolved), so the fuzzer touches nothing on disk.
#include <cstddef>
#include <cstdint>
#include <string>

#include "autoscaler/kubernetes/cluster_access.h"
#include "common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto access = tide::autoscaler::kubernetes::parse_kubeconfig(text, "", "/base", "fuzz");
    if (access.host.empty()) __builtin_trap();
  } catch (const tide::Error&) {
  }
  return 0;
}
