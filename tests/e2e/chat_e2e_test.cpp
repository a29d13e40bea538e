// natter chat driven through its stdin pipe.
#include "e2e/e2e_fixture.hpp"

namespace natter::e2e {
namespace {

using Chat = E2E;

TEST_F(Chat, SendsTypedLinesAndShowsIncomingMessages) {
    sign_up("alice");
    sign_up("bob");
    auto chat = start("alice", {"chat", "bob"});
    chat->write("hello from chat\n");
    ASSERT_TRUE(chat->wait_stdout("✓ #1")) << chat->describe();

    // Bob's device (a test client) gets it, and answers.
    auto bob = account("bob");
    std::vector<json> pushed;
    auto ws = test::connect_synced(port(), bob, &pushed);
    ASSERT_EQ(pushed.size(), 1u);
    EXPECT_EQ(pushed[0]["body"], "hello from chat");
    EXPECT_EQ(pushed[0]["from"]["user"], account("alice").user_id);
    ws->send(test::send_frame(account("alice").user_id, "hi alice"));
    EXPECT_EQ(ws->expect("sent")["seq"], 2);
    ASSERT_TRUE(chat->wait_stdout("] bob: hi alice\n")) << chat->describe();
    EXPECT_NE(chat->out().find("\n["), std::string::npos);  // "[HH:MM] bob: ..." at a line start

    chat->write("/quit\n");
    EXPECT_EQ(chat->wait(), 0) << chat->describe();
    expect_inbox_empty(port(), account("alice"));  // what it showed, it acked
}

TEST_F(Chat, TwoChatsTalkToEachOther) {
    sign_up("alice");
    sign_up("bob");
    auto a = start("alice", {"chat", "bob"});
    auto b = start("bob", {"chat", "alice"});
    a->write("ping\n");
    ASSERT_TRUE(b->wait_stdout("] alice: ping\n")) << b->describe();
    b->write("pong\n");
    ASSERT_TRUE(a->wait_stdout("] bob: pong\n")) << a->describe();
    ASSERT_TRUE(b->wait_stdout("✓ #2")) << b->describe();
    a->close_stdin();
    b->close_stdin();
    EXPECT_EQ(a->wait(), 0) << a->describe();
    EXPECT_EQ(b->wait(), 0) << b->describe();
}

TEST_F(Chat, EndOfInputWaitsForEveryConfirmation) {
    sign_up("alice");
    sign_up("bob");
    auto chat = start("alice", {"chat", "bob"});
    chat->write("one\ntwo\nthree\n");
    chat->close_stdin();  // before any `sent` can have come back
    ASSERT_EQ(chat->wait(), 0) << chat->describe();
    for (auto mark : {"✓ #1", "✓ #2", "✓ #3"}) EXPECT_NE(chat->out().find(mark), std::string::npos) << chat->out();

    auto r = natter("bob", {"listen", "--count", "3"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0]["body"], "one");
    EXPECT_EQ(lines[2]["body"], "three");
}

TEST_F(Chat, ErrorsAreShownAndTheChatGoesOn) {
    sign_up("alice");
    sign_up("bob");
    auto chat = start("alice", {"chat", "bob"});
    chat->write(std::string(501, 'x') + "\nfine\n");
    ASSERT_TRUE(chat->wait_stdout("✗ not sent: too_large: body is longer than 500 characters")) << chat->describe();
    ASSERT_TRUE(chat->wait_stdout("✓ #1")) << chat->describe();
    chat->close_stdin();
    EXPECT_EQ(chat->wait(), 0) << chat->describe();
}

TEST_F(Chat, MessagesCannotDriveTheTerminal) {
    sign_up("alice");
    sign_up("bob");
    auto bob = account("bob");
    auto ws = test::connect_synced(port(), bob);
    ws->send(test::send_frame(account("alice").user_id, "\x1b[2Jgotcha\nsecond line"));
    ws->expect("sent");
    auto chat = start("alice", {"chat", "bob"});
    ASSERT_TRUE(chat->wait_stdout("second line")) << chat->describe();
    EXPECT_NE(chat->out().find("bob: \\x1b[2Jgotcha\n  second line"), std::string::npos) << chat->out();
    EXPECT_EQ(chat->out().find('\x1b'), std::string::npos);
}

TEST_F(Chat, UnknownUserExits1) {
    sign_up("alice");
    auto chat = start("alice", {"chat", "nobody"});
    EXPECT_EQ(chat->wait(), 1) << chat->describe();
    EXPECT_EQ(chat->err(), "natter: not_found: no such user\n");
}

}  // namespace
}  // namespace natter::e2e
