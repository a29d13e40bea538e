#pragma once
// s3rver, a local S3 server (Node.js, from tests/s3/node_modules; scripts/deps.sh
// installs it), as a child process of the test: on 127.0.0.1 and a port the
// system picks, its files in a temp dir, the buckets asked for made at start.
// Ready once it has said its port and a TCP connection to it succeeds, within
// a deadline; stopped by the destructor, and in any case when the test
// process ends (the launcher exits when its stdin closes).
//
// s3rver wants requests signed for the access key id S3RVER and refuses an
// expired pre-signed URL, but does not check signatures: the signer is
// checked against AWS's own in sigv4_crosscheck_test.cpp instead.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "adapters/s3/sigv4.hpp"
#include "common/temp_dir.hpp"

namespace natter::s3test {

// The one key pair s3rver knows.
inline const s3::Credentials kS3rverCredentials{"S3RVER", "S3RVER", ""};

struct S3rverOptions {
    std::vector<std::string> buckets = {"natter-media"};
    std::string key_file, cert_file;  // PEM; both set: serve HTTPS
};

class S3rverProcess {
public:
    // Throws, with what s3rver printed, when it is not serving within 20 s.
    explicit S3rverProcess(S3rverOptions options = {});
    ~S3rverProcess();
    S3rverProcess(const S3rverProcess&) = delete;
    S3rverProcess& operator=(const S3rverProcess&) = delete;

    std::uint16_t port() const { return port_; }
    std::string endpoint() const;  // "http://127.0.0.1:PORT" (https:// with TLS)
    // A bucket over s3rver's API, for a test of its own; throws on failure.
    void create_bucket(const std::string& name) const;
    // Stops it (SIGTERM, then SIGKILL after 5 s) and reaps it; idempotent.
    void stop();

    // One for the whole test process (plain HTTP, bucket "natter-media"),
    // started on first use and stopped when the tests are over.
    static S3rverProcess& shared();

private:
    void wait_ready();

    S3rverOptions options_;
    testutil::TempDir dir_;
    pid_t pid_ = -1;
    int stdin_fd_ = -1;   // closing it tells the launcher to exit
    int stdout_fd_ = -1;  // where it says its port
    std::uint16_t port_ = 0;
};

// A bucket name of its own for each call: "PREFIX-PID-N".
std::string fresh_bucket(const std::string& prefix);

}  // namespace natter::s3test
