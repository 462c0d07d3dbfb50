#pragma once
// Where scaling decisions take effect: local processes (`tide up`) or a Kubernetes Deployment's
// scale subresource. An actuator never drops requests: scaling in drains a replica before it
// stops (locally), or leaves it to the pod's preStop drain (Kubernetes).
#include <string>

namespace tide::autoscaler {

struct ReplicaCounts {
  int desired = 0;   // what the actuator was last asked for (or the Deployment's spec.replicas)
  int ready = 0;     // serving
  int starting = 0;  // started, not yet ready
  int draining = 0;  // out of rotation, finishing their requests
};

class Actuator {
 public:
  virtual ~Actuator() = default;
  virtual ReplicaCounts observe() = 0;
  // Asks for `replicas`; returns at once (start-up and drains proceed in the background).
  virtual void scale_to(int replicas, const std::string& reason) = 0;
};

}  // namespace tide::autoscaler
