#pragma once
// The part of the engine the API server uses. A narrow interface, so the HTTP layer can be
// tested against a scripted engine; EngineService adapts the real one.
#include <memory>

#include "engine/engine.h"
#include "engine/request.h"

namespace tide::server {

class GenerationService {
 public:
  virtual ~GenerationService() = default;
  // Queues a request; throws AdmissionError when it is refused. Must not block.
  virtual std::shared_ptr<RequestStream> submit(GenerationRequest request) = 0;
  // When the engine loop last made progress, for /health.
  virtual Clock::time_point last_progress() const = 0;
};

class EngineService final : public GenerationService {
 public:
  explicit EngineService(Engine& engine) : engine_(engine) {}
  std::shared_ptr<RequestStream> submit(GenerationRequest request) override { return engine_.submit(std::move(request)); }
  Clock::time_point last_progress() const override { return engine_.last_progress(); }

 private:
  Engine& engine_;
};

}  // namespace tide::server
