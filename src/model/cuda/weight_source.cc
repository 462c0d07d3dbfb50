#include "model/cuda/weight_source.h"

#include <cmath>

#include "backend/cuda/ops.h"
#include "model/weights.h"

namespace tide::cuda {
namespace {

// Whether the fp8 products take the parts stacked as stored: whole 128-wide scale blocks along
// their depth, and whole 128-row blocks in every part but the last, and in the last too unless
// its rows may be padded at load.
bool fp8_stackable(const std::vector<WeightSource::Part>& parts, int64_t cols, WeightSource::RowPadding padding) {
  int64_t rows = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i + 1 < parts.size() && parts[i].rows % 128 != 0) return false;
    rows += parts[i].rows;
  }
  return cols > 0 && cols % 128 == 0 && (padding == WeightSource::RowPadding::WholeBlocks || rows % 128 == 0);
}

class CheckpointSource : public WeightSource {
 public:
  CheckpointSource(const Checkpoint& checkpoint, const ModelConfig& config, bool keep_fp8)
      : loader_(checkpoint, config), keep_fp8_(keep_fp8) {}

  DeviceMatrix matrix(const std::string& name, int64_t rows, int64_t cols) override {
    return count(upload(loader_.matrix(name, rows, cols)));
  }
  DeviceBuffer<bf16> norm(const std::string& name, int64_t size) override {
    return upload_bf16(loader_.vector(name, size));
  }
  DeviceBuffer<float> bias(const std::string& name, int64_t size) override {
    return DeviceBuffer<float>(loader_.vector(name, size));
  }
  DeviceBuffer<float> stacked_bias(const std::vector<Part>& parts) override {
    std::vector<float> values;
    for (const Part& part : parts) {
      const std::vector<float> v = loader_.vector(part.name, part.rows);
      values.insert(values.end(), v.begin(), v.end());
    }
    return DeviceBuffer<float>(values);
  }
  using WeightSource::stacked;
  DeviceLinear stacked(const std::vector<Part>& parts, int64_t cols, RowPadding padding) override {
    DeviceLinear l;
    if (std::optional<std::vector<Fp8BlockMatrix>> fp8 = fp8_parts(parts, cols, padding))
      l.fp8 = upload_fp8(*fp8);
    else
      l.weight = upload_stacked(widened(parts, cols));
    return count(std::move(l));
  }
  std::optional<Fp8ExpertWeights> fp8_expert(const std::string& prefix, int64_t hidden,
                                             int64_t intermediate) override {
    auto gate_up = fp8_parts(gate_up_parts(prefix, intermediate), hidden, RowPadding::None);
    auto down = fp8_parts({down_part(prefix, hidden)}, intermediate, RowPadding::None);
    if (!gate_up || !down) return std::nullopt;  // not kept in fp8: read as bf16, by mlp()
    return count(Fp8ExpertWeights{upload_fp8(*gate_up), upload_fp8(*down)});
  }

 private:
  // The parts as stored, where they stay fp8 (stacked()).
  std::optional<std::vector<Fp8BlockMatrix>> fp8_parts(const std::vector<Part>& parts, int64_t cols,
                                                       RowPadding padding) {
    if (!keep_fp8_ || !fp8_stackable(parts, cols, padding)) return std::nullopt;
    std::vector<Fp8BlockMatrix> stored;
    for (const Part& part : parts) {
      std::optional<Fp8BlockMatrix> matrix = loader_.fp8_blocks(part.name, part.rows, cols);
      if (!matrix) return std::nullopt;  // stored otherwise: read as bf16
      stored.push_back(std::move(*matrix));
    }
    return stored;
  }
  std::vector<WeightMatrix> widened(const std::vector<Part>& parts, int64_t cols) {
    std::vector<WeightMatrix> matrices;
    for (const Part& part : parts) matrices.push_back(loader_.matrix(part.name, part.rows, cols));
    return matrices;
  }

  WeightLoader loader_;
  bool keep_fp8_;
};

class DummySource : public WeightSource {
 public:
  DummySource(uint64_t seed, bool fp8) : seed_(seed), fp8_(fp8) {}

  DeviceMatrix matrix(const std::string&, int64_t rows, int64_t cols) override {
    DeviceMatrix m{rows, cols, DeviceBuffer<bf16>(static_cast<std::size_t>(rows * cols))};
    // Uniform on [-b, b) has variance b²/3: b = sqrt(3 / cols) gives 1/cols.
    fill_uniform(m.data.data(), m.data.size(), seed_++, std::sqrt(3.f / static_cast<float>(cols)), nullptr);
    return count(std::move(m));
  }
  DeviceBuffer<bf16> norm(const std::string&, int64_t size) override {
    DeviceBuffer<bf16> v(static_cast<std::size_t>(size));
    fill_constant(v.data(), v.size(), 1.f, nullptr);
    return v;
  }
  DeviceBuffer<float> bias(const std::string&, int64_t size) override {
    DeviceBuffer<float> v(static_cast<std::size_t>(size));
    v.fill_bytes(0);
    return v;
  }
  DeviceBuffer<float> stacked_bias(const std::vector<Part>& parts) override {
    return bias(parts.front().name, rows_of(parts));
  }
  // As a checkpoint's: fp8 where the shapes allow it (fp8_stackable), the rows padded to whole blocks.
  using WeightSource::stacked;
  DeviceLinear stacked(const std::vector<Part>& parts, int64_t cols, RowPadding padding) override {
    DeviceLinear l;
    if (!fp8_ || !fp8_stackable(parts, cols, padding)) {
      l.weight = matrix(parts.front().name, rows_of(parts), cols);  // counted there
      return l;
    }
    l.fp8 = fp8_matrix((rows_of(parts) + 127) / 128 * 128, cols);
    return count(std::move(l));
  }
  // Where a checkpoint's would stay fp8 (the same shapes as CheckpointSource's).
  std::optional<Fp8ExpertWeights> fp8_expert(const std::string& prefix, int64_t hidden, int64_t intermediate) override {
    if (!fp8_ || !fp8_stackable(gate_up_parts(prefix, intermediate), hidden, RowPadding::None) ||
        !fp8_stackable({down_part(prefix, hidden)}, intermediate, RowPadding::None))
      return std::nullopt;
    return count(Fp8ExpertWeights{fp8_matrix(2 * intermediate, hidden), fp8_matrix(hidden, intermediate)});
  }

 private:
  // Uniform e4m3 values on [-448, 448) times one scale, so W is uniform with variance 1/cols as
  // matrix() makes it.
  DeviceFp8Matrix fp8_matrix(int64_t rows, int64_t cols) {
    const float scale = std::sqrt(3.f / static_cast<float>(cols)) / 448.f;
    DeviceFp8Matrix m{rows, cols, DeviceBuffer<uint8_t>(static_cast<std::size_t>(rows * cols)),
                      DeviceBuffer<float>(std::vector<float>(static_cast<std::size_t>((rows + 127) / 128 * (cols / 128)),
                                                             scale))};
    fill_uniform_e4m3(m.data.data(), m.data.size(), seed_++, nullptr);
    return m;
  }

  static int64_t rows_of(const std::vector<Part>& parts) {
    int64_t rows = 0;
    for (const Part& part : parts) rows += part.rows;
    return rows;
  }

  uint64_t seed_;
  bool fp8_;
};

}  // namespace

std::unique_ptr<WeightSource> checkpoint_source(const Checkpoint& checkpoint, const ModelConfig& config, bool keep_fp8) {
  return std::make_unique<CheckpointSource>(checkpoint, config, keep_fp8);
}

std::unique_ptr<WeightSource> dummy_source(uint64_t seed, bool fp8) {
  return std::make_unique<DummySource>(seed, fp8);
}

}  // namespace tide::cuda
