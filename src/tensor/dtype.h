#pragma once
// Storage element types of checkpoints and their conversion to float32, the CPU path's
// compute type. The conversions are exact (bf16, f16, fp8 e4m3 all embed in float32), so the
// CPU path computes on precisely the stored weights.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tide {

enum class DType { F32, F16, BF16, F8_E4M3, F64, I64, I32, I16, I8, U8, BOOL, F8_E5M2, U16, U32, U64 };

// Safetensors names ("BF16", "F8_E4M3", ...); nullopt for a name safetensors does not define.
std::optional<DType> dtype_from_name(std::string_view name);
std::string_view dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);

inline float bf16_to_f32(uint16_t bits) { return std::bit_cast<float>(uint32_t{bits} << 16); }

// Round to nearest even, as torch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float f16_to_f32(uint16_t bits);

// OCP float8 e4m3 "fn" (no infinities, 0x7f/0xff are NaN), the format of DeepSeek-V3's weights.
float fp8_e4m3_to_f32(uint8_t bits);
// The nearest e4m3 "fn" value (ties to an even mantissa), saturating at ±448; NaN gives zero.
uint8_t f32_to_fp8_e4m3(float value);

}  // namespace tide
