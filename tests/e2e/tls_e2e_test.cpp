// The natter CLI against natterd serving HTTPS and WSS with a certificate
// of a test CA: trusted with --ca-file (or $NATTER_CA_FILE), refused
// without it.
#include <fstream>

#include "e2e/e2e_fixture.hpp"
#include "support/test_certs.hpp"

namespace natter::e2e {
namespace {

class Tls : public E2E {
protected:
    Tls() : certs_(test::make_test_certs(dir_.path())) {
        tweak_ = [this](Config& c) {
            c.tls.cert_file = certs_.cert_file;
            c.tls.key_file = certs_.key_file;
        };
        tls_ = true;
    }

    // natter with --ca-file, as a user of a private CA runs it.
    CliResult trusted(const std::string& profile, std::vector<std::string> args) {
        args.insert(args.begin(), {"--ca-file", certs_.ca_file});
        return natter(profile, args);
    }

    test::TempDir dir_;
    test::TestCerts certs_;
};

TEST_F(Tls, RegisterLoginSendAndListenOverHttpsAndWss) {
    for (const std::string u : {"alice", "bob"}) {
        auto r = trusted(u, {"register", u});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_NE(r.out.find(" on " + url()), std::string::npos) << r.out;
        r = trusted(u, {"login", u});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    EXPECT_EQ(profile("alice")["server"], url()) << "the profile remembers the https server";

    auto r = trusted("alice", {"send", "bob", "hello", "over", "tls"});  // a WebSocket: wss://
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("sent: conversation=", 0), 0u) << r.out;

    // $NATTER_CA_FILE does what --ca-file does.
    r = natter("bob", {"listen", "--count", "1"}, {{"NATTER_CA_FILE", certs_.ca_file}});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 1u) << r.out;
    EXPECT_EQ(lines[0]["body"], "hello over tls");
    EXPECT_EQ(lines[0]["from"]["user"], profile("alice")["user_id"]);
}

TEST_F(Tls, AnImageGoesUpAndComesBackOverHttps) {
    for (const std::string u : {"alice", "bob"}) {
        ASSERT_EQ(trusted(u, {"register", u}).exit_code, 0);
        ASSERT_EQ(trusted(u, {"login", u}).exit_code, 0);
    }
    // A PNG as natterd checks one: the signature and an IHDR with the size.
    std::string png = "\x89PNG\r\n\x1A\n" + std::string("\0\0\0\x0dIHDR\0\0\0\x20\0\0\0\x10\x08\x02\0\0\0crc!", 25);
    png += std::string(4000, 'x');
    auto photo = dir_.path() + "/photo.png";
    std::ofstream(photo, std::ios::binary) << png;
    // The upload URL is a path on natterd: the bytes go over TLS too.
    auto r = trusted("alice", {"send", "bob", "--image", photo});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto at = r.out.find("media_id=");
    ASSERT_NE(at, std::string::npos) << r.out;
    auto media_id = r.out.substr(at + 9, r.out.find_first_of(" \n", at) - at - 9);
    auto out = dir_.path() + "/got.png";
    r = trusted("bob", {"media", "get", media_id, "-o", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::ifstream in(out, std::ios::binary);
    std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_TRUE(got == png) << "byte-identical";
}

TEST_F(Tls, WithoutTheCaTheServerIsNotTrustedAndNothingIsSent) {
    auto r = natter("alice", {"register", "alice"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("natter: cannot reach " + url() + ": its certificate is not trusted"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--ca-file"), std::string::npos) << "says how to trust a private CA: " << r.err;
    // Nothing reached the server: the name is still free.
    EXPECT_EQ(trusted("alice", {"register", "alice"}).exit_code, 0);
}

TEST_F(Tls, AnUnreadableCaFileIsAUsageError) {
    auto r = natter("alice", {"--ca-file", dir_.path() + "/missing.pem", "register", "alice"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("cannot use --ca-file " + dir_.path() + "/missing.pem"), std::string::npos) << r.err;
}

TEST_F(Tls, PlainHttpToTheTlsPortIsANetworkError) {
    auto plain = "http://127.0.0.1:" + std::to_string(port());
    auto r = start_raw({"--server", plain, "--profile", "alice", "register", "alice"});
    r->close_stdin();
    r->wait();
    EXPECT_EQ(r->result().exit_code, 3) << r->result().err;
    EXPECT_NE(r->result().err.find("natter: cannot reach " + plain), std::string::npos) << r->result().err;
}

}  // namespace
}  // namespace natter::e2e
