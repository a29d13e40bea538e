// natterd killed with SIGKILL and restarted on the same data dir: nothing
// that got `sent` is lost, and order and ids survive.
#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>
#include <thread>

#include "support/test_server.hpp"

namespace natter::test {
namespace {

// natterd as a child process; its port is read from the line it prints.
class Natterd {
public:
    explicit Natterd(const std::string& data_dir, const char* grace = "5") {
        int out[2];
        if (pipe(out) != 0) throw std::runtime_error("pipe");
        pid_ = fork();
        if (pid_ == 0) {
            dup2(out[1], STDOUT_FILENO);
            close(out[0]);
            close(out[1]);
            execl(NATTERD_PATH, "natterd", "--listen", "127.0.0.1:0", "--data", data_dir.c_str(), "--send-burst",
                  "1000", "--drain-grace", grace, "--argon2-memory-kib", "64", "--argon2-time-cost", "1",
                  static_cast<char*>(nullptr));
            _exit(127);
        }
        close(out[1]);
        out_ = out[0];
        port_ = read_port(out_);
    }
    ~Natterd() {
        kill_hard();
        close(out_);
    }
    // Sends `sig` and waits for the exit; the exit status, or -1 on timeout.
    int stop_with(int sig) {
        ::kill(pid_, sig);
        // natterd's stdout closes when it exits: wait for that, with a deadline.
        pollfd p{out_, POLLIN, 0};
        char buf[256];
        auto until = std::chrono::steady_clock::now() + 20s;
        while (std::chrono::steady_clock::now() < until) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
            if (poll(&p, 1, int(left.count())) <= 0) break;
            if (read(out_, buf, sizeof buf) <= 0) {
                int status = 0;
                waitpid(pid_, &status, 0);
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
        }
        return -1;
    }
    std::uint16_t port() const { return port_; }
    void kill_hard() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

private:
    static std::uint16_t read_port(int fd) {
        std::string out;
        auto until = std::chrono::steady_clock::now() + 20s;
        std::smatch m;
        static const std::regex kListening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
        while (!std::regex_search(out, m, kListening)) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
            pollfd p{fd, POLLIN, 0};
            if (left.count() <= 0 || poll(&p, 1, int(left.count())) <= 0) throw std::runtime_error("natterd did not start: " + out);
            char buf[256];
            auto n = read(fd, buf, sizeof buf);
            if (n <= 0) throw std::runtime_error("natterd exited: " + out);
            out.append(buf, std::size_t(n));
        }
        return std::uint16_t(std::stoi(m[1]));
    }
    pid_t pid_ = -1;
    int out_ = -1;
    std::uint16_t port_ = 0;
};

TEST(Restart, SigkillLosesNothingThatWasSent) {
    TempDir dir;
    std::vector<std::string> sent_ids;
    Account alice, bob;
    {
        Natterd server(dir.path());
        alice = signup(server.port(), "alice");
        bob = signup(server.port(), "bob");
        auto a = connect_synced(server.port(), alice);
        for (int i = 0; i < 300; ++i) a->send(send_frame(bob.user_id, "m" + std::to_string(i)));
        for (int i = 0; i < 300; ++i) sent_ids.push_back(a->expect("sent")["message_id"]);
        server.kill_hard();  // right after the last `sent`: no clean shutdown
    }
    Natterd server(dir.path());
    // Tokens and devices survive too: the same credentials still work.
    auto b = connect(server.port(), bob);
    ASSERT_TRUE(b);
    std::size_t i = 0;
    EXPECT_TRUE(drain(*b, [&](const json& m) {
        ASSERT_LT(i, sent_ids.size());
        EXPECT_EQ(m["message_id"], sent_ids[i]) << "at " << i;
        EXPECT_EQ(m["seq"], ++i);
    }));
    EXPECT_EQ(i, sent_ids.size());
    // New messages continue the same conversation's order.
    auto a = connect_synced(server.port(), alice);
    a->send(send_frame(bob.user_id, "after restart"));
    EXPECT_EQ(a->expect("sent")["seq"], 301);
}

TEST(Restart, SigtermClosesWith1012ExitsZeroAndClientsCarryOn) {
    TempDir dir;
    Account alice, bob;
    std::string unacked;
    {
        Natterd server(dir.path(), "0");
        alice = signup(server.port(), "alice");
        bob = signup(server.port(), "bob");
        auto a = connect_synced(server.port(), alice);
        auto b = connect_synced(server.port(), bob);
        a->send(send_frame(bob.user_id, "before the restart"));
        a->expect("sent");
        unacked = b->expect("message")["message_id"];  // bob does not ack it
        std::thread stopper([&] { EXPECT_EQ(server.stop_with(SIGTERM), 0); });
        EXPECT_EQ(a->wait_close(), 1012);
        EXPECT_EQ(b->wait_close(), 1012);
        stopper.join();
    }
    // The clients reconnect (to the restarted node) and carry on.
    Natterd server(dir.path());
    std::vector<json> pushed;
    auto b = connect_synced(server.port(), bob, &pushed);
    ASSERT_EQ(pushed.size(), 1u);
    EXPECT_EQ(pushed[0]["message_id"], unacked);
    auto a = connect_synced(server.port(), alice);
    a->send(send_frame(bob.user_id, "after"));
    EXPECT_EQ(a->expect("sent")["seq"], 2);
}

TEST(Restart, StoppingClosesSocketsWith1012) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto ws = connect_synced(s.port(), alice);
    std::thread stopper([&] { s.app().stop(); });  // waits for the close handshakes
    EXPECT_EQ(ws->wait_close(), 1012);
    stopper.join();
}

}  // namespace
}  // namespace natter::test
