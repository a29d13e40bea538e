// natter send, and natter listen reading what it sent.
#include "e2e/e2e_fixture.hpp"

namespace natter::e2e {
namespace {

using Messaging = E2E;

TEST_F(Messaging, SendThenListenPrintsEachMessageOnceInOrderAndAcksThem) {
    auto alice = sign_up("alice");
    auto bob = sign_up("bob");
    auto r = natter("alice", {"send", "bob", "hello", "bob"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto conversation = direct_conversation(alice["user_id"], bob["user_id"]);
    EXPECT_EQ(r.out.rfind("sent: conversation=" + conversation + " seq=1 message_id=", 0), 0u) << r.out;
    // A numeric USER is a user id.
    r = natter("alice", {"send", bob["user_id"], "second"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(" seq=2 "), std::string::npos) << r.out;

    r = natter("bob", {"listen", "--count", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 2u) << r.out;
    EXPECT_EQ(lines[0]["type"], "message");
    EXPECT_EQ(lines[0]["body"], "hello bob");
    EXPECT_EQ(lines[0]["seq"], 1);
    EXPECT_EQ(lines[0]["from"]["user"], alice["user_id"]);
    EXPECT_EQ(lines[0]["conversation_id"], conversation);
    EXPECT_EQ(lines[1]["body"], "second");
    EXPECT_EQ(lines[1]["seq"], 2);
    EXPECT_EQ(lines[1]["prev_message_id"], lines[0]["message_id"]);

    // Acked: the server does not push them to this device again.
    expect_inbox_empty(port(), account("bob"));
}

TEST_F(Messaging, SendLeavesPushedMessagesInTheInbox) {
    sign_up("alice");
    sign_up("bob");
    ASSERT_EQ(natter("bob", {"send", "alice", "for alice"}).exit_code, 0);
    // alice's send connects as her device and gets bob's message pushed: no ack.
    ASSERT_EQ(natter("alice", {"send", "bob", "reply"}).exit_code, 0);
    auto r = natter("alice", {"listen", "--count", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["body"], "for alice");
}

TEST_F(Messaging, UnknownRecipientIsNotFound) {
    sign_up("alice");
    auto r = natter("alice", {"send", "nobody", "hi"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "natter: not_found: no such user\n");
    // A user id goes straight to the WebSocket; the server's `error` frame.
    r = natter("alice", {"send", "987654321", "hi"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "natter: not_found: no such user\n");
}

TEST_F(Messaging, GroupSendPrintsTheServersError) {
    sign_up("alice");
    auto r = natter("alice", {"send", "--group", "987654321", "hi", "all"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("natter: not_found: ", 0), 0u) << r.err;
}

TEST_F(Messaging, RuleBreakingSendsAreRefused) {
    sign_up("alice");
    sign_up("bob");
    auto r = natter("alice", {"send", "bob", std::string(501, 'x')});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "natter: too_large: body is longer than 500 characters\n");
    r = natter("alice", {"send", "bob", ""});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "natter: invalid: body must not be empty\n");
}

}  // namespace
}  // namespace natter::e2e
