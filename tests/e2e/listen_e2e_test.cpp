// natter listen as a long-running process: live messages, signals, and the
// close codes it reconnects on or gives up on.
#include <signal.h>

#include "e2e/e2e_fixture.hpp"

namespace natter::e2e {
namespace {

using Listen = E2E;

TEST_F(Listen, PrintsLiveMessagesAndExitsAfterCount) {
    sign_up("alice");
    sign_up("bob");
    auto listen = start("bob", {"listen", "--count", "2"});
    ASSERT_TRUE(listen->wait_stderr("listening as bob")) << listen->describe();
    ASSERT_EQ(natter("alice", {"send", "bob", "one"}).exit_code, 0);
    ASSERT_TRUE(listen->wait_stdout("\"one\"")) << listen->describe();
    ASSERT_EQ(natter("alice", {"send", "bob", "two"}).exit_code, 0);
    ASSERT_EQ(listen->wait(), 0) << listen->describe();
    auto lines = json_lines(listen->out());
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[1]["body"], "two");
    expect_inbox_empty(port(), account("bob"));
}

TEST_F(Listen, SigtermAcksWhatWasPrintedThenExits0) {
    sign_up("alice");
    sign_up("bob");
    auto listen = start("bob", {"listen"});
    ASSERT_TRUE(listen->wait_stderr("listening as bob")) << listen->describe();
    ASSERT_EQ(natter("alice", {"send", "bob", "before the signal"}).exit_code, 0);
    ASSERT_TRUE(listen->wait_stdout("before the signal")) << listen->describe();
    listen->signal(SIGTERM);  // likely inside the 100 ms ack batching pause
    EXPECT_EQ(listen->wait(), 0) << listen->describe();
    expect_inbox_empty(port(), account("bob"));
}

TEST_F(Listen, RevokedCredentialsExit4) {
    sign_up("bob");
    auto listen = start("bob", {"listen"});
    ASSERT_TRUE(listen->wait_stderr("listening as bob")) << listen->describe();
    auto bob = account("bob");
    ASSERT_EQ(test::http(port(), "DELETE", "/v1/sessions/current", nullptr, bob.access_token).status, 204);
    EXPECT_EQ(listen->wait(), 4) << listen->describe();
    EXPECT_NE(listen->err().find("4001"), std::string::npos) << listen->err();
}

TEST_F(Listen, ReplacedByAnotherConnectionOfTheDeviceExits1) {
    sign_up("bob");
    auto listen = start("bob", {"listen"});
    ASSERT_TRUE(listen->wait_stderr("listening as bob")) << listen->describe();
    auto other = test::connect(port(), account("bob"));
    EXPECT_EQ(listen->wait(), 1) << listen->describe();
    EXPECT_NE(listen->err().find("4002"), std::string::npos) << listen->err();
    EXPECT_NE(listen->err().find("--profile"), std::string::npos) << listen->err();
}

TEST_F(Listen, ReconnectsWhenTheServerRestarts) {
    sign_up("alice");
    sign_up("bob");
    auto listen = start("bob", {"listen", "--count", "2"});
    ASSERT_TRUE(listen->wait_stderr("listening as bob")) << listen->describe();
    ASSERT_EQ(natter("alice", {"send", "bob", "before"}).exit_code, 0);
    ASSERT_TRUE(listen->wait_stdout("\"before\"")) << listen->describe();
    restart_server();  // 1012 "server restarting: reconnect"
    ASSERT_TRUE(listen->wait_stderr("reconnecting")) << listen->describe();
    ASSERT_EQ(natter("alice", {"send", "bob", "after"}).exit_code, 0);
    ASSERT_EQ(listen->wait(), 0) << listen->describe();
    auto lines = json_lines(listen->out());
    ASSERT_EQ(lines.size(), 2u) << listen->out();  // "before" not printed twice
    EXPECT_EQ(lines[0]["body"], "before");
    EXPECT_EQ(lines[1]["body"], "after");
    expect_inbox_empty(port(), account("bob"));
}

}  // namespace
}  // namespace natter::e2e
