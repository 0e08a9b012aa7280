// HTTPS: the simulator serves every dialect over TLS with a certificate from the test CA; a
// client that does not trust that CA, or a simulator presenting a certificate from another CA,
// fails verification.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "sim/sim_client.h"
#include "support/test_ca.h"
#include "switchyard/sim/provider_sim.h"

namespace switchyard {
namespace {

using namespace sim_test;
namespace ssl = asio::ssl;

// A synchronous HTTPS client for one request; verifies the peer as "localhost" against
// `ca_file` (empty: the system store only).
struct HttpsResult {
  beast::error_code handshake_error;
  Response response;
};

HttpsResult https_request(std::uint16_t port, const std::string& ca_file, const std::string& target,
                          const std::string& body, const Headers& headers = {}) {
  HttpsResult result;
  asio::io_context io;
  ssl::context context(ssl::context::tls_client);
  context.set_default_verify_paths();
  if (!ca_file.empty()) context.load_verify_file(ca_file);
  context.set_verify_mode(ssl::verify_peer);
  ssl::stream<tcp::socket> stream(io, context);
  SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
  stream.set_verify_callback(ssl::host_name_verification("localhost"));
  stream.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  stream.handshake(ssl::stream_base::client, result.handshake_error);
  if (result.handshake_error) return result;
  http::request<http::string_body> request{http::verb::post, target, 11};
  request.set(http::field::host, "localhost");
  request.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::read(stream, buffer, result.response);
  return result;
}

constexpr const char* kChat = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
constexpr const char* kMessages =
    R"({"model":"c","max_tokens":8,"messages":[{"role":"user","content":"hi"}]})";

class SimTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ca_ = std::make_unique<test::TestCa>(); }
  static void TearDownTestSuite() { ca_.reset(); }

  static SimOptions tls_options(const std::filesystem::path& certificate) {
    SimOptions options = ephemeral();
    options.tls_cert_file = certificate.string();
    options.tls_key_file = ca_->key.string();
    return options;
  }

  static inline std::unique_ptr<test::TestCa> ca_;
};

TEST_F(SimTls, ServesEveryDialectOverHttpsToAClientTrustingTheTestCa) {
  ProviderSimulator sim(tls_options(ca_->server_cert));
  sim.start();
  std::string ca = ca_->ca_cert.string();

  auto openai = https_request(sim.port(), ca, "/v1/chat/completions", kChat);
  ASSERT_FALSE(openai.handshake_error) << openai.handshake_error.message();
  EXPECT_EQ(openai.response.result_int(), 200);
  EXPECT_STREQ(parse(openai.response.body())["object"].GetString(), "chat.completion");

  auto azure = https_request(sim.port(), ca, "/openai/deployments/d/chat/completions?api-version=1",
                             kChat, {{"api-key", "k"}});
  EXPECT_EQ(azure.response.result_int(), 200);
  EXPECT_STREQ(parse(azure.response.body())["model"].GetString(), "d");

  auto anthropic =
      https_request(sim.port(), ca, "/v1/messages", kMessages, Client::anthropic_headers());
  EXPECT_EQ(anthropic.response.result_int(), 200);
  EXPECT_STREQ(parse(anthropic.response.body())["type"].GetString(), "message");
  EXPECT_EQ(sim.stats().ok, 3u);
}

TEST_F(SimTls, ClientWithoutTheTestCaFailsVerification) {
  ProviderSimulator sim(tls_options(ca_->server_cert));
  sim.start();
  auto result = https_request(sim.port(), "", "/v1/chat/completions", kChat);
  ASSERT_TRUE(result.handshake_error);
  EXPECT_NE(result.handshake_error.message().find("certificate verify failed"), std::string::npos)
      << result.handshake_error.message();
  EXPECT_EQ(sim.stats().requests, 0u);
}

TEST_F(SimTls, CertificateFromAnotherCaIsRefusedByAClientTrustingTheTestCa) {
  ProviderSimulator sim(tls_options(ca_->impostor_cert));
  sim.start();
  auto result = https_request(sim.port(), ca_->ca_cert.string(), "/v1/chat/completions", kChat);
  EXPECT_TRUE(result.handshake_error);
}

TEST_F(SimTls, CertificateFileMayCarryTheChain) {
  std::filesystem::path chain = ca_->dir / "chain.pem";
  {
    std::ofstream out(chain);
    out << std::ifstream(ca_->server_cert).rdbuf() << std::ifstream(ca_->ca_cert).rdbuf();
  }
  ProviderSimulator sim(tls_options(chain));
  sim.start();
  auto result = https_request(sim.port(), ca_->ca_cert.string(), "/v1/chat/completions", kChat);
  ASSERT_FALSE(result.handshake_error) << result.handshake_error.message();
  EXPECT_EQ(result.response.result_int(), 200);
}

TEST_F(SimTls, PlainHttpToTheTlsPortGetsNoHttpAnswer) {
  ProviderSimulator sim(tls_options(ca_->server_cert));
  sim.start();
  Client client(sim.port());
  client.send_only(http::verb::post, "/v1/chat/completions", kChat);
  EXPECT_TRUE(client.closed_by_server());
  EXPECT_EQ(sim.stats().requests, 0u);
}

TEST_F(SimTls, DownFaultClosesTheTlsConnectionWithoutAnAnswer) {
  SimOptions options = tls_options(ca_->server_cert);
  FaultRule down;
  down.kind = FaultKind::down;
  options.faults.push_back(down);
  ProviderSimulator sim(options);
  sim.start();
  EXPECT_THROW(https_request(sim.port(), ca_->ca_cert.string(), "/v1/chat/completions", kChat),
               boost::system::system_error);
  EXPECT_EQ(sim.stats().dropped, 1u);
}

TEST_F(SimTls, UnusableCertificateOrKeyFailsStartNamingTheFile) {
  SimOptions missing = tls_options(ca_->dir / "no-such.pem");
  ProviderSimulator first(missing);
  try {
    first.start();
    FAIL() << "start() accepted a missing certificate";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such.pem"), std::string::npos) << e.what();
  }
  SimOptions wrong_key = tls_options(ca_->server_cert);
  wrong_key.tls_key_file = ca_->ca_key.string();  // does not match the certificate
  ProviderSimulator second(wrong_key);
  EXPECT_THROW(second.start(), std::runtime_error);

  SimOptions lone = ephemeral();
  lone.tls_cert_file = ca_->server_cert.string();
  ProviderSimulator third(lone);
  EXPECT_THROW(third.start(), std::invalid_argument);
}

}  // namespace
}  // namespace switchyard
