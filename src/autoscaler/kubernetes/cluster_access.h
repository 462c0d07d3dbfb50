#pragma once
// How to reach and authenticate to one Kubernetes API server, resolved from a kubeconfig
// context or from a pod's service account. Parsing is pure (no file reads), so untrusted or
// fuzzed kubeconfigs touch nothing on disk; files named here are read by ApiClient when it is
// built (certificates, keys) or at every call (token files, which the kubelet rotates).
#include <cstdint>
#include <string>

namespace tide::autoscaler::kubernetes {

struct ClusterAccess {
  std::string scheme = "https";  // "https", or "http" (kubectl proxy, tests)
  std::string host;              // name or address, without IPv6 brackets
  uint16_t port = 443;
  std::string base_path;        // path prefix of the server URL without the trailing '/' (often empty)
  std::string tls_server_name;  // name to verify the certificate against, when not `host`
  std::string ca_pem;           // trusted CAs; with ca_file empty too: the system's roots
  std::string ca_file;
  bool insecure_skip_tls_verify = false;
  std::string token;       // bearer token
  std::string token_file;  // bearer token re-read at every call
  std::string client_cert_pem, client_cert_file;
  std::string client_key_pem, client_key_file;
  std::string namespace_;  // the context's namespace (or the pod's); empty when unset
  std::string origin;      // where this came from, for errors: "kubeconfig X context Y", "in-cluster"
};

// Parses a kubeconfig's text. `context` empty means current-context. Relative file paths
// resolve against `base_dir` (the kubeconfig's directory, as kubectl does). Throws tide::Error
// naming the kubeconfig field that is missing or malformed, and refusing credentials Tide does
// not implement (exec plugins, auth providers, basic auth) rather than connecting without them.
ClusterAccess parse_kubeconfig(const std::string& text, const std::string& context, const std::string& base_dir,
                               const std::string& origin);
// Reads `path` and parses it.
ClusterAccess load_kubeconfig(const std::string& path, const std::string& context);
// The kubeconfig kubectl would use: the first path in $KUBECONFIG, else ~/.kube/config.
std::string default_kubeconfig_path();

// A pod's own access: the API server from KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT,
// the CA, token and namespace from the service-account directory (normally
// /var/run/secrets/kubernetes.io/serviceaccount). Throws naming what is missing.
ClusterAccess in_cluster_access(const std::string& service_account_dir);

// "https://host:port/prefix" into scheme, host, port and base path of `access`. `field` names
// the setting in errors.
void parse_server_url(const std::string& url, ClusterAccess& access, const std::string& field);

// Standard base64 (RFC 4648, with padding; whitespace ignored) as kubeconfig *-data fields use.
std::string base64_decode(const std::string& text, const std::string& field);

// A file the access names (kubeconfig, token, CA, client certificate or key), whole; throws
// tide::Error "<origin>: cannot read <kind> <path>" (kind may be empty). The files' text with
// surrounding white space removed is what the kubelet's token and namespace files hold.
std::string read_access_file(const std::string& path, const std::string& origin, const std::string& kind = {});
std::string trim(std::string text);

}  // namespace tide::autoscaler::kubernetes
