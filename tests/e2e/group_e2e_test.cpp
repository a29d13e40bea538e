// Groups, receipts, typing and presence through the natter CLI: group
// create/show/add/remove/leave, a group send reaching the members' listen,
// read receipts between two chats, typing and presence lines.
#include <signal.h>

#include <regex>

#include "e2e/e2e_fixture.hpp"

namespace natter::e2e {
namespace {

using Group = E2E;

// The group id in `natter group create`'s "created group ...: group_id=ID conversation=g:ID".
std::string created_group(const CliResult& r) {
    std::smatch m;
    static const std::regex re(R"(^created group "[^"]*": group_id=(\d+) conversation=g:(\d+)\n$)");
    if (!std::regex_match(r.out, m, re) || m[1] != m[2]) return "";
    return m[1];
}

TEST_F(Group, CreateShowAddRemoveLeaveThroughTheCli) {
    sign_up("alice");
    sign_up("bob");
    sign_up("carol");
    auto dave = sign_up("dave");

    auto r = natter("alice", {"group", "create", "Friends", "bob", "@carol"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto id = created_group(r);
    ASSERT_FALSE(id.empty()) << r.out;
    EXPECT_NE(r.err.find("natter chat --group " + id), std::string::npos) << r.err;

    r = natter("bob", {"group", "show", id});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("group " + id + " \"Friends\"  conversation g:" + id, 0), 0u) << r.out;
    EXPECT_NE(r.out.find("(3 members)"), std::string::npos) << r.out;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\n  alice +admin +#1\n)"))) << r.out;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\n  bob \(you\) +member +#1\n)"))) << r.out;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\n  carol +member +#1\n)"))) << r.out;

    // Only admins add; the server's refusal is shown as is.
    r = natter("bob", {"group", "add", id, "dave"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "natter: forbidden: only admins can add members\n");
    r = natter("alice", {"group", "add", "g:" + id, "dave"});  // g:ID works too
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "added dave to group " + id + "\n");

    r = natter("dave", {"group", "show", id, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto shown = json::parse(r.out);
    ASSERT_EQ(shown["members"].size(), 4u) << r.out;
    EXPECT_EQ(shown["members"][3]["user_id"], dave["user_id"]);
    EXPECT_EQ(shown["members"][3]["joined_seq"], 2);

    r = natter("alice", {"group", "remove", id, "carol"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "removed carol from group " + id + "\n");
    r = natter("carol", {"group", "show", id});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "natter: forbidden: not a member of this group\n");

    // The last admin leaving hands the group to the longest-standing member.
    r = natter("alice", {"group", "leave", id});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "left group " + id + "\n");
    r = natter("bob", {"group", "show", id});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\n  bob \(you\) +admin +#1\n)"))) << r.out;
    EXPECT_EQ(r.out.find("alice"), std::string::npos) << r.out;

    // Every change is a system message in the group's history, readable.
    r = natter("bob", {"history", "g:" + id});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* line : {"#1 * alice created group \"Friends\" with bob and carol\n", "#2 * alice added dave\n",
                             "#3 * alice removed carol\n", "#4 * alice left; bob is now an admin\n"})
        EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
    r = natter("bob", {"conversations"});
    EXPECT_NE(r.out.find("g:" + id + "  group \"Friends\" (" + id + ")"), std::string::npos) << r.out;

    // Mistakes.
    r = natter("alice", {"group", "create", "Nobody's", "nobody"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "natter: not_found: no such user: nobody\n");
    EXPECT_EQ(natter("alice", {"group", "show", "friends"}).exit_code, 2);
    EXPECT_EQ(natter("alice", {"group", "add", id}).exit_code, 2);
    EXPECT_EQ(natter("alice", {"group"}).exit_code, 2);
}

TEST_F(Group, SendReachesEveryOtherMembersListen) {
    auto alice = sign_up("alice");
    sign_up("bob");
    sign_up("carol");
    auto id = created_group(natter("alice", {"group", "create", "Friends", "bob", "carol"}));
    ASSERT_FALSE(id.empty());

    auto bob = start("bob", {"listen"});
    auto carol = start("carol", {"listen"});
    ASSERT_TRUE(bob->wait_stderr("listening as bob")) << bob->describe();
    ASSERT_TRUE(carol->wait_stderr("listening as carol")) << carol->describe();
    auto r = natter("alice", {"send", "--group", id, "hello", "all"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("sent: conversation=g:" + id + " seq=2 message_id=", 0), 0u) << r.out;

    for (auto* p : {bob.get(), carol.get()}) {
        ASSERT_TRUE(p->wait_stdout("\"hello all\"")) << p->describe();
        // The group's creation, readable on stderr.
        ASSERT_TRUE(p->wait_stderr("* alice created group \"Friends\" with bob and carol (group " + id + ")"))
            << p->describe();
        p->signal(SIGTERM);
        EXPECT_EQ(p->wait(), 0) << p->describe();
        auto lines = json_lines(p->out());
        ASSERT_EQ(lines.size(), 2u) << p->out();
        EXPECT_EQ(lines[0]["kind"], "system");
        EXPECT_EQ(lines[0]["event"]["type"], "created");
        EXPECT_EQ(lines[1]["kind"], "text");
        EXPECT_EQ(lines[1]["body"], "hello all");
        EXPECT_EQ(lines[1]["conversation_id"], "g:" + id);
        EXPECT_EQ(lines[1]["from"]["user"], alice["user_id"]);
    }
    expect_inbox_empty(port(), account("bob"));
    expect_inbox_empty(port(), account("carol"));

    // Someone removed gets nothing more.
    ASSERT_EQ(natter("alice", {"group", "remove", id, "carol"}).exit_code, 0);
    r = natter("carol", {"send", "--group", id, "still", "here?"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "natter: forbidden: not a member of this group\n");
}

TEST_F(Group, ChatShowsTheSenderReceiptsOnceTheOthersChatsShowIt) {
    sign_up("alice");
    sign_up("bob");
    sign_up("carol");
    auto id = created_group(natter("alice", {"group", "create", "Friends", "bob", "carol"}));
    ASSERT_FALSE(id.empty());

    auto a = start("alice", {"chat", "--group", id});
    ASSERT_TRUE(a->wait_stdout("] * alice created group \"Friends\" with bob and carol\n")) << a->describe();
    // Presence of the others, asked for on connecting: carol never connected.
    ASSERT_TRUE(a->wait_stdout("  carol was last seen ")) << a->describe();
    auto b = start("bob", {"chat", "--group", id});
    ASSERT_TRUE(b->wait_stdout("] * alice created group \"Friends\" with bob and carol\n")) << b->describe();
    ASSERT_TRUE(a->wait_stdout("  bob is online\n")) << a->describe();
    ASSERT_TRUE(b->wait_stdout("  alice is online\n")) << b->describe();

    a->write("hi group\n");
    ASSERT_TRUE(a->wait_stdout("  ✓ #2\n")) << a->describe();
    ASSERT_TRUE(b->wait_stdout("] alice: hi group\n")) << b->describe();
    // Bob's chat showed it, acked it and marked it read.
    ASSERT_TRUE(a->wait_stdout("  ✓✓ read by bob up to #2\n")) << a->describe();

    b->write("hi alice\n");
    ASSERT_TRUE(a->wait_stdout("] bob: hi alice\n")) << a->describe();
    ASSERT_TRUE(b->wait_stdout("  ✓✓ read by alice up to #3\n")) << b->describe();
    EXPECT_EQ(a->out().find("read by alice"), std::string::npos) << a->out();  // not one's own

    // The watermarks over HTTP.
    auto r = natter("carol", {"receipts", "g:" + id});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\n  alice +#3 +#3\n)"))) << r.out;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\n  bob +#2 +#2\n)"))) << r.out;  // #3 is his own
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\n  carol \(you\) +- +-\n)"))) << r.out;
    r = natter("carol", {"receipts", "g:" + id, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json_lines(r.out).size(), 3u) << r.out;

    // A change while the chats run; then alice's going offline.
    ASSERT_EQ(natter("alice", {"group", "remove", id, "carol"}).exit_code, 0);
    ASSERT_TRUE(b->wait_stdout("] * alice removed carol\n")) << b->describe();
    ASSERT_TRUE(a->wait_stdout("] * alice removed carol\n")) << a->describe();  // shown, so acked on leaving
    a->close_stdin();
    EXPECT_EQ(a->wait(), 0) << a->describe();
    ASSERT_TRUE(b->wait_stdout_after("  alice is online\n", "  alice was last seen ")) << b->describe();
    b->write("/quit\n");
    EXPECT_EQ(b->wait(), 0) << b->describe();
    expect_inbox_empty(port(), account("alice"));
    expect_inbox_empty(port(), account("bob"));
}

TEST_F(Group, ChatShowsPresenceOnceThereIsAConversationAndTyping) {
    sign_up("alice");
    sign_up("bob");
    // No conversation yet: presence is refused for now, quietly.
    auto b = start("bob", {"chat", "alice"});
    ASSERT_TRUE(b->wait_stderr("chatting with alice as bob")) << b->describe();
    auto a = start("alice", {"chat", "bob"});
    ASSERT_TRUE(a->wait_stderr("chatting with bob as alice")) << a->describe();
    a->write("hi\n");
    // Now they share one: each asks again, the sender after `sent`, bob once it showed the message.
    ASSERT_TRUE(a->wait_stdout("  ✓ #1\n")) << a->describe();
    ASSERT_TRUE(a->wait_stdout("  bob is online\n")) << a->describe();
    ASSERT_TRUE(b->wait_stdout("] alice: hi\n")) << b->describe();
    ASSERT_TRUE(b->wait_stdout("  alice is online\n")) << b->describe();

    // Without a terminal, /typing says it.
    b->write("/typing\n");
    ASSERT_TRUE(a->wait_stdout("  bob is typing...\n")) << a->describe();
    b->write("almost done\n");
    ASSERT_TRUE(a->wait_stdout("] bob: almost done\n")) << a->describe();
    b->write("/quit\n");
    EXPECT_EQ(b->wait(), 0) << b->describe();
    // Bob's going offline comes as a change (he may have been shown offline
    // before his chat had connected, too).
    ASSERT_TRUE(a->wait_stdout_after("  bob is online\n", "  bob was last seen ")) << a->describe();
    EXPECT_EQ(a->err(), "chatting with bob as alice: type a line and Enter to send; /quit or Ctrl-D to leave, /help for more\n");
    EXPECT_EQ(b->err().find("forbidden"), std::string::npos) << b->err();
    a->close_stdin();
    EXPECT_EQ(a->wait(), 0) << a->describe();
}

TEST_F(Group, OnATerminalTheOthersSeeTypingAsKeysArePressed) {
    sign_up("alice");
    sign_up("bob");
    ASSERT_EQ(natter("bob", {"send", "alice", "there?"}).exit_code, 0);
    auto b = start("bob", {"chat", "alice"});
    ASSERT_TRUE(b->wait_stderr("chatting with alice as bob")) << b->describe();
    auto a = start_on_terminal("alice", {"chat", "bob"});
    ASSERT_TRUE(a->wait_stdout("] bob: there?")) << a->describe();
    ASSERT_TRUE(a->wait_stdout("bob is online")) << a->describe();
    ASSERT_TRUE(a->wait_stdout("> ")) << a->describe();  // the prompt, drawn again below what came

    a->write("hex");  // no Enter yet
    ASSERT_TRUE(b->wait_stdout("  alice is typing...\n")) << b->describe();
    a->write("\x7fllo, \x1b[Dbob\r");  // Backspace; an arrow key is ignored
    ASSERT_TRUE(b->wait_stdout("] alice: hello, bob\n")) << b->describe();
    ASSERT_TRUE(a->wait_stdout("✓ #2")) << a->describe();
    ASSERT_TRUE(a->wait_stdout("read by bob up to #2")) << a->describe();
    // Ctrl-U empties the line; Ctrl-D on an empty line leaves.
    a->write("never sent\x15\x04");
    EXPECT_EQ(a->wait(), 0) << a->describe();
    EXPECT_EQ(b->out().find("never sent"), std::string::npos) << b->out();
    b->close_stdin();
    EXPECT_EQ(b->wait(), 0) << b->describe();
}

}  // namespace
}  // namespace natter::e2e
