#pragma once
// SHA-256 (FIPS 180-4), for API key digests. Written here because the only packaged
// implementations would add OpenSSL as a dependency for ~80 lines of code.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace tide::gateway {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest sha256(std::string_view data);
std::string to_hex(const Sha256Digest& digest);

}  // namespace tide::gateway
