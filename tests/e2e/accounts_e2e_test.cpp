// register, login, logout, devices; usage, network and credential errors.
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>

#include "e2e/e2e_fixture.hpp"

namespace natter::e2e {
namespace {

using Accounts = E2E;

TEST_F(Accounts, RegisterThenLoginStoresAPrivateProfile) {
    auto r = natter("alice", {"register", "alice", "--display-name", "Alice A."});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("registered alice"), std::string::npos) << r.out;

    r = natter("alice", {"login", "alice", "--device-name", "laptop"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto p = profile("alice");
    EXPECT_EQ(p["server"], url());
    EXPECT_EQ(p["username"], "alice");
    EXPECT_FALSE(p.value("user_id", "").empty());
    EXPECT_FALSE(p.value("device_id", "").empty());
    EXPECT_FALSE(p.value("access_token", "").empty());
    EXPECT_FALSE(p.value("refresh_token", "").empty());
    EXPECT_GT(p.value("access_expires_at", std::int64_t(0)), 0);
    struct stat st {};
    ASSERT_EQ(::stat(profile_path("alice").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    // The server agrees: the profile's token works, and names the device.
    auto me = test::http(port(), "GET", "/v1/users/me", nullptr, p["access_token"]);
    EXPECT_EQ(me.status, 200);
    EXPECT_EQ(me.body["display_name"], "Alice A.");
}

TEST_F(Accounts, DevicesListsAndMarksTheCurrentDevice) {
    auto alice = sign_up("alice");
    ASSERT_EQ(natter("alice-phone", {"login", "alice", "--device-name", "phone"}).exit_code, 0);
    auto r = natter("alice", {"devices"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("* " + alice["device_id"].get<std::string>()), std::string::npos) << r.out;
    auto phone = profile("alice-phone")["device_id"].get<std::string>();
    EXPECT_NE(r.out.find("  " + phone), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("phone"), std::string::npos) << r.out;
}

TEST_F(Accounts, TakenUsernameIsTheServersConflict) {
    sign_up("alice");
    auto r = natter("other", {"register", "alice"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "natter: conflict: username is taken\n");
}

TEST_F(Accounts, WrongPasswordExits4WithTheServersMessage) {
    sign_up("alice");
    auto r = natter("alice2", {"login", "alice"}, {{"NATTER_PASSWORD", "not the password"}});
    EXPECT_EQ(r.exit_code, 4);
    EXPECT_EQ(r.err, "natter: unauthorized: wrong username or password\n");
    EXPECT_TRUE(profile("alice2").is_null());  // nothing stored
}

TEST_F(Accounts, PasswordFromStdin) {
    auto p = start("carol", {"register", "carol", "--password-stdin"}, {{"NATTER_PASSWORD", ""}});
    p->write("a long password\n");
    p->close_stdin();
    ASSERT_EQ(p->wait(), 0) << p->describe();
    p = start("carol", {"login", "carol", "--password-stdin"}, {{"NATTER_PASSWORD", ""}});
    p->write("a long password\n");
    p->close_stdin();
    ASSERT_EQ(p->wait(), 0) << p->describe();
    EXPECT_EQ(natter("carol", {"devices"}).exit_code, 0);
}

TEST_F(Accounts, NoPasswordSourceIsAUsageError) {
    auto r = natter("dave", {"register", "dave"}, {{"NATTER_PASSWORD", ""}});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("NATTER_PASSWORD"), std::string::npos) << r.err;
}

TEST_F(Accounts, LogoutRevokesAndForgetsThenLoginResumesTheDevice) {
    auto before = sign_up("alice");
    auto r = natter("alice", {"logout"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // Revoked on the server, forgotten here.
    EXPECT_EQ(test::http(port(), "GET", "/v1/devices", nullptr, before["access_token"]).status, 401);
    EXPECT_FALSE(profile("alice").contains("access_token"));

    r = natter("alice", {"devices"});
    EXPECT_EQ(r.exit_code, 4);
    EXPECT_NE(r.err.find("not logged in"), std::string::npos) << r.err;

    ASSERT_EQ(natter("alice", {"login", "alice"}).exit_code, 0);
    EXPECT_EQ(profile("alice")["device_id"], before["device_id"]);  // the same device, and inbox
    r = natter("alice", {"devices"});
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;  // header and one device
}

TEST_F(Accounts, RemovingADeviceSignsItOut) {
    sign_up("alice");
    ASSERT_EQ(natter("alice-phone", {"login", "alice"}).exit_code, 0);
    auto phone = profile("alice-phone")["device_id"].get<std::string>();
    auto r = natter("alice", {"devices", "remove", phone});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = natter("alice-phone", {"devices"});
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_NE(r.err.find("natter login alice"), std::string::npos) << r.err;

    r = natter("alice", {"devices", "remove", "123"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "natter: not_found: no such device\n");
}

TEST_F(Accounts, UsageErrorsExit2) {
    EXPECT_EQ(natter("x", {}).exit_code, 2);
    EXPECT_EQ(natter("x", {"frobnicate"}).exit_code, 2);
    EXPECT_EQ(natter("x", {"send"}).exit_code, 2);
    EXPECT_EQ(natter("x", {"listen", "--count", "many"}).exit_code, 2);
    auto r = start_raw({"--server", "ftp://example", "register", "x"});
    r->close_stdin();
    EXPECT_EQ(r->wait(), 2) << r->describe();
    EXPECT_NE(r->err().find("http://"), std::string::npos);
    auto help = start_raw({"--help"});
    EXPECT_EQ(help->wait(), 0);
    EXPECT_NE(help->out().find("Exit codes"), std::string::npos);
}

// A port nothing listens on: bound, then closed.
std::uint16_t dead_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

TEST_F(Accounts, AServerThatIsNotRunningExits3) {
    auto where = "http://127.0.0.1:" + std::to_string(dead_port());
    auto p = start_raw({"--server", where, "register", "alice"});
    EXPECT_EQ(p->wait(), 3) << p->describe();
    EXPECT_EQ(p->err(), "natter: cannot reach " + where + ": connection refused\n");

    // Signed in, then the server goes away: HTTP and WebSocket commands alike.
    sign_up("bob");
    stop_server();
    for (auto args : std::vector<std::vector<std::string>>{{"devices"}, {"send", "123", "hi"}, {"listen"}}) {
        args.insert(args.begin(), {"--profile", "bob"});  // the profile knows the server
        auto q = start_raw(args);
        q->close_stdin();
        EXPECT_EQ(q->wait(), 3) << args[0] << ": " << q->describe();
        EXPECT_NE(q->err().find("cannot reach http://127.0.0.1:"), std::string::npos) << q->err();
    }
}

}  // namespace
}  // namespace natter::e2e
