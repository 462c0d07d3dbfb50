#pragma once
// Process-wide logging on spdlog: human-readable lines on stderr, so stdout stays clean for
// machine-readable output (`tide generate --output ids`, `tide tokenize`).
#include <spdlog/spdlog.h>

namespace tide {

// Sends all logging to stderr at the given level ("debug", "info", "warn", "error").
void init_logging(const std::string& level);

}  // namespace tide
