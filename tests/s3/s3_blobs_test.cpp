// The S3 adapter beyond the conformance suite: what its URLs sign, how it
// fails (missing bucket, refused key, a store down or silent), and HTTPS
// with the certificate checked, against a real s3rver.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>

#include "adapters/s3/s3_blobs.hpp"
#include "ports/clock.hpp"
#include "s3rver_process.hpp"
#include "url_client.hpp"

namespace natter::s3test {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
constexpr std::int64_t kNowMs = 1'767'323'045'000;  // 2026-01-02T03:04:05Z

s3::S3BlobsConfig config_for(const std::string& endpoint, const std::string& bucket) {
    return s3::S3BlobsConfig{.bucket = {endpoint, "us-east-1", bucket, s3::UrlStyle::path},
                             .credentials = kS3rverCredentials};
}

// A bucket of its own on the shared s3rver.
s3::S3BlobsConfig fresh(const std::string& prefix) {
    auto& server = S3rverProcess::shared();
    auto bucket = fresh_bucket(prefix);
    server.create_bucket(bucket);
    return config_for(server.endpoint(), bucket);
}

std::int64_t now_ms() { return SystemClock().now_ms(); }

// Expects `fn` to throw a std::exception whose message has `part`.
template <class Fn>
void expect_failure(Fn&& fn, const std::string& part) {
    try {
        fn();
        ADD_FAILURE() << "no exception; expected one saying \"" << part << "\"";
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
}

// A port nothing listens on (it did, a moment ago).
std::uint16_t closed_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

// A listener that never accepts: connections complete in the kernel, and no answer ever comes.
class SilentListener {
public:
    SilentListener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::listen(fd_, 8);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
    }
    ~SilentListener() { ::close(fd_); }
    std::uint16_t port() const { return port_; }

private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

// A self-signed certificate (P-256) for `alt_names` ("IP:127.0.0.1"), and its key, as PEM files.
struct SelfSigned {
    testutil::TempDir dir;
    std::string key = dir.file("key.pem"), cert = dir.file("cert.pem");
};

void make_certificate(const SelfSigned& out, const std::string& alt_names) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* x = X509_new();
    ASSERT_TRUE(key && x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("natter test s3"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, alt_names.c_str());
    ASSERT_TRUE(san);
    X509_add_ext(x, san, -1);
    X509_EXTENSION_free(san);
    ASSERT_GT(X509_sign(x, key, EVP_sha256()), 0);
    BIO* k = BIO_new_file(out.key.c_str(), "w");
    BIO* c = BIO_new_file(out.cert.c_str(), "w");
    ASSERT_TRUE(k && c);
    EXPECT_EQ(PEM_write_bio_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
    EXPECT_EQ(PEM_write_bio_X509(c, x), 1);
    BIO_free(k);
    BIO_free(c);
    X509_free(x);
    EVP_PKEY_free(key);
}

TEST(S3Blobs, AnUploadUrlSignsTheTypeTheSizeAndNoOverwrite) {
    s3::S3Blobs blobs(config_for("http://127.0.0.1:9000", "media"));
    auto put = blobs.presign_upload("m/1", "image/png", 1234, kNowMs, 300);
    EXPECT_EQ(put.method, "PUT");
    EXPECT_EQ(put.url.rfind("http://127.0.0.1:9000/media/m/1?", 0), 0u) << put.url;
    EXPECT_NE(put.url.find("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bif-none-match&"),
              std::string::npos)
        << put.url;
    EXPECT_NE(put.url.find("X-Amz-Expires=300&"), std::string::npos) << put.url;
    EXPECT_EQ(put.expires_at, kNowMs + 300 * 1000);
    // Content-Length is signed but not listed: clients send it from the body, and browsers may not set it.
    EXPECT_EQ(put.headers, (Headers{{"Content-Type", "image/png"}, {"If-None-Match", "*"}}));

    auto config = config_for("http://127.0.0.1:9000", "media");
    config.no_overwrite = false;
    auto plain = s3::S3Blobs(config).presign_upload("m/1", "image/png", 1234, kNowMs, 300);
    EXPECT_NE(plain.url.find("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&"), std::string::npos)
        << plain.url;
    EXPECT_EQ(plain.headers, (Headers{{"Content-Type", "image/png"}}));
}

TEST(S3Blobs, ADownloadIsServedWithTheMediaType) {
    s3::S3Blobs offline(config_for("http://127.0.0.1:9000", "media"));
    auto get = offline.presign_download("m/1", "image/webp", kNowMs, 300);
    EXPECT_TRUE(get.headers.empty());
    EXPECT_NE(get.url.find("response-content-type=image%2Fwebp&"), std::string::npos) << get.url;

    s3::S3Blobs blobs(fresh("type"));
    std::string bytes = "GIF89a and then some";
    auto put = blobs.presign_upload("m/2", "image/gif", bytes.size(), now_ms(), 300);
    ASSERT_EQ(fetch(put.method, put.url, bytes, put.headers).status, 200);
    auto got = fetch("GET", blobs.presign_download("m/2", "image/gif", now_ms(), 300).url);
    ASSERT_EQ(got.status, 200) << got.body;
    EXPECT_EQ(got.headers["content-type"], "image/gif");
    EXPECT_EQ(got.body, bytes);
    // The type comes from the URL, not from what the upload said.
    EXPECT_EQ(fetch("GET", blobs.presign_download("m/2", "image/png", now_ms(), 300).url).headers["content-type"],
              "image/png");
}

TEST(S3Blobs, VirtualHostUrlsNameTheBucketInTheHost) {
    auto config = config_for("https://s3.eu-central-1.amazonaws.com", "natter-media");
    config.bucket.region = "eu-central-1";
    config.bucket.style = s3::UrlStyle::virtual_host;
    s3::S3Blobs blobs(config);
    auto get = blobs.presign_download("m/7", "image/png", kNowMs, 60);
    EXPECT_EQ(get.url.rfind("https://natter-media.s3.eu-central-1.amazonaws.com/m/7?", 0), 0u) << get.url;
    EXPECT_NE(get.url.find("%2Feu-central-1%2Fs3%2Faws4_request"), std::string::npos) << get.url;
}

TEST(S3Blobs, BadSettingsSayWhatToFix) {
    expect_failure([] { s3::S3Blobs(config_for("ftp://127.0.0.1", "media")); }, "scheme must be http or https");
    expect_failure([] { s3::S3Blobs(config_for("http://127.0.0.1:9000", "Media")); }, "S3 bucket \"Media\"");
    auto config = config_for("http://127.0.0.1:9000", "media");
    config.credentials.access_key_id = "a/b";
    expect_failure([&] { s3::S3Blobs{config}; }, "access key id");
    config = config_for("https://127.0.0.1:9000", "media");
    config.ca_file = "/nonexistent/ca.pem";
    expect_failure([&] { s3::S3Blobs{config}; }, "cannot load the CA certificates /nonexistent/ca.pem");
}

TEST(S3Blobs, AMissingBucketIsAFailureNotAMissingObject) {
    auto& server = S3rverProcess::shared();
    s3::S3Blobs blobs(config_for(server.endpoint(), fresh_bucket("never-made")));
    expect_failure([&] { blobs.stat("m/1", 16); }, "does not exist");
    expect_failure([&] { blobs.remove("m/1"); }, "NoSuchBucket");
    EXPECT_NE(blobs.check_reachable().find("does not exist"), std::string::npos) << blobs.check_reachable();
}

TEST(S3Blobs, RefusedCredentialsAreAFailureNotAMissingObject) {
    auto config = fresh("refused");
    config.credentials = {"NOT-S3RVER", "wrong", ""};
    s3::S3Blobs blobs(config);
    expect_failure([&] { blobs.stat("m/1", 16); }, ": 403 Forbidden");
    expect_failure([&] { blobs.remove("m/1"); }, "403 Forbidden (InvalidAccessKeyId");
    EXPECT_NE(blobs.check_reachable().find("check the access key"), std::string::npos) << blobs.check_reachable();
}

TEST(S3Blobs, AStoreThatIsDownFailsAtOnce) {
    s3::S3Blobs blobs(config_for("http://127.0.0.1:" + std::to_string(closed_port()), "media"));
    expect_failure([&] { blobs.stat("m/1", 16); }, "could not connect");
    expect_failure([&] { blobs.remove("m/1"); }, "could not connect");
}

TEST(S3Blobs, AStoreThatDoesNotAnswerTimesOut) {
    SilentListener silent;
    auto config = config_for("http://127.0.0.1:" + std::to_string(silent.port()), "media");
    config.timeout = std::chrono::milliseconds(300);
    s3::S3Blobs blobs(config);
    auto started = std::chrono::steady_clock::now();
    expect_failure([&] { blobs.stat("m/1", 16); }, "could not read the answer: timed out after 300 ms");
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}

TEST(S3Blobs, HttpsTrustsOnlyACertificateVerifiedForTheHost) {
    SelfSigned tls;
    make_certificate(tls, "IP:127.0.0.1");
    S3rverProcess server({.buckets = {"natter-media"}, .key_file = tls.key, .cert_file = tls.cert});
    ASSERT_EQ(server.endpoint().rfind("https://", 0), 0u);

    auto config = config_for(server.endpoint(), "natter-media");
    config.ca_file = tls.cert;
    s3::S3Blobs trusted(config);
    EXPECT_EQ(trusted.check_reachable(), "");
    EXPECT_FALSE(trusted.stat("m/1", 16).has_value());
    EXPECT_TRUE(trusted.remove("m/1"));

    config.ca_file = "";  // the system's CAs have never heard of it
    s3::S3Blobs untrusted(config);
    auto why = untrusted.check_reachable();
    EXPECT_NE(why.find("could not make the TLS handshake: certificate verify failed"), std::string::npos) << why;
    expect_failure([&] { untrusted.stat("m/1", 16); }, "certificate verify failed");

    config.ca_file = tls.cert;
    config.bucket.endpoint = "https://localhost:" + std::to_string(server.port());  // the certificate is for 127.0.0.1
    s3::S3Blobs wrong_host(config);
    why = wrong_host.check_reachable();
    EXPECT_NE(why.find("hostname mismatch"), std::string::npos) << why;
}

}  // namespace
}  // namespace natter::s3test
