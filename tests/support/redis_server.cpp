#include "support/redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>

namespace natter::test {

namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kStartMs = 10'000;
constexpr int kStopMs = 10'000;

std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::string binary() {
    const char* path = std::getenv("REDIS_SERVER");
    return path && *path ? path : "/usr/bin/redis-server";
}

std::string tail_of(const std::string& path, std::size_t lines) {
    std::ifstream in(path);
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);) all.push_back(line);
    std::string out;
    for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += all[i] + "\n";
    return out;
}

// Ports below the ephemeral range, never two live servers of ours on one.
std::mutex ports_mu;
std::set<std::uint16_t> ports_taken;

bool can_bind(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as redis binds
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

std::uint16_t pick_port() {
    int low = 32768;
    std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low;
    const int lo = 10000, hi = std::min(low, 65536) - 1;
    if (hi - lo < 1000) throw std::runtime_error("the ephemeral port range starts too low to pick ports below it");
    static std::mt19937 rng{std::random_device{}()};
    std::lock_guard lock(ports_mu);
    for (int attempt = 0; attempt < 1000; ++attempt) {
        auto port = std::uint16_t(std::uniform_int_distribution<int>(lo, hi)(rng));
        if (!ports_taken.contains(port) && can_bind(port)) {
            ports_taken.insert(port);
            return port;
        }
    }
    throw std::runtime_error("no free port for redis-server");
}

void release_port(std::uint16_t port) {
    std::lock_guard lock(ports_mu);
    ports_taken.erase(port);
}

bool answers_ping(std::uint16_t port) {
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port, timeval{0, 200'000});
    bool ok = false;
    if (c && !c->err) {
        redisSetTimeout(c, timeval{0, 500'000});
        auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
        // NOAUTH: up, and wants a password (a test's `requirepass`).
        ok = r && ((r->type == REDIS_REPLY_STATUS && std::string(r->str, r->len) == "PONG") ||
                   (r->type == REDIS_REPLY_ERROR && std::string(r->str, r->len).starts_with("NOAUTH")));
        if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    return ok;
}

}  // namespace

RedisServer::RedisServer(std::vector<std::pair<std::string, std::string>> settings) : settings_(std::move(settings)) {
    std::string pattern = "/tmp/natter-redis-" + std::to_string(::getpid()) + "-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    try {
        spawn();
        await_ready(now_ms() + kStartMs);
    } catch (...) {
        kill();
        if (port_ != 0) release_port(port_);
        std::error_code ec;
        fs::remove_all(dir_, ec);  // no destructor runs for this constructor
        throw;
    }
}

RedisServer::~RedisServer() {
    kill();
    if (port_ != 0) release_port(port_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

std::string RedisServer::log_tail(std::size_t lines) const { return tail_of(dir_ + "/redis.log", lines); }

void RedisServer::spawn() {
    if (!port_kept_) port_ = pick_port();
    const std::string bin = binary();
    if (::access(bin.c_str(), X_OK) != 0)
        throw std::runtime_error(bin + " not found: install redis-server (scripts/deps.sh) or set REDIS_SERVER");
    std::vector<std::string> args = {bin, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no", "--dir", dir_, "--daemonize", "no", "--logfile", ""};
    for (const auto& [name, value] : settings_) args.insert(args.end(), {"--" + name, value});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    static char* const env[] = {const_cast<char*>("PATH=/usr/bin:/bin"), const_cast<char*>("LC_ALL=C"), nullptr};
    const std::string log = dir_ + "/redis.log";
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (in < 0 || out < 0) {
        if (in >= 0) ::close(in);
        if (out >= 0) ::close(out);
        throw std::runtime_error("cannot open " + log);
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
        // Only async-signal-safe calls until exec.
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        ::setsid();  // signals for the test's terminal do not reach it
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        ::syscall(SYS_close_range, 3u, ~0u, 0u);
        ::execve(argv[0], argv.data(), env);
        ::_exit(127);
    }
    ::close(in);
    ::close(out);
    if (pid < 0) throw std::runtime_error("fork failed");
    pid_ = pid;
}

void RedisServer::await_ready(std::int64_t deadline_ms) {
    int port_retries = 0;
    for (;;) {
        if (answers_ping(port_)) {
            port_kept_ = true;
            return;
        }
        if (reap(5)) {  // also the pause between pings
            const std::string log = log_tail(20);
            // Someone took the port between our check and redis' bind.
            if (!port_kept_ && log.find("Address already in use") != std::string::npos && ++port_retries < 5) {
                release_port(port_);
                spawn();
                continue;
            }
            throw std::runtime_error("redis-server exited while starting; its log (" + dir_ + "/redis.log):\n" + log);
        }
        if (now_ms() > deadline_ms) {
            kill();
            throw std::runtime_error("redis-server did not answer PING on port " + std::to_string(port_) +
                                     " within 10 s; its log:\n" + log_tail());
        }
    }
}

// Waits up to timeout_ms for the server to exit; true (and reaped) when it has.
bool RedisServer::reap(int timeout_ms) {
    if (pid_ <= 0) return true;
    int pidfd = int(::syscall(SYS_pidfd_open, pid_, 0));
    pollfd p{pidfd, POLLIN, 0};
    ::poll(pidfd >= 0 ? &p : nullptr, pidfd >= 0 ? 1 : 0, timeout_ms);
    if (pidfd >= 0) ::close(pidfd);
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
        pid_ = -1;
        paused_ = false;
        return true;
    }
    return false;
}

void RedisServer::start() {
    if (running()) return;
    spawn();
    await_ready(now_ms() + kStartMs);
}

void RedisServer::stop() {
    if (!running()) return;
    if (paused_) resume();
    ::kill(pid_, SIGTERM);
    if (!reap(kStopMs)) kill();
}

void RedisServer::kill() {
    if (!running()) return;
    ::kill(pid_, SIGKILL);
    while (!reap(1000)) {
    }
}

void RedisServer::pause() {
    if (!running() || paused_) return;
    ::kill(pid_, SIGSTOP);
    paused_ = true;
}

void RedisServer::resume() {
    if (!running() || !paused_) return;
    ::kill(pid_, SIGCONT);
    paused_ = false;
}

}  // namespace natter::test
