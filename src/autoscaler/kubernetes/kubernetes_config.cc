#include "autoscaler/kubernetes/kubernetes_config.h"

#include "common/error.h"
#include "common/yaml_fields.h"

namespace tide::autoscaler::kubernetes {
namespace {

// A DNS-1123 subdomain (Deployments) or label (namespaces): lower-case alphanumerics, '-' and,
// for subdomains, '.', starting and ending alphanumeric. Checked here so a typo is a config
// error, not a 404 at the first tick, and so names are safe to put in a URL path.
void check_name(const std::string& value, const std::string& field, std::size_t max, bool dots) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = !value.empty() && value.size() <= max && alnum(value.front()) && alnum(value.back());
  for (const char c : value) ok = ok && (alnum(c) || c == '-' || (dots && c == '.'));
  if (!ok)
    fail("{}: \"{}\" is not a valid Kubernetes name (lower-case letters, digits and '-'{}, at most {} characters)",
         field, value, dots ? " or '.'" : "", max);
}

}  // namespace

KubernetesConfig parse_kubernetes_config(const YAML::Node& node, const std::string& path) {
  if (!node || node.IsNull()) fail("{}: missing (it needs at least `deployment`)", path);
  YamlFields f(node, path);
  KubernetesConfig c;
  c.deployment = f.string("deployment", "");
  if (c.deployment.empty()) fail("{}: missing (the Deployment to scale)", f.field_path("deployment"));
  check_name(c.deployment, f.field_path("deployment"), 253, true);
  c.namespace_ = f.string("namespace", "");
  if (!c.namespace_.empty()) check_name(c.namespace_, f.field_path("namespace"), 63, false);
  c.kubeconfig = f.string("kubeconfig", "");
  c.context = f.string("context", "");
  c.in_cluster = f.boolean("in_cluster", false);
  c.dry_run = f.boolean("dry_run", false);
  c.timeout = f.duration("timeout", c.timeout, std::chrono::milliseconds(100), std::chrono::minutes(5));
  c.replica_port = static_cast<int>(f.integer("replica_port", 8000, 1, 65535));
  c.service_account_dir = f.string("service_account_dir", c.service_account_dir);
  if (c.service_account_dir.empty()) fail("{}: must not be empty", f.field_path("service_account_dir"));
  f.finish();
  if (c.in_cluster && !c.kubeconfig.empty()) fail("{}: in_cluster and kubeconfig are both set; keep one", path);
  if (c.in_cluster && !c.context.empty()) fail("{}: context applies to a kubeconfig, not in_cluster", path);
  return c;
}

}  // namespace tide::autoscaler::kubernetes
