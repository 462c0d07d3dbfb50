#include "tensor/dtype.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace tide {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<DTypeInfo, 15> kDTypes{{
    {DType::F32, "F32", 4},     {DType::F16, "F16", 2},         {DType::BF16, "BF16", 2},
    {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F64, "F64", 8},     {DType::I64, "I64", 8},
    {DType::I32, "I32", 4},     {DType::I16, "I16", 2},         {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},       {DType::BOOL, "BOOL", 1},       {DType::F8_E5M2, "F8_E5M2", 1},
    {DType::U16, "U16", 2},     {DType::U32, "U32", 4},         {DType::U64, "U64", 8},
}};

const DTypeInfo& info(DType dtype) {
  for (const auto& entry : kDTypes)
    if (entry.dtype == dtype) return entry;
  throw std::logic_error("unknown dtype enumerator");
}

}  // namespace

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& entry : kDTypes)
    if (entry.name == name) return entry.dtype;
  return std::nullopt;
}

std::string_view dtype_name(DType dtype) { return info(dtype).name; }
std::size_t dtype_size(DType dtype) { return info(dtype).size; }

float f16_to_f32(uint16_t bits) {
  uint32_t sign = (bits >> 15) & 1u;
  int exponent = (bits >> 10) & 0x1f;
  uint32_t mantissa = bits & 0x3ffu;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);
  } else if (exponent == 31) {
    magnitude = mantissa ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400u), exponent - 25);
  }
  return sign ? -magnitude : magnitude;
}

float fp8_e4m3_to_f32(uint8_t bits) {
  uint32_t sign = bits >> 7;
  int exponent = (bits >> 3) & 0xf;
  uint32_t mantissa = bits & 0x7u;
  float magnitude;
  if (exponent == 0xf && mantissa == 0x7) {
    magnitude = std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -9);  // subnormal: m * 2^-6 / 8
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x8u), exponent - 10);  // (8+m)/8 * 2^(e-7)
  }
  return sign ? -magnitude : magnitude;
}

uint8_t f32_to_fp8_e4m3(float value) {
  // Codes 0x00..0x7e are e4m3's finite non-negative values in increasing order: the largest one not
  // above |value|, then its neighbour if that is nearer (or as near, with an even mantissa).
  const float magnitude = std::isnan(value) ? 0.f : std::min(std::fabs(value), 448.f);
  int low = 0, high = 0x7e;
  while (low < high) {
    const int mid = (low + high + 1) / 2;
    if (fp8_e4m3_to_f32(static_cast<uint8_t>(mid)) <= magnitude) low = mid;
    else high = mid - 1;
  }
  int code = low;
  if (low < 0x7e) {
    const float below = magnitude - fp8_e4m3_to_f32(static_cast<uint8_t>(low));
    const float above = fp8_e4m3_to_f32(static_cast<uint8_t>(low + 1)) - magnitude;
    if (above < below || (above == below && (low & 1))) code = low + 1;
  }
  return static_cast<uint8_t>((std::signbit(value) && !std::isnan(value) ? 0x80 : 0) | code);
}

}  // namespace tide
