#include "cli/json_output.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>

#include "common/error.h"

namespace tide::cli {

void emit_json(const nlohmann::json& json, const std::string& path) {
  if (path.empty()) {
    std::cout << json.dump() << "\n";
    return;
  }
  std::ofstream out(path);
  out << json.dump(2) << "\n";
  if (!out) fail("cannot write {}", path);
  spdlog::info("wrote {}", path);
}

}  // namespace tide::cli
