#pragma once
// Scales a Kubernetes Deployment through its scale subresource, the way kubectl scale does:
//
//   observe():  GET   /apis/apps/v1/namespaces/{ns}/deployments/{name}
//               desired = spec.replicas, ready = status.readyReplicas,
//               starting = desired - ready when positive (pods created or still to be created).
//               Pods being deleted are not in a Deployment's status, so draining stays 0: the
//               pod's preStop hook drains it.
//   scale_to(): PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale
//               Content-Type: application/merge-patch+json, body {"spec":{"replicas":N}}
//   read_scale(): GET the scale subresource (autoscaling/v1 Scale), to check at start-up that
//               the Deployment exists and the RBAC rules allow what scale_to needs.
//   ready_replica_urls(): GET /api/v1/namespaces/{ns}/pods?labelSelector=<the Scale's
//               status.selector, read once>: the base URLs of the Deployment's ready pods, for scraping
//               their /metrics (needs list on pods).
//
// A merge patch names only spec.replicas, so unlike a PUT of the whole Scale (which carries
// metadata.resourceVersion and fails with 409 Conflict whenever anything else touched the
// Deployment in between) it needs no read-modify-write round trip; the desired count is the
// autoscaler's alone to set. Error answers (a Status object) throw tide::Error carrying the
// API server's message and what to check.
//
// In dry-run mode nothing is sent: every call is printed (method, URL, headers without the
// token, body) and observe() reports the count last asked for, as if it had taken effect.
#include <functional>
#include <string>
#include <vector>

#include "autoscaler/actuator.h"
#include "autoscaler/kubernetes/api_client.h"
#include "autoscaler/kubernetes/kubernetes_config.h"

namespace tide::autoscaler::kubernetes {

// The scale subresource's view (autoscaling/v1 Scale).
struct Scale {
  int spec_replicas = 0;
  int status_replicas = 0;
  std::string selector;  // status.selector, e.g. "app=tide"
};

class KubernetesActuator : public Actuator {
 public:
  using Printer = std::function<void(const std::string&)>;

  // Resolves the cluster access from `config` (in-cluster, or the kubeconfig and context).
  // Throws tide::Error naming what is missing or malformed. `print` receives dry-run output
  // (default: standard output).
  explicit KubernetesActuator(KubernetesConfig config, Printer print = {});
  // With the access given (tests, or a caller that resolved it itself); the namespace is the
  // config's, else the access's, else "default".
  KubernetesActuator(KubernetesConfig config, ClusterAccess access, Printer print = {});

  ReplicaCounts observe() override;
  void scale_to(int replicas, const std::string& reason) override;
  Scale read_scale();
  // "http://<pod IP>:<replica_port>" of every pod the Deployment selects that is Ready and not being
  // deleted. Empty in a dry run.
  std::vector<std::string> ready_replica_urls();

  const std::string& deployment_path() const { return deployment_path_; }
  const std::string& namespace_name() const { return namespace_; }

 private:
  // Sends (or, dry, prints) one call; returns the body of a 2xx answer, throws otherwise.
  std::string call(boost::beast::http::verb verb, const std::string& path, const std::string& body,
                   const std::string& content_type);

  KubernetesConfig config_;
  ApiClient client_;
  Printer print_;
  std::string namespace_;
  std::string deployment_path_;
  std::string selector_;  // the Scale's status.selector, once read
  int dry_desired_ = 0;
};

// The tide::Error message for a non-2xx answer: the verb and path, the HTTP status, the Status
// object's reason and message (or the start of the body when it is not one), and a hint of what
// to check for 401, 403, 404 and 409.
std::string api_error_message(const std::string& verb, const std::string& target, int status, const std::string& body,
                              const std::string& deployment, const std::string& ns);

}  // namespace tide::autoscaler::kubernetes
