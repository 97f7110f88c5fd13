#include "http/server.hpp"

#include "core/metrics.hpp"
#include "unit/http/raw_client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>

namespace agentidp::http {
namespace {

using ::agentidp::http::test_support::RawClient;

// A throwaway self-signed P-256 certificate for CN=localhost, written as PEM files into
// a fresh temporary directory.
class SelfSignedCert {
 public:
  SelfSignedCert() {
    dir_ = std::filesystem::temp_directory_path() /
           ("agentidp-tls-test-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    cert_path_ = (dir_ / "cert.pem").string();
    key_path_ = (dir_ / "key.pem").string();

    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());

    FILE* f = std::fopen(cert_path_.c_str(), "w");
    PEM_write_X509(f, cert);
    std::fclose(f);
    f = std::fopen(key_path_.c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  ~SelfSignedCert() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& cert_path() const { return cert_path_; }
  const std::string& key_path() const { return key_path_; }

 private:
  std::filesystem::path dir_;
  std::string cert_path_, key_path_;
};

class TlsApp : public Application {
 public:
  void Handle(Request req, Responder done) override {
    Response r;
    r.body = req.tls ? "{\"tls\":true}" : "{\"tls\":false}";
    done(std::move(r));
  }
};

struct SslDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  void operator()(SSL* s) const { SSL_free(s); }
};

class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.port = 0;
    options.io_threads = 1;
    options.tls_cert_file = cert_.cert_path();
    options.tls_key_file = cert_.key_path();
    server_ = std::make_unique<Server>(options, app_, metrics_);
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
  }
  void TearDown() override { server_->Stop(std::chrono::milliseconds(500)); }

  // Handshakes over a raw socket; returns the SSL on success.
  std::unique_ptr<SSL, SslDeleter> Connect(RawClient& tcp, int min_version, int max_version) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_security_level(ctx_.get(), 0);  // let the client offer old versions
    SSL_CTX_set_min_proto_version(ctx_.get(), min_version);
    SSL_CTX_set_max_proto_version(ctx_.get(), max_version);
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_NONE, nullptr);  // self-signed
    std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx_.get()));
    SSL_set_fd(ssl.get(), tcp.Fd());
    SSL_set_tlsext_host_name(ssl.get(), "localhost");
    if (SSL_connect(ssl.get()) != 1) return nullptr;
    return ssl;
  }

  SelfSignedCert cert_;
  TlsApp app_;
  core::Metrics metrics_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::unique_ptr<SSL_CTX, SslDeleter> ctx_;
};

TEST_F(TlsServerTest, ServesHttpsAndMarksRequestsAsTls) {
  RawClient tcp(port_);
  ASSERT_TRUE(tcp.Connected());
  auto ssl = Connect(tcp, TLS1_2_VERSION, 0);
  ASSERT_TRUE(ssl);
  EXPECT_EQ(SSL_version(ssl.get()), TLS1_3_VERSION);
  std::string request = "GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())),
            static_cast<int>(request.size()));
  std::string response;
  char buf[4096];
  int n;
  while ((n = SSL_read(ssl.get(), buf, sizeof buf)) > 0) response.append(buf, n);
  EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, ::testing::HasSubstr("{\"tls\":true}"));
}

TEST_F(TlsServerTest, Tls12UsesAnAeadSuiteWithForwardSecrecy) {
  RawClient tcp(port_);
  auto ssl = Connect(tcp, TLS1_2_VERSION, TLS1_2_VERSION);
  ASSERT_TRUE(ssl);
  std::string cipher = SSL_get_cipher_name(ssl.get());
  EXPECT_THAT(cipher, ::testing::StartsWith("ECDHE-"));
  EXPECT_THAT(cipher,
              ::testing::AnyOf(::testing::HasSubstr("GCM"), ::testing::HasSubstr("CHACHA20")));
}

TEST_F(TlsServerTest, RefusesTls11) {
  RawClient tcp(port_);
  auto ssl = Connect(tcp, TLS1_VERSION, TLS1_1_VERSION);
  EXPECT_FALSE(ssl);
}

TEST_F(TlsServerTest, RefusesPlainHttpOnTheTlsPort) {
  RawClient tcp(port_);
  ASSERT_TRUE(tcp.Send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  EXPECT_FALSE(tcp.Read());
}

}  // namespace
}  // namespace agentidp::http
