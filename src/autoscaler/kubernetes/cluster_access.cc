#include "autoscaler/kubernetes/cluster_access.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace tide::autoscaler::kubernetes {
namespace {

namespace fs = std::filesystem;

// A scalar string field of a kubeconfig mapping; empty when absent.
std::string optional_string(const YAML::Node& map, const char* key, const std::string& path) {
  const YAML::Node node = map[key];
  if (!node || node.IsNull()) return {};
  if (!node.IsScalar()) fail("{}.{}: must be a string", path, key);
  return node.Scalar();
}

bool optional_bool(const YAML::Node& map, const char* key, const std::string& path) {
  const std::string text = optional_string(map, key, path);
  if (text.empty() || text == "false") return false;
  if (text == "true") return true;
  fail("{}.{}: must be true or false, not \"{}\"", path, key, text);
}

std::string resolve(const std::string& file, const std::string& base_dir) {
  if (file.empty() || fs::path(file).is_absolute() || base_dir.empty()) return file;
  return (fs::path(base_dir) / file).string();
}

// The entry of `list` (clusters, users or contexts) named `name`, and its inner mapping.
YAML::Node named_entry(const YAML::Node& root, const char* list, const char* inner, const std::string& name,
                       const std::string& origin) {
  const YAML::Node entries = root[list];
  if (!entries || entries.IsNull()) fail("{}: no {} (looking for \"{}\")", origin, list, name);
  if (!entries.IsSequence()) fail("{}: {}: must be a list", origin, list);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const YAML::Node entry = entries[i];
    if (!entry.IsMap()) fail("{}: {}[{}]: must be a mapping", origin, list, i);
    if (optional_string(entry, "name", fmt::format("{}[{}]", list, i)) != name) continue;
    const YAML::Node body = entry[inner];
    if (!body || !body.IsMap()) fail("{}: {}[name={}].{}: missing or not a mapping", origin, list, name, inner);
    return body;
  }
  fail("{}: {}: no entry named \"{}\"", origin, list, name);
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string base64_decode(const std::string& text, const std::string& field) {
  std::string out;
  uint32_t bits = 0;
  int nbits = 0;
  std::size_t symbols = 0, padding = 0;
  for (const char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++padding;
      ++symbols;
      continue;
    }
    const int v = base64_value(c);
    if (v < 0 || padding > 0) fail("{}: not valid base64 (unexpected '{}')", field, c == '\0' ? ' ' : c);
    ++symbols;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out.push_back(static_cast<char>((bits >> nbits) & 0xff));
    }
  }
  if (symbols % 4 != 0 || padding > 2) fail("{}: not valid base64 (length {} is not a multiple of 4)", field, symbols);
  if (out.empty()) fail("{}: empty", field);
  return out;
}

void parse_server_url(const std::string& url, ClusterAccess& access, const std::string& field) {
  std::string rest;
  if (url.starts_with("https://")) {
    access.scheme = "https";
    access.port = 443;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    access.scheme = "http";
    access.port = 80;
    rest = url.substr(7);
  } else {
    fail("{}: \"{}\" must start with https:// or http://", field, url);
  }
  const std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  access.base_path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!access.base_path.empty() && access.base_path.back() == '/') access.base_path.pop_back();
  if (authority.find('@') != std::string::npos) fail("{}: \"{}\": user info in the URL is not supported", field, url);
  std::string port_text;
  if (authority.starts_with("[")) {
    const std::size_t close = authority.find(']');
    if (close == std::string::npos) fail("{}: \"{}\": unclosed '[' in the host", field, url);
    access.host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') fail("{}: \"{}\": expected ':' after the IPv6 address", field, url);
      port_text = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    access.host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (access.host.empty()) fail("{}: \"{}\": no host", field, url);
  if (!port_text.empty()) {
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
      fail("{}: \"{}\": port \"{}\" is not 1..65535", field, url, port_text);
    access.port = static_cast<uint16_t>(port);
  }
}

ClusterAccess parse_kubeconfig(const std::string& text, const std::string& context, const std::string& base_dir,
                               const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("{}: not valid YAML: {}", origin, e.what());
  }
  if (!root.IsMap()) fail("{}: not a kubeconfig (expected a mapping with clusters, users and contexts)", origin);

  std::string context_name = context;
  if (context_name.empty()) {
    context_name = optional_string(root, "current-context", "kubeconfig");
    if (context_name.empty())
      fail("{}: current-context: not set, and no context was named (kubernetes.context)", origin);
  }
  ClusterAccess access;
  access.origin = fmt::format("{} context \"{}\"", origin, context_name);
  const YAML::Node ctx = named_entry(root, "contexts", "context", context_name, origin);
  const std::string ctx_path = fmt::format("contexts[name={}].context", context_name);
  const std::string cluster_name = optional_string(ctx, "cluster", ctx_path);
  if (cluster_name.empty()) fail("{}: {}.cluster: missing", origin, ctx_path);
  const std::string user_name = optional_string(ctx, "user", ctx_path);
  access.namespace_ = optional_string(ctx, "namespace", ctx_path);

  const YAML::Node cluster = named_entry(root, "clusters", "cluster", cluster_name, origin);
  const std::string cl = fmt::format("{}: clusters[name={}].cluster", origin, cluster_name);
  const std::string server = optional_string(cluster, "server", cl);
  if (server.empty()) fail("{}.server: missing", cl);
  parse_server_url(server, access, cl + ".server");
  if (cluster["proxy-url"]) fail("{}.proxy-url: proxies are not supported; reach the API server directly", cl);
  access.tls_server_name = optional_string(cluster, "tls-server-name", cl);
  access.insecure_skip_tls_verify = optional_bool(cluster, "insecure-skip-tls-verify", cl);
  const std::string ca_data = optional_string(cluster, "certificate-authority-data", cl);
  if (!ca_data.empty())
    access.ca_pem = base64_decode(ca_data, cl + ".certificate-authority-data");
  else
    access.ca_file = resolve(optional_string(cluster, "certificate-authority", cl), base_dir);
  if (access.insecure_skip_tls_verify && (!access.ca_pem.empty() || !access.ca_file.empty()))
    fail("{}: insecure-skip-tls-verify and a certificate authority are both set; keep one", cl);

  if (user_name.empty()) return access;  // no credentials (kubectl proxy, or a client certificate-free test server)
  const YAML::Node user = named_entry(root, "users", "user", user_name, origin);
  const std::string us = fmt::format("{}: users[name={}].user", origin, user_name);
  if (user["exec"])
    fail("{}.exec: credential plugins are not supported; give a token, tokenFile or client certificate", us);
  if (user["auth-provider"])
    fail("{}.auth-provider: auth providers are not supported; give a token or client certificate", us);
  if (user["username"] || user["password"]) fail("{}: basic auth (username/password) is not supported", us);
  access.token = trim(optional_string(user, "token", us));
  access.token_file = resolve(optional_string(user, "tokenFile", us), base_dir);
  if (!access.token.empty() && !access.token_file.empty()) fail("{}: token and tokenFile are both set; keep one", us);
  const std::string cert_data = optional_string(user, "client-certificate-data", us);
  if (!cert_data.empty())
    access.client_cert_pem = base64_decode(cert_data, us + ".client-certificate-data");
  else
    access.client_cert_file = resolve(optional_string(user, "client-certificate", us), base_dir);
  const std::string key_data = optional_string(user, "client-key-data", us);
  if (!key_data.empty())
    access.client_key_pem = base64_decode(key_data, us + ".client-key-data");
  else
    access.client_key_file = resolve(optional_string(user, "client-key", us), base_dir);
  const bool has_cert = !access.client_cert_pem.empty() || !access.client_cert_file.empty();
  const bool has_key = !access.client_key_pem.empty() || !access.client_key_file.empty();
  if (has_cert && !has_key) fail("{}: client-certificate given without client-key(-data)", us);
  if (has_key && !has_cert) fail("{}: client-key given without client-certificate(-data)", us);
  if (has_cert && access.scheme != "https") fail("{}: a client certificate needs an https:// server", us);
  return access;
}

ClusterAccess load_kubeconfig(const std::string& path, const std::string& context) {
  const std::string text = read_access_file(path, "kubeconfig");
  return parse_kubeconfig(text, context, fs::path(path).parent_path().string(), "kubeconfig " + path);
}

std::string default_kubeconfig_path() {
  if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    const std::string list = env;
    return list.substr(0, list.find(':'));
  }
  const char* home = std::getenv("HOME");
  if (!home || !*home) fail("kubeconfig: neither $KUBECONFIG nor $HOME is set; name the file (kubernetes.kubeconfig)");
  return (fs::path(home) / ".kube" / "config").string();
}

ClusterAccess in_cluster_access(const std::string& service_account_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    fail(
        "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not running in a pod?); "
        "use kubernetes.kubeconfig instead");
  ClusterAccess access;
  access.origin = "in-cluster service account " + service_account_dir;
  const std::string h = host;
  parse_server_url(fmt::format("https://{}:{}", h.find(':') != std::string::npos ? "[" + h + "]" : h, port), access,
                   "KUBERNETES_SERVICE_HOST/PORT");
  const fs::path dir(service_account_dir);
  for (const char* name : {"token", "ca.crt"})
    if (!fs::exists(dir / name))
      fail(
          "in-cluster: {} is missing (is the service-account token mounted? automountServiceAccountToken must not "
          "be false)",
          (dir / name).string());
  access.token_file = (dir / "token").string();
  access.ca_file = (dir / "ca.crt").string();
  if (fs::exists(dir / "namespace"))
    access.namespace_ = trim(read_access_file((dir / "namespace").string(), "in-cluster"));
  return access;
}

std::string read_access_file(const std::string& path, const std::string& origin, const std::string& kind) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot read {}{}{}", origin, kind, kind.empty() ? "" : " ", path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace tide::autoscaler::kubernetes
