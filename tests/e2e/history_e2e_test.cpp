// natter history and natter conversations, over the server's history endpoints.
#include "e2e/e2e_fixture.hpp"

namespace natter::e2e {
namespace {

using History = E2E;

TEST_F(History, ShowsAConversationOldestFirst) {
    auto alice = sign_up("alice");
    auto bob = sign_up("bob");
    for (auto body : {"first", "second", "third"}) ASSERT_EQ(natter("alice", {"send", "bob", body}).exit_code, 0);
    ASSERT_EQ(natter("bob", {"send", "alice", "a reply"}).exit_code, 0);

    auto r = natter("bob", {"history", "alice"});  // a username: the 1:1 conversation with bob
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto first = r.out.find("#1 alice: first\n"), third = r.out.find("#3 alice: third\n"),
         reply = r.out.find("#4 bob: a reply\n");
    EXPECT_NE(first, std::string::npos) << r.out;
    EXPECT_LT(first, third);
    EXPECT_LT(third, reply) << r.out;

    // By conversation id, a page before seq 3, as JSON.
    auto conversation = direct_conversation(alice["user_id"], bob["user_id"]);
    r = natter("alice", {"history", conversation, "--before-seq", "3", "--limit", "1", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 1u) << r.out;
    EXPECT_EQ(lines[0]["seq"], 2);
    EXPECT_EQ(lines[0]["body"], "second");
}

TEST_F(History, ConversationsListsUnreadCounts) {
    auto alice = sign_up("alice");
    sign_up("bob");
    sign_up("carol");
    ASSERT_EQ(natter("alice", {"send", "bob", "one"}).exit_code, 0);
    ASSERT_EQ(natter("alice", {"send", "bob", "two"}).exit_code, 0);
    ASSERT_EQ(natter("carol", {"send", "bob", "from carol"}).exit_code, 0);

    auto r = natter("bob", {"conversations"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("  alice  (2 unread)\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  carol  (1 unread)\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("alice: two"), std::string::npos) << r.out;  // the last message

    r = natter("bob", {"conversations", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0]["last_message"]["body"], "from carol");  // most recent first
    EXPECT_EQ(lines[1]["unread"], 2);
}

TEST_F(History, OthersConversationsAreForbidden) {
    auto alice = sign_up("alice");
    auto bob = sign_up("bob");
    sign_up("eve");
    auto r = natter("eve", {"history", direct_conversation(alice["user_id"], bob["user_id"])});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("natter: forbidden: ", 0), 0u) << r.err;
    r = natter("eve", {"history", "d:1:x"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
}

}  // namespace
}  // namespace natter::e2e
