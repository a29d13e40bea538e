#pragma once
// A real PostgreSQL 15 server for a test, started and stopped by the test.
//
// Each server: a directory natter-pg-PID-XXXXXX holding its data, its unix
// socket and its log (postgres.log), all owned by the user `postgres` when
// the test runs as root (PostgreSQL refuses root), else by the test's user.
// The directory is in /dev/shm when that is a tmpfs with 2 GiB free (start-up
// is mostly creating files: measured 0.03 s there against up to 0.9 s on
// this machine's ext4 /tmp), else in /tmp; NATTER_PG_TMPDIR overrides. It listens on 127.0.0.1 only, on a free port below the ephemeral
// range (so a client's outgoing connection does not take it while the server
// is stopped), and keeps that port across stop()/start(). Superuser `natter`,
// trust authentication, database `natter`, UTF-8, C collation.
//
// Fast, not durable against power loss: fsync and full_page_writes are off.
// synchronous_commit stays on: with it off a commit returns before its WAL
// reaches the kernel, so kill() would lose commits that clients were told
// about (measured: with fsync off it costs nothing).
//
// initdb runs once per test process into a template that every server
// copies; the template goes when the process exits, and directories left by
// test processes that died are removed by the next one.
//
// The postmaster is a child of the test process (no runuser/pg_ctl in
// between: the test owns its pid) and is killed if the thread that started
// it exits (PR_SET_PDEATHSIG): start servers from the test's thread, not from
// a short-lived helper thread.
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace natter::test {

struct PgServerOptions {
    // More server settings (`-c name=value`), after the defaults above.
    std::vector<std::pair<std::string, std::string>> settings;
};

class PgServer {
public:
    // Started and accepting connections; throws with the server's log tail
    // when it does not within 30 s.
    explicit PgServer(PgServerOptions options = {});
    // Stops it (fast), and removes its directory, whatever state it is in.
    ~PgServer();
    PgServer(const PgServer&) = delete;
    PgServer& operator=(const PgServer&) = delete;

    // n servers at once: one template, n copies, n postmasters started
    // together and waited for together.
    static std::vector<std::unique_ptr<PgServer>> start_many(std::size_t n, const PgServerOptions& options = {});

    std::uint16_t port() const { return port_; }
    // "host=127.0.0.1 port=N dbname=natter user=natter connect_timeout=2"
    std::string conninfo() const { return conninfo("natter"); }
    std::string conninfo(const std::string& dbname) const;
    // A new empty database, for a test of its own; returns its conninfo.
    std::string create_database(const std::string& name) const;

    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }  // the postmaster's, while running
    const std::string& dir() const { return dir_; }
    std::string log_tail(std::size_t lines = 40) const;

    // Fast shutdown (clients are disconnected, data kept), waits for the
    // postmaster to exit (30 s, then SIGKILL). Idempotent.
    void stop();
    // Starts it again, same port and data (after a crash: with recovery).
    // Waits until it accepts connections. No-op when running.
    void start();
    // A crash: SIGKILL to the postmaster and its children; returns when none
    // of them is left. start() recovers.
    void kill();
    // A hung server: SIGSTOP / SIGCONT to the postmaster and its children.
    // Connections to it (new ones too) get no answer while paused.
    void pause();
    void resume();

private:
    struct Unstarted {};
    PgServer(Unstarted, PgServerOptions options);
    void spawn();
    void await_ready(std::int64_t deadline_ms);
    bool reap(int timeout_ms);
    std::vector<pid_t> children() const;
    void wait_backends_gone();

    PgServerOptions options_;
    std::string dir_;
    std::uint16_t port_ = 0;
    bool port_kept_ = false;  // once it has started on port_, it stays there
    pid_t pid_ = -1;
    bool paused_ = false;
    std::uintmax_t log_start_ = 0;  // where this start's lines begin in postgres.log
};

}  // namespace natter::test
