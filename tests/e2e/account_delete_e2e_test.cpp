// natter account delete: asks for --yes and the password, deletes the account
// on the server, forgets the profile's tokens; others then see a deleted
// sender on the messages it sent.
#include "e2e/e2e_fixture.hpp"

namespace natter::e2e {
namespace {

using AccountDelete = E2E;

TEST_F(AccountDelete, WithoutYesOrWithAWrongPasswordNothingIsDeleted) {
    sign_up("alice");
    auto r = natter("alice", {"account", "delete"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--yes"), std::string::npos) << r.err;
    r = natter("alice", {"account", "delete", "--yes"}, {{"NATTER_PASSWORD", "not the password"}});
    EXPECT_EQ(r.exit_code, 4);
    EXPECT_EQ(r.err, "natter: unauthorized: wrong password\n");
    // Still signed in, and the account is there.
    EXPECT_EQ(natter("alice", {"devices"}).exit_code, 0);
    EXPECT_EQ(test::http(port(), "GET", "/v1/users/me", nullptr, profile("alice")["access_token"]).status, 200);
}

TEST_F(AccountDelete, DeletesTheAccountAndOthersSeeADeletedSender) {
    auto alice = sign_up("alice");
    auto bob = sign_up("bob");
    ASSERT_EQ(natter("alice", {"send", "bob", "goodbye"}).exit_code, 0);

    auto p = start("alice", {"account", "delete", "--yes", "--password-stdin"}, {{"NATTER_PASSWORD", ""}});
    p->write(std::string(kPassword) + "\n");
    p->close_stdin();
    ASSERT_EQ(p->wait(), 0) << p->describe();
    EXPECT_NE(p->out().find("deleted account alice"), std::string::npos) << p->describe();

    // The profile keeps no tokens; the old ones are refused by the server.
    auto stored = profile("alice");
    EXPECT_EQ(stored.value("access_token", ""), "");
    EXPECT_EQ(stored.value("refresh_token", ""), "");
    EXPECT_EQ(natter("alice", {"devices"}).exit_code, 4);
    EXPECT_EQ(test::http(port(), "GET", "/v1/devices", nullptr, alice["access_token"]).status, 401);
    EXPECT_EQ(natter("alice2", {"login", "alice"}).exit_code, 4);

    // Bob's history keeps the message, from a deleted account.
    auto r = natter("bob", {"history", direct_conversation(alice["user_id"], bob["user_id"])});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("#1 (deleted account): goodbye\n"), std::string::npos) << r.out;
    r = natter("bob", {"profile", "show", alice["user_id"]});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("(deleted account)"), std::string::npos) << r.out;
    // The name is free again.
    EXPECT_EQ(natter("alice3", {"register", "alice"}).exit_code, 0);
}

}  // namespace
}  // namespace natter::e2e
