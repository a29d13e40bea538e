#pragma once
// A real redis-server for a test, started and stopped by the test.
//
// Each server: a directory natter-redis-PID-XXXXXX under /tmp holding its
// log (redis.log); no persistence (--save "" --appendonly no), so stop() or
// kill() then start() is a server that lost its data, as a cache instance
// restarted without persistence would. It listens on 127.0.0.1 only, on a
// free port below the ephemeral range (so no outgoing connection takes it
// while it is stopped), kept across stop()/start().
//
// The server is a child of the test process, killed if the thread that
// started it exits (PR_SET_PDEATHSIG): start servers from the test's thread.
// REDIS_SERVER overrides /usr/bin/redis-server.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace natter::test {

class RedisServer {
public:
    // Started and answering PING (or refusing it for want of a password);
    // throws with the server's log tail when it does not within 10 s.
    // `settings`: more `--name value` options.
    explicit RedisServer(std::vector<std::pair<std::string, std::string>> settings = {});
    // Kills it and removes its directory, whatever state it is in.
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    std::string host() const { return "127.0.0.1"; }
    std::uint16_t port() const { return port_; }
    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }
    const std::string& dir() const { return dir_; }
    std::string log_tail(std::size_t lines = 40) const;

    // SIGTERM (clients disconnected), waits for it to exit (10 s, then
    // SIGKILL). Idempotent.
    void stop();
    // Starts it again on the same port, empty; waits until it answers PING.
    // No-op when running.
    void start();
    // A crash: SIGKILL; returns once it is gone.
    void kill();
    // A hung server: SIGSTOP / SIGCONT. Connections stay up, nothing answers.
    void pause();
    void resume();

private:
    void spawn();
    void await_ready(std::int64_t deadline_ms);
    bool reap(int timeout_ms);

    std::vector<std::pair<std::string, std::string>> settings_;
    std::string dir_;
    std::uint16_t port_ = 0;
    bool port_kept_ = false;
    pid_t pid_ = -1;
    bool paused_ = false;
};

}  // namespace natter::test
