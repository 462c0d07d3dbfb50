#include "autoscaler/kubernetes/kubernetes_actuator.h"

#include <spdlog/spdlog.h>

#include <limits>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/http/url_encode.h"

namespace tide::autoscaler::kubernetes {
namespace {

namespace bhttp = boost::beast::http;
using nlohmann::json;

ClusterAccess resolve_access(const KubernetesConfig& c) {
  if (c.in_cluster) return in_cluster_access(c.service_account_dir);
  return load_kubeconfig(c.kubeconfig.empty() ? default_kubeconfig_path() : c.kubeconfig, c.context);
}

// An integer field of an API object, 0 when absent (the API omits zero counts).
int count_at(const json& object, const char* section, const char* field, const std::string& what) {
  const auto s = object.find(section);
  if (s == object.end() || s->is_null()) return 0;
  if (!s->is_object()) fail("{}: {} is not an object", what, section);
  const auto f = s->find(field);
  if (f == s->end() || f->is_null()) return 0;
  if (!f->is_number_integer() || f->get<int64_t>() < 0 || f->get<int64_t>() > std::numeric_limits<int>::max())
    fail("{}: {}.{} is not a replica count", what, section, field);
  return f->get<int>();
}

json parse_object(const std::string& body, const char* kind, const std::string& what) {
  json object;
  try {
    object = json::parse(body);
  } catch (const json::exception&) {
    fail("{}: the answer is not JSON", what);
  }
  if (!object.is_object()) fail("{}: the answer is not a JSON object", what);
  const auto k = object.find("kind");
  if (k != object.end() && k->is_string() && k->get<std::string>() != kind)
    fail("{}: expected a {}, got a {}", what, kind, k->get<std::string>());
  return object;
}

// The request as it would go out, Authorization redacted; `url` is the full URL.
std::string printable_request(const ApiRequest& request, const std::string& url) {
  std::string out = fmt::format("dry run: {} {}\n", std::string(request.method_string()), url);
  for (const auto& field : request) {
    const std::string name(field.name_string());
    const bool secret = field.name() == bhttp::field::authorization;
    out += fmt::format("  {}: {}\n", name, secret ? "Bearer <redacted>" : std::string(field.value()));
  }
  if (!request.body().empty()) out += "  " + request.body() + "\n";
  return out;
}

bool pod_ready(const json& pod) {
  if (pod.contains("metadata") && pod["metadata"].is_object() && pod["metadata"].contains("deletionTimestamp") &&
      !pod["metadata"]["deletionTimestamp"].is_null())
    return false;
  const json* conditions = nullptr;
  if (pod.contains("status") && pod["status"].is_object() && pod["status"].contains("conditions"))
    conditions = &pod["status"]["conditions"];
  if (!conditions || !conditions->is_array()) return false;
  // JSON equality, never .value<std::string>(): that throws on a field that is not a string.
  for (const json& c : *conditions)
    if (c.is_object() && c.contains("type") && c["type"] == "Ready")
      return c.contains("status") && c["status"] == "True";
  return false;
}

}  // namespace

std::string api_error_message(const std::string& verb, const std::string& target, int status, const std::string& body,
                              const std::string& deployment, const std::string& ns) {
  std::string detail;
  try {
    const json s = json::parse(body);
    if (s.is_object() && s.value("kind", "") == "Status") {
      const std::string reason = s.contains("reason") && s["reason"].is_string() ? s["reason"].get<std::string>() : "";
      const std::string message =
          s.contains("message") && s["message"].is_string() ? s["message"].get<std::string>() : "";
      detail = reason.empty() ? message : reason + ": " + message;
    }
  } catch (const json::exception&) {
  }
  if (detail.empty()) detail = body.size() > 200 ? body.substr(0, 200) + "..." : body;
  std::string hint;
  switch (status) {
    case 401:
      hint =
          "; the API server did not accept the credentials: check the token (kubeconfig user, or the mounted "
          "service-account token) or the client certificate";
      break;
    case 403:
      hint = fmt::format(
          "; the identity lacks RBAC permission: it needs get on deployments and get, patch on "
          "deployments/scale in namespace {}, and list on pods to scrape them (docs/autoscaler-kubernetes.md)",
          ns);
      break;
    case 404:
      hint = fmt::format("; check that Deployment {} exists in namespace {} (kubectl -n {} get deployment {})",
                         deployment, ns, ns, deployment);
      break;
    case 409:
      hint = "; another writer changed the Deployment at the same time; the next tick tries again";
      break;
    default:
      break;
  }
  return fmt::format("Kubernetes API {} {}: HTTP {}: {}{}", verb, target, status, detail, hint);
}

KubernetesActuator::KubernetesActuator(KubernetesConfig config, Printer print)
    : KubernetesActuator(config, resolve_access(config), std::move(print)) {}

KubernetesActuator::KubernetesActuator(KubernetesConfig config, ClusterAccess access, Printer print)
    : config_(std::move(config)), client_(std::move(access), config_.timeout), print_(std::move(print)) {
  if (!print_) print_ = [](const std::string& text) { fmt::print("{}", text); };
  namespace_ = !config_.namespace_.empty()            ? config_.namespace_
               : !client_.access().namespace_.empty() ? client_.access().namespace_
                                                      : "default";
  deployment_path_ = fmt::format("/apis/apps/v1/namespaces/{}/deployments/{}", namespace_, config_.deployment);
}

std::string KubernetesActuator::call(bhttp::verb verb, const std::string& path, const std::string& body,
                                     const std::string& content_type) {
  ApiRequest request = client_.build(verb, path, body, content_type);
  if (config_.dry_run) {
    print_(printable_request(request, client_.server_url() + path));
    return {};
  }
  const std::string method(request.method_string());
  const ApiResponse response = client_.send(std::move(request));
  const int status = static_cast<int>(response.result_int());
  if (status < 200 || status > 299)
    throw Error(api_error_message(method, client_.server_url() + path, status, response.body(), config_.deployment,
                                  namespace_));
  return response.body();
}

ReplicaCounts KubernetesActuator::observe() {
  const std::string body = call(bhttp::verb::get, deployment_path_, {}, {});
  if (config_.dry_run) return {.desired = dry_desired_, .ready = dry_desired_, .starting = 0, .draining = 0};
  const std::string what = "Deployment " + namespace_ + "/" + config_.deployment;
  const json d = parse_object(body, "Deployment", what);
  ReplicaCounts counts;
  counts.desired = count_at(d, "spec", "replicas", what);
  counts.ready = count_at(d, "status", "readyReplicas", what);
  counts.starting = std::max(0, counts.desired - counts.ready);
  const int updated = count_at(d, "status", "updatedReplicas", what);
  const int current = count_at(d, "status", "replicas", what);
  spdlog::debug("kubernetes: {}: spec {} status {} ready {} updated {}", what, counts.desired, current, counts.ready,
                updated);
  return counts;
}

Scale KubernetesActuator::read_scale() {
  const std::string body = call(bhttp::verb::get, deployment_path_ + "/scale", {}, {});
  if (config_.dry_run) return {.spec_replicas = dry_desired_, .status_replicas = dry_desired_, .selector = {}};
  const std::string what = "Scale of Deployment " + namespace_ + "/" + config_.deployment;
  const json s = parse_object(body, "Scale", what);
  Scale scale;
  scale.spec_replicas = count_at(s, "spec", "replicas", what);
  scale.status_replicas = count_at(s, "status", "replicas", what);
  if (s.contains("status") && s["status"].is_object() && s["status"].contains("selector") &&
      s["status"]["selector"].is_string())
    scale.selector = s["status"]["selector"].get<std::string>();
  return scale;
}

std::vector<std::string> KubernetesActuator::ready_replica_urls() {
  const int port = config_.replica_port;
  // A Deployment's selector is immutable (apps/v1): read it once.
  if (selector_.empty()) {
    selector_ = read_scale().selector;
    if (config_.dry_run) return {};
    if (selector_.empty())
      fail("Scale of Deployment {}/{}: no status.selector to find its pods by", namespace_, config_.deployment);
  }
  const std::string path =
      fmt::format("/api/v1/namespaces/{}/pods?labelSelector={}", namespace_, http::url_encode(selector_));
  const std::string what = fmt::format("pods of Deployment {}/{}", namespace_, config_.deployment);
  const json list = parse_object(call(bhttp::verb::get, path, {}, {}), "PodList", what);
  const auto items = list.find("items");
  if (items == list.end() || !(items->is_array() || items->is_null())) fail("{}: the PodList has no items list", what);
  std::vector<std::string> urls;
  if (items->is_null()) return urls;
  for (const json& pod : *items) {
    if (!pod.is_object() || !pod_ready(pod)) continue;
    const auto& status = pod["status"];
    if (!status.contains("podIP") || !status["podIP"].is_string()) continue;
    const std::string ip = status["podIP"].get<std::string>();
    urls.push_back(fmt::format("http://{}:{}", ip.find(':') != std::string::npos ? "[" + ip + "]" : ip, port));
  }
  return urls;
}

void KubernetesActuator::scale_to(int replicas, const std::string& reason) {
  if (replicas < 0) fail("kubernetes: cannot scale {} to {} replicas", config_.deployment, replicas);
  spdlog::info("kubernetes: scaling Deployment {}/{} to {}: {}", namespace_, config_.deployment, replicas, reason);
  const std::string patch = json{{"spec", {{"replicas", replicas}}}}.dump();
  const std::string body = call(bhttp::verb::patch, deployment_path_ + "/scale", patch, "application/merge-patch+json");
  if (config_.dry_run) {
    dry_desired_ = replicas;
    return;
  }
  const std::string what = "Scale of Deployment " + namespace_ + "/" + config_.deployment;
  const int applied = count_at(parse_object(body, "Scale", what), "spec", "replicas", what);
  if (applied != replicas)
    fail("{}: asked for {} replicas, the API server answered spec.replicas {}", what, replicas, applied);
}

}  // namespace tide::autoscaler::kubernetes
