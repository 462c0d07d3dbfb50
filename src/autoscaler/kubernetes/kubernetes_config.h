#pragma once
// The `kubernetes:` section of the autoscaler's configuration: which Deployment to scale, and
// how to reach its API server (in-cluster service account, or a kubeconfig context).
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <string>

namespace tide::autoscaler::kubernetes {

struct KubernetesConfig {
  std::string deployment;   // required
  std::string namespace_;   // empty: the context's (or the pod's) namespace, else "default"
  std::string kubeconfig;   // empty: $KUBECONFIG's first file, else ~/.kube/config (unless in_cluster)
  std::string context;      // empty: the kubeconfig's current-context
  bool in_cluster = false;  // use the pod's service account instead of a kubeconfig
  bool dry_run = false;     // print every API call instead of sending it
  std::chrono::milliseconds timeout{10'000};  // per API call step (connect, TLS, send, read)
  int replica_port = 8000;                    // the pods' tide serve port, where the scrape source finds /metrics
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
};

// Strict: unknown keys, a missing deployment, kubeconfig or context given with in_cluster, or a
// name that is not a valid Kubernetes object name throw tide::Error naming the field.
KubernetesConfig parse_kubernetes_config(const YAML::Node& node, const std::string& path = "kubernetes");

}  // namespace tide::autoscaler::kubernetes
