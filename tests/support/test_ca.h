#pragma once
// Throw-away certificates for TLS tests, made in-process with the OpenSSL C API (no openssl
// command line, no files checked in).
//
//   switchyard::test::TestCa ca;          // generates everything into a fresh temp directory
//   client options: ca_file = ca.ca_cert  // trust the test CA (on top of the system store)
//   server:         use_certificate_chain_file(ca.server_cert), use_private_key_file(ca.key)
//
// Every leaf certificate below uses the same private key, `key`, so a server switches between
// them by changing only its certificate. Files are PEM. The directory is removed when the TestCa
// is destroyed. Construction throws std::runtime_error when OpenSSL fails. Generating takes a
// few milliseconds (P-256 keys); one TestCa per test suite is plenty.
//
// | file             | issuer      | names (SANs)                      | valid            |
// |------------------|-------------|-----------------------------------|------------------|
// | ca_cert          | itself      | CN "Switchyard Test CA"           | now-1h .. now+2d |
// | server_cert      | the test CA | DNS:localhost IP:127.0.0.1 IP:::1 | now-1h .. now+2d |
// | wrong_name_cert  | the test CA | DNS:wrong.invalid                 | now-1h .. now+2d |
// | expired_cert     | the test CA | DNS:localhost IP:127.0.0.1 IP:::1 | now-3d .. now-1d |
// | impostor_ca_cert | itself      | CN "Switchyard Impostor CA"       | now-1h .. now+2d |
// | impostor_cert    | impostor CA | DNS:localhost IP:127.0.0.1 IP:::1 | now-1h .. now+2d |
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

namespace switchyard::test {

class TestCa {
 public:
  TestCa();
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  std::filesystem::path dir;               // holds every file below
  std::filesystem::path ca_cert;           // the CA a test client trusts
  std::filesystem::path ca_key;            // the CA's key (to sign more certificates)
  std::filesystem::path key;               // private key of every leaf certificate
  std::filesystem::path server_cert;       // the certificate a test server presents
  std::filesystem::path wrong_name_cert;   // trusted issuer, wrong host name
  std::filesystem::path expired_cert;      // trusted issuer, right names, expired
  std::filesystem::path impostor_ca_cert;  // a CA nobody trusts
  std::filesystem::path impostor_cert;     // right names, untrusted issuer
};

// ---- implementation ----

namespace test_ca_detail {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;

inline void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test CA: OpenSSL failed to ") + what);
}

inline Pkey make_key() {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr));
  check(ctx != nullptr, "create a key context");
  check(EVP_PKEY_keygen_init(ctx.get()) == 1, "start key generation");
  check(EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx.get(), NID_X9_62_prime256v1) == 1,
        "choose P-256");
  EVP_PKEY* key = nullptr;
  check(EVP_PKEY_keygen(ctx.get(), &key) == 1, "generate a key");
  return Pkey(key);
}

// Adds one extension in openssl.cnf syntax ("critical,CA:TRUE").
inline void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value);
  check(extension != nullptr, "build a certificate extension");
  const int added = X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
  check(added == 1, "add a certificate extension");
}

// A certificate for `key`, signed by `issuer_key` (issuer == nullptr: self-signed). Validity is
// [now + not_before_s, now + not_after_s]. `san` empty: no subjectAltName (CAs).
inline Cert make_cert(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key,
                      bool is_ca, const char* san, long not_before_s, long not_after_s) {
  static long serial = 1;
  Cert cert(X509_new());
  check(cert != nullptr, "allocate a certificate");
  check(X509_set_version(cert.get(), 2) == 1, "set the certificate version");
  // Serial: unique within one process run; random high bits keep runs apart.
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_new(), BN_free);
  check(bn && BN_rand(bn.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
            BN_add_word(bn.get(), static_cast<BN_ULONG>(serial++)) == 1 &&
            BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) != nullptr,
        "set a serial number");
  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), not_before_s) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(cert.get()), not_after_s) != nullptr,
        "set the validity");
  check(X509_set_pubkey(cert.get(), key) == 1, "set the public key");
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("Switchyard tests"), -1,
                                   -1, 0) == 1 &&
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>(common_name), -1, -1,
                                       0) == 1,
        "set the subject");
  X509* signer = issuer ? issuer : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1, "set the issuer");

  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
  if (is_ca) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), signer, NID_subject_alt_name, san);
  }
  check(X509_sign(cert.get(), issuer ? issuer_key : key, EVP_sha256()) > 0, "sign a certificate");
  return cert;
}

inline void write_cert(const std::filesystem::path& path, X509* cert) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(path.c_str(), "w"));
  check(bio && PEM_write_bio_X509(bio.get(), cert) == 1, "write a certificate file");
}

inline void write_key(const std::filesystem::path& path, EVP_PKEY* key) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(path.c_str(), "w"));
  check(bio && PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "write a key file");
}

}  // namespace test_ca_detail

inline TestCa::TestCa() {
  using namespace test_ca_detail;
  std::string pattern = (std::filesystem::temp_directory_path() / "switchyard-ca-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("test CA: cannot create a directory under " +
                             std::filesystem::temp_directory_path().string());
  }
  dir = pattern;
  try {
    constexpr long kHour = 3600;
    constexpr long kDay = 24 * kHour;
    constexpr const char* kNames = "DNS:localhost,IP:127.0.0.1,IP:::1";

    Pkey ca_pkey = make_key();
    Cert ca = make_cert(ca_pkey.get(), "Switchyard Test CA", nullptr, nullptr, true, "", -kHour,
                        2 * kDay);
    Pkey impostor_pkey = make_key();
    Cert impostor_ca = make_cert(impostor_pkey.get(), "Switchyard Impostor CA", nullptr, nullptr,
                                 true, "", -kHour, 2 * kDay);
    Pkey leaf_pkey = make_key();
    Cert server = make_cert(leaf_pkey.get(), "localhost", ca.get(), ca_pkey.get(), false, kNames,
                            -kHour, 2 * kDay);
    Cert wrong_name = make_cert(leaf_pkey.get(), "wrong.invalid", ca.get(), ca_pkey.get(), false,
                                "DNS:wrong.invalid", -kHour, 2 * kDay);
    Cert expired = make_cert(leaf_pkey.get(), "localhost", ca.get(), ca_pkey.get(), false, kNames,
                             -3 * kDay, -kDay);
    Cert impostor = make_cert(leaf_pkey.get(), "localhost", impostor_ca.get(), impostor_pkey.get(),
                              false, kNames, -kHour, 2 * kDay);

    ca_cert = dir / "ca.crt";
    ca_key = dir / "ca.key";
    key = dir / "server.key";
    server_cert = dir / "server.crt";
    wrong_name_cert = dir / "wrong-name.crt";
    expired_cert = dir / "expired.crt";
    impostor_ca_cert = dir / "impostor-ca.crt";
    impostor_cert = dir / "impostor.crt";
    write_cert(ca_cert, ca.get());
    write_key(ca_key, ca_pkey.get());
    write_key(key, leaf_pkey.get());
    write_cert(server_cert, server.get());
    write_cert(wrong_name_cert, wrong_name.get());
    write_cert(expired_cert, expired.get());
    write_cert(impostor_ca_cert, impostor_ca.get());
    write_cert(impostor_cert, impostor.get());
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    throw;
  }
}

inline TestCa::~TestCa() {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace switchyard::test
