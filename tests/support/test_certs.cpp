#include "support/test_certs.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <vector>

namespace natter::test {

namespace {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Cert = std::unique_ptr<X509, decltype(&X509_free)>;

void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("making test certificates: ") + what);
}

Key new_key() {
    Key k(EVP_EC_gen("P-256"), &EVP_PKEY_free);
    check(k != nullptr, "EVP_EC_gen");
    return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    check(ext != nullptr, value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

// `issuer` null: self-signed with `key`.
Cert new_cert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, long serial,
              const std::vector<std::pair<int, const char*>>& exts) {
    Cert c(X509_new(), &X509_free);
    check(c != nullptr, "X509_new");
    X509_set_version(c.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial);
    X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c.get()), 24 * 3600);
    X509_set_pubkey(c.get(), key);
    X509_NAME* name = X509_get_subject_name(c.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509* signer = issuer ? issuer : c.get();
    X509_set_issuer_name(c.get(), X509_get_subject_name(signer));
    for (const auto& [nid, value] : exts) add_ext(c.get(), signer, nid, value);
    check(X509_sign(c.get(), issuer ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
    return c;
}

struct File {
    explicit File(const std::string& path) : f(std::fopen(path.c_str(), "w")) { check(f != nullptr, path.c_str()); }
    ~File() { std::fclose(f); }
    std::FILE* f;
};

void write_key(const std::string& path, EVP_PKEY* key) {
    File out(path);
    check(PEM_write_PrivateKey(out.f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1, "PEM_write_PrivateKey");
}

}  // namespace

TestCerts make_test_certs(const std::string& dir) {
    auto ca_key = new_key();
    auto ca = new_cert(ca_key.get(), "natter test CA", nullptr, nullptr, 1,
                       {{NID_basic_constraints, "critical,CA:TRUE"},
                        {NID_key_usage, "critical,keyCertSign,cRLSign"},
                        {NID_subject_key_identifier, "hash"}});
    auto key = new_key();
    auto leaf = new_cert(key.get(), "127.0.0.1", ca.get(), ca_key.get(), 2,
                         {{NID_basic_constraints, "critical,CA:FALSE"},
                          {NID_key_usage, "critical,digitalSignature"},
                          {NID_ext_key_usage, "serverAuth"},
                          {NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
                          {NID_authority_key_identifier, "keyid"}});
    TestCerts out{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key", dir + "/other.key"};
    {
        File f(out.ca_file);
        check(PEM_write_X509(f.f, ca.get()) == 1, "PEM_write_X509");
    }
    {
        File f(out.cert_file);
        check(PEM_write_X509(f.f, leaf.get()) == 1 && PEM_write_X509(f.f, ca.get()) == 1, "PEM_write_X509");
    }
    write_key(out.key_file, key.get());
    write_key(out.other_key_file, new_key().get());
    return out;
}

}  // namespace natter::test
