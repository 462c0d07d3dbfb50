// The actuator against a stand-in API server that checks the requests the Kubernetes API
// documents for a Deployment and its scale subresource, and answers the documented objects
// (Deployment, autoscaling/v1 Scale, Status). No real API server runs on these machines.
#include "autoscaler/kubernetes/kubernetes_actuator.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "fake_api_server.h"

namespace tide::autoscaler::kubernetes {
namespace {

using nlohmann::json;
using testing::FakeApiServer;
using testing::json_response;
using testing::status_response;
using testing::TestPki;

const char* kDeploymentPath = "/apis/apps/v1/namespaces/inference/deployments/tide";
const char* kScalePath = "/apis/apps/v1/namespaces/inference/deployments/tide/scale";

KubernetesConfig config() {
  KubernetesConfig c;
  c.deployment = "tide";
  c.namespace_ = "inference";
  c.timeout = std::chrono::seconds(5);
  return c;
}

ClusterAccess plain(uint16_t port) {
  ClusterAccess a;
  a.scheme = "http";
  a.host = "127.0.0.1";
  a.port = port;
  a.token = "secret-token";
  a.origin = "test";
  return a;
}

std::string deployment_json(int spec, int status, int ready, int updated) {
  return json{{"kind", "Deployment"},
              {"apiVersion", "apps/v1"},
              {"metadata", {{"name", "tide"}, {"namespace", "inference"}, {"resourceVersion", "4711"}}},
              {"spec", {{"replicas", spec}}},
              {"status", {{"replicas", status}, {"readyReplicas", ready}, {"updatedReplicas", updated}}}}
      .dump();
}

std::string scale_json(int spec, int status) {
  return json{{"kind", "Scale"},
              {"apiVersion", "autoscaling/v1"},
              {"metadata", {{"name", "tide"}, {"namespace", "inference"}, {"resourceVersion", "4712"}}},
              {"spec", {{"replicas", spec}}},
              {"status", {{"replicas", status}, {"selector", "app=tide"}}}}
      .dump();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(KubernetesActuator, ObserveGetsTheDeploymentWithTheDocumentedHeaders) {
  FakeApiServer server([](const auto&) { return json_response(200, deployment_json(4, 3, 2, 3)); });
  KubernetesActuator actuator(config(), plain(server.port()));
  const ReplicaCounts counts = actuator.observe();
  EXPECT_EQ(counts.desired, 4);
  EXPECT_EQ(counts.ready, 2);
  EXPECT_EQ(counts.starting, 2);
  EXPECT_EQ(counts.draining, 0);

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& r = requests[0];
  EXPECT_EQ(r.method(), boost::beast::http::verb::get);
  EXPECT_EQ(r.target(), kDeploymentPath);
  EXPECT_EQ(r[boost::beast::http::field::accept], "application/json");
  EXPECT_EQ(r[boost::beast::http::field::authorization], "Bearer secret-token");
  EXPECT_EQ(r[boost::beast::http::field::host], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_TRUE(r.body().empty());
}

TEST(KubernetesActuator, ZeroCountsAreOmittedByTheApiAndReadAsZero) {
  FakeApiServer server([](const auto&) {
    return json_response(200, R"({"kind":"Deployment","spec":{"replicas":0},"status":{"observedGeneration":3}})");
  });
  KubernetesActuator actuator(config(), plain(server.port()));
  const ReplicaCounts counts = actuator.observe();
  EXPECT_EQ(counts.desired, 0);
  EXPECT_EQ(counts.ready, 0);
  EXPECT_EQ(counts.starting, 0);
}

TEST(KubernetesActuator, ScaleToSendsAMergePatchOfSpecReplicasToTheScaleSubresource) {
  FakeApiServer server([](const testing::Request& r) {
    const json body = json::parse(r.body());
    return json_response(200, scale_json(body["spec"]["replicas"].get<int>(), 2));
  });
  KubernetesActuator actuator(config(), plain(server.port()));
  actuator.scale_to(5, "in_flight 9/replica > 4");

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& r = requests[0];
  EXPECT_EQ(r.method(), boost::beast::http::verb::patch);
  EXPECT_EQ(r.target(), kScalePath);
  EXPECT_EQ(r[boost::beast::http::field::content_type], "application/merge-patch+json");
  EXPECT_EQ(r[boost::beast::http::field::accept], "application/json");
  EXPECT_EQ(r[boost::beast::http::field::authorization], "Bearer secret-token");
  EXPECT_EQ(json::parse(r.body()), json::parse(R"({"spec":{"replicas":5}})"));
}

TEST(KubernetesActuator, ScaleToRefusesAnAnswerThatDidNotApplyTheCount) {
  FakeApiServer server([](const auto&) { return json_response(200, scale_json(2, 2)); });
  KubernetesActuator actuator(config(), plain(server.port()));
  EXPECT_NE(error_of([&] {
              actuator.scale_to(5, "test");
            }).find("asked for 5 replicas, the API server answered spec.replicas 2"),
            std::string::npos);
}

TEST(KubernetesActuator, ReadScaleReadsTheAutoscalingV1Scale) {
  FakeApiServer server([](const auto&) { return json_response(200, scale_json(3, 2)); });
  KubernetesActuator actuator(config(), plain(server.port()));
  const Scale scale = actuator.read_scale();
  EXPECT_EQ(scale.spec_replicas, 3);
  EXPECT_EQ(scale.status_replicas, 2);
  EXPECT_EQ(scale.selector, "app=tide");
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].target(), kScalePath);
  EXPECT_EQ(server.requests()[0].method(), boost::beast::http::verb::get);
}

json pod(const std::string& ip, const char* ready, bool deleting = false) {
  json p = {{"metadata", {{"name", "tide-" + ip}}},
            {"status", {{"podIP", ip}, {"conditions", json::array({{{"type", "Ready"}, {"status", ready}}})}}}};
  if (deleting) p["metadata"]["deletionTimestamp"] = "2026-12-01T10:00:00Z";
  return p;
}

TEST(KubernetesActuator, ReadyReplicaUrlsListThePodsOfTheScaleSelector) {
  FakeApiServer server([](const testing::Request& r) {
    if (r.target() == kScalePath) return json_response(200, scale_json(4, 4));
    const json list = {
        {"kind", "PodList"},
        {"apiVersion", "v1"},
        {"items", json::array({pod("10.0.0.7", "True"),
                               pod("10.0.0.8", "False"),
                               pod("10.0.0.9", "True", true),
                               pod("fd00::5", "True"),
                               {{"metadata", {{"name", "pending"}}}, {"status", {{"phase", "Pending"}}}}})}};
    return json_response(200, list.dump());
  });
  KubernetesConfig c = config();
  c.replica_port = 8000;
  KubernetesActuator actuator(c, plain(server.port()));
  EXPECT_EQ(actuator.ready_replica_urls(), (std::vector<std::string>{"http://10.0.0.7:8000", "http://[fd00::5]:8000"}));
  EXPECT_EQ(actuator.ready_replica_urls().size(), 2u);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);  // the selector is read once
  EXPECT_EQ(requests[0].target(), kScalePath);
  EXPECT_EQ(requests[1].target(), "/api/v1/namespaces/inference/pods?labelSelector=app%3Dtide");
  EXPECT_EQ(requests[1][boost::beast::http::field::authorization], "Bearer secret-token");
  EXPECT_EQ(requests[2].target(), requests[1].target());
}

// A condition whose fields are not strings (no conforming API server sends one) reads as not
// ready, rather than stopping the control loop with a JSON library error.
TEST(KubernetesActuator, ConditionsThatAreNotStringsMeanNotReady) {
  FakeApiServer server([](const testing::Request& r) {
    if (r.target() == kScalePath) return json_response(200, scale_json(3, 3));
    json odd_status = pod("10.0.0.2", "True"), odd_type = pod("10.0.0.3", "True");
    odd_status["status"]["conditions"][0]["status"] = true;
    odd_type["status"]["conditions"][0]["type"] = nullptr;
    const json list = {{"kind", "PodList"},
                       {"apiVersion", "v1"},
                       {"items", json::array({pod("10.0.0.1", "True"), odd_status, odd_type})}};
    return json_response(200, list.dump());
  });
  KubernetesConfig c = config();
  c.replica_port = 8000;
  KubernetesActuator actuator(c, plain(server.port()));
  EXPECT_EQ(actuator.ready_replica_urls(), (std::vector<std::string>{"http://10.0.0.1:8000"}));
}

TEST(KubernetesActuator, NotFoundCarriesTheStatusMessageAndWhatToCheck) {
  FakeApiServer server(
      [](const auto&) { return status_response(404, "NotFound", R"(deployments.apps \"tide\" not found)"); });
  KubernetesActuator actuator(config(), plain(server.port()));
  const std::string message = error_of([&] { actuator.observe(); });
  EXPECT_NE(message.find("HTTP 404"), std::string::npos) << message;
  EXPECT_NE(message.find(R"(NotFound: deployments.apps "tide" not found)"), std::string::npos) << message;
  EXPECT_NE(message.find("kubectl -n inference get deployment tide"), std::string::npos) << message;
}

TEST(KubernetesActuator, ForbiddenNamesTheRbacRulesNeeded) {
  FakeApiServer server([](const auto&) {
    return status_response(403, "Forbidden",
                           R"(deployments.apps \"tide\" is forbidden: User \"system:serviceaccount:inference:tide\" )"
                           R"(cannot patch resource \"deployments/scale\" in API group \"apps\" in the namespace )"
                           R"(\"inference\")");
  });
  KubernetesActuator actuator(config(), plain(server.port()));
  const std::string message = error_of([&] { actuator.scale_to(2, "test"); });
  EXPECT_NE(message.find("PATCH"), std::string::npos) << message;
  EXPECT_NE(message.find("cannot patch resource \"deployments/scale\""), std::string::npos) << message;
  EXPECT_NE(message.find("get, patch on deployments/scale in namespace inference"), std::string::npos) << message;
}

TEST(KubernetesActuator, ConflictSaysTheNextTickRetries) {
  FakeApiServer server([](const auto&) {
    return status_response(409, "Conflict",
                           "Operation cannot be fulfilled on deployments.apps \\\"tide\\\": the object has been "
                           "modified; please apply your changes to the latest version and try again");
  });
  KubernetesActuator actuator(config(), plain(server.port()));
  const std::string message = error_of([&] { actuator.scale_to(2, "test"); });
  EXPECT_NE(message.find("HTTP 409: Conflict: Operation cannot be fulfilled"), std::string::npos) << message;
  EXPECT_NE(message.find("the next tick tries again"), std::string::npos) << message;
}

TEST(KubernetesActuator, UnauthorizedPointsAtTheCredentials) {
  FakeApiServer server([](const auto&) { return status_response(401, "Unauthorized", "Unauthorized"); });
  KubernetesActuator actuator(config(), plain(server.port()));
  const std::string message = error_of([&] { actuator.observe(); });
  EXPECT_NE(message.find("HTTP 401: Unauthorized"), std::string::npos) << message;
  EXPECT_NE(message.find("check the token"), std::string::npos) << message;
}

TEST(KubernetesActuator, AnErrorThatIsNotAStatusObjectShowsTheBody) {
  FakeApiServer server([](const auto&) {
    testing::Response r{boost::beast::http::status::bad_gateway, 11};
    r.body() = "upstream connect error";
    return r;
  });
  KubernetesActuator actuator(config(), plain(server.port()));
  EXPECT_NE(error_of([&] { actuator.observe(); }).find("HTTP 502: upstream connect error"), std::string::npos);
}

TEST(KubernetesActuator, AMalformedDeploymentIsAClearError) {
  FakeApiServer server(
      [](const auto&) { return json_response(200, R"({"kind":"Deployment","spec":{"replicas":"3"}})"); });
  KubernetesActuator actuator(config(), plain(server.port()));
  EXPECT_NE(error_of([&] { actuator.observe(); }).find("spec.replicas is not a replica count"), std::string::npos);
}

TEST(KubernetesActuator, TheTokenFileIsReadAtEveryCallSoARotatedTokenIsUsed) {
  const std::string dir = std::filesystem::temp_directory_path() / ("tide-token-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/token") << "first\n";
  FakeApiServer server([](const auto&) { return json_response(200, deployment_json(1, 1, 1, 1)); });
  ClusterAccess access = plain(server.port());
  access.token.clear();
  access.token_file = dir + "/token";
  KubernetesActuator actuator(config(), access);
  actuator.observe();
  std::ofstream(dir + "/token") << "second\n";
  actuator.observe();
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0][boost::beast::http::field::authorization], "Bearer first");
  EXPECT_EQ(requests[1][boost::beast::http::field::authorization], "Bearer second");
  std::filesystem::remove_all(dir);
}

TEST(KubernetesActuator, DryRunPrintsEveryCallWithoutTheTokenAndSendsNothing) {
  FakeApiServer server([](const auto&) { return json_response(200, deployment_json(1, 1, 1, 1)); });
  KubernetesConfig c = config();
  c.dry_run = true;
  std::string printed;
  KubernetesActuator actuator(c, plain(server.port()), [&](const std::string& text) { printed += text; });
  EXPECT_EQ(actuator.observe().desired, 0);
  actuator.scale_to(3, "test");
  const ReplicaCounts counts = actuator.observe();
  EXPECT_EQ(counts.desired, 3);
  EXPECT_EQ(counts.ready, 3);
  EXPECT_TRUE(server.requests().empty());

  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  EXPECT_NE(printed.find("dry run: GET " + base + kDeploymentPath + "\n"), std::string::npos) << printed;
  EXPECT_NE(printed.find("dry run: PATCH " + base + kScalePath + "\n"), std::string::npos) << printed;
  EXPECT_NE(printed.find("Content-Type: application/merge-patch+json"), std::string::npos) << printed;
  EXPECT_NE(printed.find(R"({"spec":{"replicas":3}})"), std::string::npos) << printed;
  EXPECT_NE(printed.find("Authorization: Bearer <redacted>"), std::string::npos) << printed;
  EXPECT_EQ(printed.find("secret-token"), std::string::npos) << printed;
}

TEST(KubernetesActuator, AnApiServerThatNeverAnswersTimesOut) {
  // Listening, so the connection is made, but nothing ever reads or answers.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor silent(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  KubernetesConfig c = config();
  c.timeout = std::chrono::milliseconds(200);
  KubernetesActuator actuator(c, plain(silent.local_endpoint().port()));
  EXPECT_NE(error_of([&] { actuator.observe(); }).find("read response: timed out"), std::string::npos);
}

TEST(KubernetesActuator, ANamespaceComesFromTheConfigThenTheContextThenDefault) {
  ClusterAccess access = plain(1);
  access.namespace_ = "from-context";
  KubernetesConfig c = config();
  EXPECT_EQ(KubernetesActuator(c, access).namespace_name(), "inference");
  c.namespace_.clear();
  EXPECT_EQ(KubernetesActuator(c, access).namespace_name(), "from-context");
  EXPECT_EQ(KubernetesActuator(c, plain(1)).deployment_path(), "/apis/apps/v1/namespaces/default/deployments/tide");
}

// HTTPS: the server's certificate is checked against the cluster's CA and its name.
class KubernetesTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new TestPki(); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override {
    tls_.use_certificate_chain_file(pki_->server_crt);
    tls_.use_private_key_file(pki_->server_key, boost::asio::ssl::context::pem);
  }
  ClusterAccess https(uint16_t port) {
    ClusterAccess a = plain(port);
    a.scheme = "https";
    a.ca_file = pki_->ca_crt;
    return a;
  }
  static TestPki* pki_;
  boost::asio::ssl::context tls_{boost::asio::ssl::context::tls_server};
};
TestPki* KubernetesTls::pki_ = nullptr;

TEST_F(KubernetesTls, VerifiesTheServerAgainstTheClusterCa) {
  FakeApiServer server([](const auto&) { return json_response(200, deployment_json(2, 2, 2, 2)); }, &tls_);
  KubernetesActuator actuator(config(), https(server.port()));
  EXPECT_EQ(actuator.observe().ready, 2);
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0][boost::beast::http::field::authorization], "Bearer secret-token");
}

TEST_F(KubernetesTls, VerifiesAHostNameThroughSni) {
  FakeApiServer server([](const auto&) { return json_response(200, deployment_json(2, 2, 1, 2)); }, &tls_);
  ClusterAccess access = https(server.port());
  access.host = "localhost";
  KubernetesActuator actuator(config(), access);
  EXPECT_EQ(actuator.observe().ready, 1);
}

TEST_F(KubernetesTls, RefusesAServerSignedByAnotherCa) {
  FakeApiServer server([](const auto&) { return json_response(200, deployment_json(2, 2, 2, 2)); }, &tls_);
  ClusterAccess access = https(server.port());
  access.ca_file = pki_->other_ca_crt;
  KubernetesActuator actuator(config(), access);
  const std::string message = error_of([&] { actuator.observe(); });
  EXPECT_NE(message.find("TLS handshake"), std::string::npos) << message;
  EXPECT_NE(message.find("certificate verification"), std::string::npos) << message;
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(KubernetesTls, RefusesACertificateForAnotherName) {
  FakeApiServer server([](const auto&) { return json_response(200, deployment_json(2, 2, 2, 2)); }, &tls_);
  ClusterAccess access = https(server.port());
  access.tls_server_name = "api.other.example";
  KubernetesActuator actuator(config(), access);
  const std::string message = error_of([&] { actuator.observe(); });
  EXPECT_NE(message.find("TLS handshake"), std::string::npos) << message;
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(KubernetesTls, InsecureSkipTlsVerifyAcceptsAnyCertificate) {
  FakeApiServer server([](const auto&) { return json_response(200, deployment_json(2, 2, 2, 2)); }, &tls_);
  ClusterAccess access = https(server.port());
  access.ca_file.clear();
  access.insecure_skip_tls_verify = true;
  KubernetesActuator actuator(config(), access);
  EXPECT_EQ(actuator.observe().desired, 2);
}

TEST_F(KubernetesTls, AuthenticatesWithAClientCertificate) {
  tls_.set_verify_mode(boost::asio::ssl::verify_peer | boost::asio::ssl::verify_fail_if_no_peer_cert);
  tls_.load_verify_file(pki_->ca_crt);
  FakeApiServer server([](const auto&) { return json_response(200, scale_json(4, 4)); }, &tls_);
  ClusterAccess access = https(server.port());
  access.token.clear();
  access.client_cert_pem = TestPki::read(pki_->client_crt);
  access.client_key_pem = TestPki::read(pki_->client_key);
  KubernetesActuator actuator(config(), access);
  EXPECT_EQ(actuator.read_scale().spec_replicas, 4);
  EXPECT_EQ(server.requests()[0].count(boost::beast::http::field::authorization), 0u);

  ClusterAccess without = https(server.port());
  KubernetesActuator refused(config(), without);
  EXPECT_NE(error_of([&] { refused.read_scale(); }).find("Kubernetes API"), std::string::npos);
}

// base64 of a file, as kubeconfig *-data fields hold it.
std::string base64_file(const std::string& path) {
  const std::string out = path + ".b64";
  if (std::system(("openssl base64 -A -in " + path + " -out " + out).c_str()) != 0) return {};
  return TestPki::read(out);
}

TEST_F(KubernetesTls, AKubeconfigWithBase64CaAndClientCertificateData) {
  tls_.set_verify_mode(boost::asio::ssl::verify_peer | boost::asio::ssl::verify_fail_if_no_peer_cert);
  tls_.load_verify_file(pki_->ca_crt);
  FakeApiServer server([](const auto&) { return json_response(200, deployment_json(3, 3, 3, 3)); }, &tls_);
  const std::string kubeconfig = pki_->dir + "/kubeconfig";
  std::ofstream(kubeconfig) << "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: c\n  cluster:\n"
                            << "    server: https://localhost:" << server.port() << "\n"
                            << "    certificate-authority-data: " << base64_file(pki_->ca_crt) << "\n"
                            << "contexts:\n- name: test\n  context: {cluster: c, user: u, namespace: inference}\n"
                            << "users:\n- name: u\n  user:\n"
                            << "    client-certificate-data: " << base64_file(pki_->client_crt) << "\n"
                            << "    client-key-data: " << base64_file(pki_->client_key) << "\n";
  KubernetesConfig c = config();
  c.namespace_.clear();
  c.kubeconfig = kubeconfig;
  KubernetesActuator actuator(c);
  EXPECT_EQ(actuator.observe().ready, 3);
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].target(), kDeploymentPath);
}

TEST_F(KubernetesTls, InClusterAccessVerifiesTheServiceIpAgainstTheMountedCa) {
  FakeApiServer server([](const auto&) { return json_response(200, deployment_json(2, 2, 1, 2)); }, &tls_);
  const std::filesystem::path dir = pki_->dir + "/serviceaccount";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(pki_->ca_crt, dir / "ca.crt", std::filesystem::copy_options::overwrite_existing);
  std::ofstream(dir / "token") << "pod-token\n";
  std::ofstream(dir / "namespace") << "inference";
  ::setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", std::to_string(server.port()).c_str(), 1);
  KubernetesConfig c = config();
  c.namespace_.clear();
  c.in_cluster = true;
  c.service_account_dir = dir.string();
  KubernetesActuator actuator(c);
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  EXPECT_EQ(actuator.observe().ready, 1);
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].target(), kDeploymentPath);
  EXPECT_EQ(server.requests()[0][boost::beast::http::field::authorization], "Bearer pod-token");
}

TEST_F(KubernetesTls, ACaFileThatIsNotPemIsAClearError) {
  ClusterAccess access = https(1);
  access.ca_file = pki_->dir + "/server.ext";
  EXPECT_NE(error_of([&] { KubernetesActuator(config(), access); }).find("certificate authority"), std::string::npos);
  access.ca_file = pki_->dir + "/absent.crt";
  EXPECT_NE(error_of([&] { KubernetesActuator(config(), access); }).find("cannot read certificate authority"),
            std::string::npos);
}

}  // namespace
}  // namespace tide::autoscaler::kubernetes
