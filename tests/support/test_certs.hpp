#pragma once
// Certificates made at test time with OpenSSL (P-256 keys, valid from an
// hour ago for a day): a CA, and a server certificate it signed for
// 127.0.0.1 and localhost. Nothing is checked in.
#include <string>

namespace natter::test {

struct TestCerts {
    std::string ca_file;         // the CA's certificate: what a client trusts
    std::string cert_file;       // the server's certificate, then the CA's (a chain)
    std::string key_file;        // the server's private key
    std::string other_key_file;  // a key of no certificate here
};

// Writes the files into `dir` (which must exist). Throws std::runtime_error.
TestCerts make_test_certs(const std::string& dir);

}  // namespace natter::test
