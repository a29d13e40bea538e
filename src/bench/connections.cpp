// natter-bench connections: hold N idle authenticated WebSockets and measure
// what they cost natterd (RSS) and the kernel (TCP socket memory).

#include "bench/frame_scan.hpp"
#include "bench/scenarios.hpp"
#include "bench/send_frames.hpp"
#include "bench/ws_conn.hpp"

#include <boost/asio/steady_timer.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace natter::bench {

namespace {

using namespace std::chrono_literals;
namespace net = boost::asio;


// VmRSS of a process in bytes, or nothing if it cannot be read.
std::optional<std::uint64_t> read_rss(long pid) {
    if (pid <= 0) return std::nullopt;
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            std::istringstream s(line.substr(6));
            std::uint64_t kb = 0;
            if (s >> kb) return kb * 1024;
        }
    }
    return std::nullopt;
}

struct SockStat {
    std::uint64_t inuse = 0, mem_bytes = 0;
    std::uint64_t slab_bytes = 0;        // per-socket slab caches, active objects x object size
    std::uint64_t sunreclaim_bytes = 0;  // /proc/meminfo SUnreclaim, the whole kernel
};

// The slab caches every TCP socket costs one object of: the socket itself
// (TCP), its inode (sock_inode_cache), its struct file (filp) and its epoll
// registration (eventpoll_epi). Needs root to read /proc/slabinfo; 0 if not.
void read_slabs(SockStat& st) {
    std::ifstream in("/proc/slabinfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream s(line);
        std::string name;
        std::uint64_t active = 0, total = 0, size = 0;
        if (!(s >> name >> active >> total >> size)) continue;
        if (name == "TCP" || name == "sock_inode_cache" || name == "filp" || name == "eventpoll_epi")
            st.slab_bytes += active * size;
    }
    std::ifstream mi("/proc/meminfo");
    while (std::getline(mi, line)) {
        if (line.rfind("SUnreclaim:", 0) == 0) {
            std::istringstream s(line.substr(11));
            std::uint64_t kb = 0;
            if (s >> kb) st.sunreclaim_bytes = kb * 1024;
        }
    }
}

// /proc/net/sockstat "TCP: inuse X orphan Y tw Z alloc A mem M" (mem in pages).
SockStat read_sockstat() {
    SockStat st;
    std::ifstream in("/proc/net/sockstat");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("TCP:", 0) != 0) continue;
        std::istringstream s(line.substr(4));
        std::string key;
        std::uint64_t v = 0;
        while (s >> key >> v) {
            if (key == "inuse") st.inuse = v;
            if (key == "mem") st.mem_bytes = v * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
        }
    }
    read_slabs(st);
    return st;
}

class Connections final : public WsHost {
public:
    explicit Connections(const ConnectionsOptions& o) : opt(o) {}
    nlohmann::json execute();

    const BenchUser& user_of(const WsConn& c) const override { return opt.users[c.index()]; }
    void on_failed(WsConn& c, const std::string& why) override;
    void on_ended(WsConn& c) override;
    void on_frame(WsConn& c, std::string_view text) override;
    void ack_pending(WsConn&) override {}

private:
    enum class Phase { connecting, holding, closing };
    void launch_next();
    void maybe_connected();
    void end_hold();
    void progress();

    const ConnectionsOptions& opt;
    std::vector<std::shared_ptr<WsConn>> conns_;
    Phase phase_ = Phase::connecting;
    bool stop_launching_ = false;
    std::size_t launched_ = 0, connecting_ = 0, ready_ = 0, failed_ = 0, ended_ = 0, open_ = 0;
    std::uint64_t disconnects_ = 0, stale_ = 0;
    std::string first_error_;
    Clock::time_point t0_, t_connected_;
    std::function<void()> hold_sample_;
    net::steady_timer connect_timer_{ioc}, hold_timer_{ioc}, close_timer_{ioc}, progress_timer_{ioc};
};

nlohmann::json Connections::execute() {
    if (opt.count == 0) throw std::runtime_error("--count must be at least 1");
    if (opt.users.size() < opt.count)
        throw std::runtime_error("connections needs one user per socket: " + std::to_string(opt.count) + " sockets, " +
                                 std::to_string(opt.users.size()) + " users in the file");
    // One fd per socket here too: lift the soft limit to the hard one.
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    target = net::ip::tcp::endpoint(net::ip::make_address(opt.host), opt.port);
    host_header = opt.host + ":" + std::to_string(opt.port);
    conns_.reserve(opt.count);
    for (std::size_t i = 0; i < opt.count; ++i) conns_.push_back(std::make_shared<WsConn>(*this, i));

    auto rss_before = read_rss(opt.server_pid);
    auto sock_before = read_sockstat();
    t0_ = Clock::now();
    for (std::size_t i = 0; i < opt.max_connecting; ++i) launch_next();
    connect_timer_.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.connect_timeout_s)));
    connect_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || phase_ != Phase::connecting) return;
        if (first_error_.empty())
            first_error_ = "only " + std::to_string(ready_) + " of " + std::to_string(opt.count) + " synced within " +
                           std::to_string(opt.connect_timeout_s) + " s";
        stop_launching_ = true;
        connecting_ = 0;  // those still in their handshake are given up on
        maybe_connected();
    });
    progress_timer_.expires_after(1s);
    progress_timer_.async_wait([this](boost::system::error_code ec) { if (!ec) progress(); });
    std::optional<std::uint64_t> rss_after;
    SockStat sock_after;
    hold_sample_ = [&] {
        rss_after = read_rss(opt.server_pid);
        sock_after = read_sockstat();
    };
    ioc.run();

    double connect_s = seconds_between(t0_, t_connected_);
    nlohmann::json j = {{"scenario", "connections"}, {"target", host_header}, {"count", opt.count},
                        {"connected", ready_}, {"failed", failed_}, {"disconnects", disconnects_},
                        {"stale_messages", stale_},
                        {"connect_s", connect_s}, {"connect_per_s", connect_s > 0 ? ready_ / connect_s : 0},
                        {"hold_s", opt.hold_s}, {"generator_fd_limit", static_cast<std::uint64_t>(rl.rlim_cur)},
                        {"kernel_tcp_inuse_before", sock_before.inuse}, {"kernel_tcp_inuse_after", sock_after.inuse},
                        {"kernel_tcp_mem_before_bytes", sock_before.mem_bytes},
                        {"kernel_tcp_mem_after_bytes", sock_after.mem_bytes},
                        {"kernel_socket_slab_before_bytes", sock_before.slab_bytes},
                        {"kernel_socket_slab_after_bytes", sock_after.slab_bytes},
                        {"kernel_sunreclaim_before_bytes", sock_before.sunreclaim_bytes},
                        {"kernel_sunreclaim_after_bytes", sock_after.sunreclaim_bytes}};
    if (ready_) {
        double d = static_cast<double>(sock_after.mem_bytes) - static_cast<double>(sock_before.mem_bytes);
        // Both ends of each loopback connection are in the count: natterd's socket and ours.
        j["kernel_tcp_mem_per_connection_bytes"] = d / static_cast<double>(ready_);
        if (sock_before.slab_bytes && sock_after.slab_bytes)
            j["kernel_socket_slab_per_connection_bytes"] =
                (static_cast<double>(sock_after.slab_bytes) - static_cast<double>(sock_before.slab_bytes)) / static_cast<double>(ready_);
        j["kernel_sunreclaim_per_connection_bytes"] =
            (static_cast<double>(sock_after.sunreclaim_bytes) - static_cast<double>(sock_before.sunreclaim_bytes)) / static_cast<double>(ready_);
    }
    if (rss_before && rss_after) {
        j["server_pid"] = opt.server_pid;
        j["server_rss_before_bytes"] = *rss_before;
        j["server_rss_after_bytes"] = *rss_after;
        if (ready_) j["server_rss_per_connection_bytes"] = (static_cast<double>(*rss_after) - static_cast<double>(*rss_before)) / static_cast<double>(ready_);
    }
    if (!first_error_.empty()) j["first_error"] = first_error_;
    bool fd_limit = first_error_.find("Too many open files") != std::string::npos;
    if (fd_limit) j["limit_hit"] = "the generator's fd limit (ulimit -n " + std::to_string(rl.rlim_cur) + ")";
    else if (first_error_.find("HTTP 503") != std::string::npos) j["limit_hit"] = "natterd refused the upgrade (503: --max-connections or its fd limit)";
    j["ok"] = ready_ == opt.count && disconnects_ == 0;
    return j;
}

void Connections::launch_next() {
    if (stop_launching_ || launched_ >= conns_.size()) return;
    ++connecting_;
    conns_[launched_++]->start();
}

void Connections::on_failed(WsConn& c, const std::string& why) {
    ++failed_;
    if (first_error_.empty()) first_error_ = "socket " + std::to_string(c.index()) + " (" + opt.users[c.index()].username + "): " + why;
    stop_launching_ = true;  // the first failure ends the ramp; what is up is measured
    if (phase_ == Phase::connecting && connecting_) --connecting_;
    maybe_connected();
}

void Connections::on_ended(WsConn& c) {
    ++ended_;
    if (phase_ == Phase::closing) {
        if (c.ready && open_ && --open_ == 0) ioc.stop();
        return;
    }
    if (!c.ready) {
        on_failed(c, "closed before sync_done");
        return;
    }
    ++disconnects_;
    if (open_) --open_;
}

void Connections::on_frame(WsConn& c, std::string_view text) {
    auto type = frame_type(text);
    if (!type) return;
    if (*type == "message") {  // an earlier run's leftovers: ack them like a client would
        if (auto mid = scan_string(text, "message_id")) {
            c.add_ack(*mid);
            ++stale_;
        }
        return;
    }
    if (*type == "sync_done" && !c.ready) {
        c.flush_acks();
        c.ready = true;
        ++ready_;
        ++open_;
        if (phase_ == Phase::connecting) {
            if (connecting_) --connecting_;
            launch_next();
            maybe_connected();
        }
    }
}

void Connections::maybe_connected() {
    if (phase_ != Phase::connecting || connecting_ != 0) return;
    if (!stop_launching_ && launched_ < conns_.size()) return;
    phase_ = Phase::holding;
    t_connected_ = Clock::now();
    connect_timer_.cancel();
    if (opt.progress)
        std::fprintf(stderr, "natter-bench: %zu of %llu connected and synced in %.3f s; holding %.1f s\n", ready_,
                     static_cast<unsigned long long>(opt.count), seconds_between(t0_, t_connected_), opt.hold_s);
    hold_timer_.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.hold_s)));
    hold_timer_.async_wait([this](boost::system::error_code ec) { if (!ec) end_hold(); });
}

void Connections::end_hold() {
    hold_sample_();
    phase_ = Phase::closing;
    progress_timer_.cancel();
    close_timer_.expires_after(10s);
    close_timer_.async_wait([this](boost::system::error_code ec) { if (!ec) ioc.stop(); });
    if (open_ == 0) return ioc.stop();
    for (auto& c : conns_)
        if (c->ready && !c->ended) c->close();
}

void Connections::progress() {
    if (phase_ != Phase::connecting) return;
    if (opt.progress)
        std::fprintf(stderr, "natter-bench: %6.1fs  %zu of %llu synced, %zu connecting, %zu failed\n",
                     seconds_between(t0_, Clock::now()), ready_, static_cast<unsigned long long>(opt.count), connecting_, failed_);
    progress_timer_.expires_after(1s);
    progress_timer_.async_wait([this](boost::system::error_code ec) { if (!ec) progress(); });
}

}  // namespace

nlohmann::json run_connections(const ConnectionsOptions& o) {
    Connections run(o);
    return run.execute();
}

}  // namespace natter::bench
