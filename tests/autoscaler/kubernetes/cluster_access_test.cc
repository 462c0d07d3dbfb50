// Kubeconfig parsing (contexts, base64 data fields, files relative to the kubeconfig, refused
// credential kinds, missing fields), in-cluster access from a service-account directory, and the
// `kubernetes:` config section.
#include "autoscaler/kubernetes/cluster_access.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "autoscaler/kubernetes/kubernetes_actuator.h"
#include "autoscaler/kubernetes/kubernetes_config.h"
#include "common/error.h"
#include "fake_api_server.h"

namespace tide::autoscaler::kubernetes {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// "-----BEGIN CERTIFICATE-----\nTEST\n" and "hello" in base64.
const char* kCaData = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClRFU1QK";

const char* kKubeconfig = R"(
apiVersion: v1
kind: Config
preferences: {}
current-context: prod
clusters:
- name: prod-cluster
  cluster:
    server: https://api.prod.example:6443
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClRFU1QK
- name: dev-cluster
  cluster:
    server: http://127.0.0.1:8001/
    extensions: []
- name: ipv6
  cluster:
    server: https://[fd00::1]/k8s/clusters/c-1
    insecure-skip-tls-verify: true
    tls-server-name: kubernetes.default
contexts:
- name: prod
  context: {cluster: prod-cluster, user: prod-admin, namespace: inference}
- name: dev
  context: {cluster: dev-cluster}
- name: files
  context: {cluster: prod-cluster, user: files-user}
- name: v6
  context: {cluster: ipv6, user: prod-admin}
users:
- name: prod-admin
  user:
    token: " abc.def "
- name: files-user
  user:
    tokenFile: secrets/token
    client-certificate: certs/client.crt
    client-key: /abs/client.key
)";

TEST(Kubeconfig, CurrentContextSelectsClusterUserAndNamespace) {
  const ClusterAccess a = parse_kubeconfig(kKubeconfig, "", "/home/op/.kube", "kubeconfig test");
  EXPECT_EQ(a.scheme, "https");
  EXPECT_EQ(a.host, "api.prod.example");
  EXPECT_EQ(a.port, 6443);
  EXPECT_EQ(a.base_path, "");
  EXPECT_EQ(a.ca_pem, "-----BEGIN CERTIFICATE-----\nTEST\n");
  EXPECT_EQ(a.token, "abc.def");
  EXPECT_EQ(a.namespace_, "inference");
  EXPECT_EQ(a.origin, "kubeconfig test context \"prod\"");
}

TEST(Kubeconfig, ANamedContextOverridesTheCurrentOne) {
  const ClusterAccess a = parse_kubeconfig(kKubeconfig, "dev", "", "k");
  EXPECT_EQ(a.scheme, "http");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8001);
  EXPECT_EQ(a.base_path, "");
  EXPECT_TRUE(a.token.empty());
  EXPECT_TRUE(a.namespace_.empty());
}

TEST(Kubeconfig, RelativeFilesResolveAgainstTheKubeconfigsDirectory) {
  const ClusterAccess a = parse_kubeconfig(kKubeconfig, "files", "/home/op/.kube", "k");
  EXPECT_EQ(a.token_file, "/home/op/.kube/secrets/token");
  EXPECT_EQ(a.client_cert_file, "/home/op/.kube/certs/client.crt");
  EXPECT_EQ(a.client_key_file, "/abs/client.key");
}

TEST(Kubeconfig, Ipv6ServerWithPathPrefixAndTlsServerName) {
  const ClusterAccess a = parse_kubeconfig(kKubeconfig, "v6", "", "k");
  EXPECT_EQ(a.host, "fd00::1");
  EXPECT_EQ(a.port, 443);
  EXPECT_EQ(a.base_path, "/k8s/clusters/c-1");
  EXPECT_TRUE(a.insecure_skip_tls_verify);
  EXPECT_EQ(a.tls_server_name, "kubernetes.default");
}

TEST(Kubeconfig, MissingAndMalformedFieldsAreNamed) {
  auto err = [](const std::string& text, const std::string& context = "") {
    return error_of([&] { parse_kubeconfig(text, context, "", "kubeconfig k"); });
  };
  EXPECT_NE(err(kKubeconfig, "staging").find("contexts: no entry named \"staging\""), std::string::npos);
  EXPECT_NE(err("clusters: []\n").find("current-context: not set"), std::string::npos);
  EXPECT_NE(err("[1, 2]").find("not a kubeconfig"), std::string::npos);
  EXPECT_NE(err("a: [b").find("not valid YAML"), std::string::npos);
  const std::string head = "current-context: c\ncontexts:\n- name: c\n  context: {cluster: x, user: u}\n";
  EXPECT_NE(err(head).find("no clusters"), std::string::npos);
  EXPECT_NE(err(head + "clusters:\n- name: x\n  cluster: {}\n").find("clusters[name=x].cluster.server: missing"),
            std::string::npos);
  EXPECT_NE(err(head + "clusters:\n- name: x\n  cluster: {server: ftp://x}\n").find("must start with https://"),
            std::string::npos);
  EXPECT_NE(err(head + "clusters:\n- name: x\n  cluster: {server: 'https://x:99999'}\n").find("port \"99999\""),
            std::string::npos);
  EXPECT_NE(err(head + "clusters:\n- name: x\n  cluster: {server: 'https://x', certificate-authority-data: 'a$b='}\n")
                .find("certificate-authority-data: not valid base64"),
            std::string::npos);
  EXPECT_NE(err(head + "clusters:\n- name: x\n  cluster: {server: 'https://x', certificate-authority-data: 'abc'}\n")
                .find("not a multiple of 4"),
            std::string::npos);
  EXPECT_NE(err(head + "clusters:\n- name: x\n  cluster: {server: 'https://x', insecure-skip-tls-verify: yes}\n")
                .find("insecure-skip-tls-verify: must be true or false"),
            std::string::npos);
  const std::string cluster = head + "clusters:\n- name: x\n  cluster: {server: 'https://x'}\n";
  EXPECT_NE(err(cluster).find("no users"), std::string::npos);
  EXPECT_NE(err(cluster + "users:\n- name: u\n  user: {exec: {command: aws}}\n").find("exec: credential plugins"),
            std::string::npos);
  EXPECT_NE(err(cluster + "users:\n- name: u\n  user: {auth-provider: {name: gcp}}\n").find("auth-provider"),
            std::string::npos);
  EXPECT_NE(err(cluster + "users:\n- name: u\n  user: {username: a, password: b}\n").find("basic auth"),
            std::string::npos);
  EXPECT_NE(err(cluster + "users:\n- name: u\n  user: {client-certificate-data: " + std::string(kCaData) + "}\n")
                .find("client-certificate given without client-key"),
            std::string::npos);
  EXPECT_NE(err(cluster + "users:\n- name: u\n  user: {token: a, tokenFile: /t}\n").find("token and tokenFile"),
            std::string::npos);
  EXPECT_NE(err(cluster + "users:\n- name: u\n  user: [1]\n").find("users[name=u].user: missing or not a mapping"),
            std::string::npos);
}

TEST(Kubeconfig, Base64DecodesStandardAlphabetWithPaddingAndLineBreaks) {
  EXPECT_EQ(base64_decode("aGVs\nbG8=", "f"), "hello");
  EXPECT_EQ(base64_decode("aGk=", "f"), "hi");
  EXPECT_EQ(base64_decode("/+8=", "f"), "\xff\xef");
  EXPECT_NE(error_of([] { base64_decode("aGk=aGk=", "f"); }).find("not valid base64"), std::string::npos);
  EXPECT_NE(error_of([] { base64_decode("", "f"); }).find("f:"), std::string::npos);
}

class InCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tide-sa-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "token") << "sa-token\n";
    std::ofstream(dir_ / "ca.crt") << "-----BEGIN CERTIFICATE-----\n";
    std::ofstream(dir_ / "namespace") << "inference\n";
    ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  }
  void TearDown() override {
    ::unsetenv("KUBERNETES_SERVICE_HOST");
    ::unsetenv("KUBERNETES_SERVICE_PORT");
    fs::remove_all(dir_);
  }
  fs::path dir_;
};

TEST_F(InCluster, ReadsTheServiceAccountDirectoryAndTheServiceEnvironment) {
  const ClusterAccess a = in_cluster_access(dir_.string());
  EXPECT_EQ(a.scheme, "https");
  EXPECT_EQ(a.host, "10.96.0.1");
  EXPECT_EQ(a.port, 443);
  EXPECT_EQ(a.token_file, (dir_ / "token").string());
  EXPECT_EQ(a.ca_file, (dir_ / "ca.crt").string());
  EXPECT_EQ(a.namespace_, "inference");
}

TEST_F(InCluster, AnIpv6ServiceHostIsBracketedIntoTheUrl) {
  ::setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
  const ClusterAccess a = in_cluster_access(dir_.string());
  EXPECT_EQ(a.host, "fd00:10:96::1");
}

TEST_F(InCluster, MissingPiecesAreNamed) {
  fs::remove(dir_ / "token");
  EXPECT_NE(error_of([&] { in_cluster_access(dir_.string()); }).find((dir_ / "token").string() + " is missing"),
            std::string::npos);
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_NE(error_of([&] { in_cluster_access(dir_.string()); }).find("KUBERNETES_SERVICE_HOST"), std::string::npos);
}

TEST_F(InCluster, TheActuatorReadsTheNamespaceAndTokenFromTheDirectory) {
  KubernetesConfig c;
  c.deployment = "tide";
  c.in_cluster = true;
  c.service_account_dir = dir_.string();
  // The CA in the directory is not a certificate: building the client says so.
  EXPECT_NE(error_of([&] { KubernetesActuator actuator(c); }).find("certificate authority"), std::string::npos);
}

TEST(KubeconfigFile, TheActuatorConnectsThroughAKubeconfigFile) {
  const fs::path dir = fs::temp_directory_path() / ("tide-kc-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  testing::FakeApiServer server([](const auto&) {
    return testing::json_response(200, R"({"kind":"Deployment","spec":{"replicas":2},"status":{"readyReplicas":2}})");
  });
  std::ofstream(dir / "token") << "file-token";
  std::ofstream(dir / "config") << "current-context: local\ncontexts:\n- name: local\n  context: {cluster: c, user: u, "
                                   "namespace: team-a}\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:"
                                << server.port() << "'}\nusers:\n- name: u\n  user: {tokenFile: token}\n";
  KubernetesConfig c;
  c.deployment = "tide";
  c.kubeconfig = (dir / "config").string();
  KubernetesActuator actuator(c);
  EXPECT_EQ(actuator.observe().ready, 2);
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].target(), "/apis/apps/v1/namespaces/team-a/deployments/tide");
  EXPECT_EQ(server.requests()[0][boost::beast::http::field::authorization], "Bearer file-token");
  fs::remove_all(dir);
  EXPECT_NE(error_of([&] { KubernetesActuator again(c); }).find("cannot read " + c.kubeconfig), std::string::npos);
}

TEST(KubernetesConfigSection, ParsesEveryField) {
  const KubernetesConfig c = parse_kubernetes_config(YAML::Load(R"(
deployment: tide-v3
namespace: inference
kubeconfig: /etc/tide/kubeconfig
context: prod
dry_run: true
timeout: 3s
replica_port: 9000
)"));
  EXPECT_EQ(c.deployment, "tide-v3");
  EXPECT_EQ(c.namespace_, "inference");
  EXPECT_EQ(c.kubeconfig, "/etc/tide/kubeconfig");
  EXPECT_EQ(c.context, "prod");
  EXPECT_FALSE(c.in_cluster);
  EXPECT_TRUE(c.dry_run);
  EXPECT_EQ(c.timeout, std::chrono::seconds(3));
  EXPECT_EQ(c.replica_port, 9000);
  const KubernetesConfig in = parse_kubernetes_config(YAML::Load("{deployment: tide, in_cluster: true}"));
  EXPECT_TRUE(in.in_cluster);
  EXPECT_EQ(in.timeout, std::chrono::seconds(10));
  EXPECT_EQ(in.service_account_dir, "/var/run/secrets/kubernetes.io/serviceaccount");
}

TEST(KubernetesConfigSection, RefusesWhatCannotWork) {
  auto err = [](const std::string& yaml) { return error_of([&] { parse_kubernetes_config(YAML::Load(yaml)); }); };
  EXPECT_NE(err("{namespace: a}").find("kubernetes.deployment: missing"), std::string::npos);
  EXPECT_NE(err("{deployment: tide, replica: 3}").find("replica"), std::string::npos);
  EXPECT_NE(err("{deployment: Tide_V3}").find("kubernetes.deployment: \"Tide_V3\" is not a valid Kubernetes name"),
            std::string::npos);
  EXPECT_NE(err("{deployment: tide, namespace: a.b}").find("kubernetes.namespace"), std::string::npos);
  EXPECT_NE(err("{deployment: tide, in_cluster: true, kubeconfig: /k}").find("in_cluster and kubeconfig"),
            std::string::npos);
  EXPECT_NE(err("{deployment: tide, in_cluster: true, context: c}").find("context applies to a kubeconfig"),
            std::string::npos);
  EXPECT_NE(err("{deployment: tide, dry_run: maybe}").find("kubernetes.dry_run"), std::string::npos);
  EXPECT_NE(err("{deployment: tide, timeout: 10ms}").find("kubernetes.timeout"), std::string::npos);
  EXPECT_NE(err("{deployment: tide, replica_port: 0}").find("kubernetes.replica_port"), std::string::npos);
  EXPECT_NE(err("[1]").find("kubernetes"), std::string::npos);
  EXPECT_NE(error_of([] { parse_kubernetes_config(YAML::Node()); }).find("kubernetes: missing"), std::string::npos);
}

}  // namespace
}  // namespace tide::autoscaler::kubernetes
