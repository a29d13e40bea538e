#include "support/pg_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace natter::test {

namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kStartMs = 30'000;
constexpr int kStopMs = 30'000;
constexpr std::int64_t kGoneMs = 10'000;
constexpr const char* kSuperuser = "natter";
constexpr const char* kDatabase = "natter";

std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::string bin(const char* name) {
    const char* dir = std::getenv("NATTER_PG_BIN");
    return std::string(dir && *dir ? dir : "/usr/lib/postgresql/15/bin") + "/" + name;
}

std::string tail_of(const std::string& path, std::size_t lines) {
    std::ifstream in(path);
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);) all.push_back(line);
    std::string out;
    for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += all[i] + "\n";
    return out;
}

// Who runs the PostgreSQL binaries: `postgres` when we are root (it refuses
// root), else ourselves.
struct RunAs {
    bool drop = false;
    uid_t uid = 0;
    gid_t gid = 0;
};

const RunAs& run_as() {
    static const RunAs who = [] {
        if (::geteuid() != 0) return RunAs{};
        const passwd* pw = ::getpwnam("postgres");
        if (!pw) throw std::runtime_error("running as root, but there is no user `postgres`: install postgresql-15 (scripts/deps.sh)");
        return RunAs{true, pw->pw_uid, pw->pw_gid};
    }();
    return who;
}

// Where the servers' directories go: tmpfs when there is room (file
// creation there costs a tenth of ext4's, and start-up is mostly creating
// files), else /tmp; NATTER_PG_TMPDIR decides when set.
const std::string& base_dir() {
    static const std::string base = [] {
        if (const char* env = std::getenv("NATTER_PG_TMPDIR"); env && *env) return std::string(env);
        struct statfs shm {};
        constexpr std::uint64_t kRoom = 2ull << 30;
        if (::statfs("/dev/shm", &shm) == 0 && shm.f_type == TMPFS_MAGIC && std::uint64_t(shm.f_bavail) * shm.f_bsize >= kRoom)
            return std::string("/dev/shm");
        return std::string("/tmp");
    }();
    return base;
}

std::string make_dir() {
    std::string pattern = base_dir() + "/natter-pg-" + std::to_string(::getpid()) + "-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    const RunAs& as = run_as();
    if (as.drop && ::chown(pattern.c_str(), as.uid, as.gid) != 0) throw std::runtime_error("cannot chown " + pattern);
    return pattern;
}

// Starts a PostgreSQL binary as a child of this thread: its own session, its
// output appended to `log`, stdin from `input` (or /dev/null).
pid_t launch(const std::vector<std::string>& args, const std::string& log, const std::string& input = "") {
    if (::access(args[0].c_str(), X_OK) != 0)
        throw std::runtime_error(args[0] + " not found: install postgresql-15 (scripts/deps.sh) or set NATTER_PG_BIN");
    const RunAs& as = run_as();
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    static char* const env[] = {const_cast<char*>("PATH=/usr/bin:/bin"), const_cast<char*>("LC_ALL=C"),
                                const_cast<char*>("TZ=UTC"), nullptr};
    int in = ::open(input.empty() ? "/dev/null" : input.c_str(), O_RDONLY | O_CLOEXEC);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (in < 0 || out < 0) {
        if (in >= 0) ::close(in);
        if (out >= 0) ::close(out);
        throw std::runtime_error("cannot open " + (in < 0 ? input : log));
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
        // Only async-signal-safe calls until exec.
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        ::setsid();  // signals for the test's terminal do not reach it
        if (as.drop) {
            gid_t g = as.gid;
            if (::setgroups(1, &g) != 0 || ::setgid(as.gid) != 0 || ::setuid(as.uid) != 0) ::_exit(126);
        }
        // After setuid, which clears it: dies with the thread that started it.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        ::syscall(SYS_close_range, 3u, ~0u, 0u);
        ::execve(argv[0], argv.data(), env);
        ::_exit(127);
    }
    ::close(in);
    ::close(out);
    if (pid < 0) throw std::runtime_error("fork failed");
    return pid;
}

// Runs a PostgreSQL binary to completion; throws with its output when it fails.
void run(const std::vector<std::string>& args, const std::string& log, const std::string& input = "") {
    const pid_t pid = launch(args, log, input);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error(args[0] + " failed (status " + std::to_string(status) + "):\n" + tail_of(log, 40));
}

// The System V segment a postmaster made (postmaster.pid, line 7), if any.
int shm_id_of(const std::string& data_dir) {
    std::ifstream in(data_dir + "/postmaster.pid");
    std::string line;
    for (int i = 0; i < 7 && std::getline(in, line); ++i) {
    }
    std::istringstream fields(line);
    long key = 0, shmid = -1;
    return fields >> key >> shmid ? int(shmid) : -1;
}

// What test processes that died left behind: their postgres processes (a
// postmaster dies with its test, but children it had paused stay stopped),
// their System V segments and their directories. Found by the test's pid in
// the directory name, and by the processes' working directory (the data dir).
void sweep_stale() {
    const std::string prefix = base_dir() + "/natter-pg-";
    auto stale = [&](const std::string& path) {
        if (!path.starts_with(prefix)) return false;
        const long pid = std::strtol(path.c_str() + prefix.size(), nullptr, 10);
        return pid > 0 && pid != ::getpid() && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH;
    };
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        std::error_code link_ec;
        const auto cwd = fs::read_symlink(entry.path() / "cwd", link_ec);
        if (!link_ec && stale(cwd.string())) ::kill(pid_t(std::atol(entry.path().filename().c_str())), SIGKILL);
    }
    for (const auto& entry : fs::directory_iterator(base_dir(), ec)) {
        if (!stale(entry.path().string())) continue;
        // Removed once nothing is attached any more.
        if (int id = shm_id_of(entry.path().string() + "/data"); id >= 0) ::shmctl(id, IPC_RMID, nullptr);
        fs::remove_all(entry.path(), ec);
    }
}

// initdb, once per process, and the database made in it; servers copy it.
class Template {
public:
    Template() {
        sweep_stale();
        dir_ = make_dir();
        const std::string log = dir_ + "/setup.log";
        run({bin("initdb"), "-D", data(), "-U", kSuperuser, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync",
             "--no-instructions"},
            log);
        const std::string sql = dir_ + "/create.sql";
        std::ofstream(sql) << "CREATE DATABASE " << kDatabase << ";\n";
        // Single-user mode: no port, no socket, no waiting for it to start.
        run({bin("postgres"), "--single", "-D", data(), "-c", "fsync=off", "postgres"}, log, sql);
    }
    ~Template() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    std::string data() const { return dir_ + "/data"; }

private:
    std::string dir_;
};

const Template& the_template() {
    static const Template t;
    return t;
}

// Ports: below the ephemeral range (no outgoing connection takes one while
// its server is stopped), and never two live servers of ours on one.
std::mutex ports_mu;
std::set<std::uint16_t> ports_taken;

bool can_bind(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as postgres binds
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
    throw std::runtime_error("no free port for postgres");
}

void release_port(std::uint16_t port) {
    std::lock_guard lock(ports_mu);
    ports_taken.erase(port);
}

// A conninfo value: quoted when it holds spaces, quotes or backslashes.
std::string conninfo_value(const std::string& v) {
    if (!v.empty() && v.find_first_of(" '\\\t\n") == std::string::npos) return v;
    std::string out = "'";
    for (char c : v) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

}  // namespace

PgServer::PgServer(Unstarted, PgServerOptions options) : options_(std::move(options)) {
    const Template& tmpl = the_template();
    dir_ = make_dir();
    try {
        run({"/bin/cp", "-a", tmpl.data(), dir_ + "/data"}, dir_ + "/setup.log");
    } catch (...) {
        std::error_code ec;
        fs::remove_all(dir_, ec);  // no destructor runs for this constructor
        throw;
    }
}

PgServer::PgServer(PgServerOptions options) : PgServer(Unstarted{}, std::move(options)) {
    spawn();
    await_ready(now_ms() + kStartMs);
}

PgServer::~PgServer() {
    try {
        stop();
    } catch (...) {
    }
    if (port_ != 0) release_port(port_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

std::vector<std::unique_ptr<PgServer>> PgServer::start_many(std::size_t n, const PgServerOptions& options) {
    the_template();
    std::vector<std::unique_ptr<PgServer>> servers(n);
    std::vector<std::exception_ptr> errors(n);
    {
        // The copies in parallel; the postmasters from this thread (see PR_SET_PDEATHSIG).
        std::vector<std::thread> copying;
        for (std::size_t i = 0; i < n; ++i)
            copying.emplace_back([&, i] {
                try {
                    servers[i].reset(new PgServer(Unstarted{}, options));
                } catch (...) {
                    errors[i] = std::current_exception();
                }
            });
        for (auto& t : copying) t.join();
    }
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
    for (auto& s : servers) s->spawn();
    const std::int64_t deadline = now_ms() + kStartMs;
    for (auto& s : servers) s->await_ready(deadline);
    return servers;
}

std::string PgServer::conninfo(const std::string& dbname) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + conninfo_value(dbname) + " user=" + kSuperuser +
           " connect_timeout=2";
}

std::string PgServer::create_database(const std::string& name) const {
    PGconn* c = PQconnectdb(conninfo("postgres").c_str());
    std::string error;
    if (PQstatus(c) != CONNECTION_OK) {
        error = PQerrorMessage(c);
    } else {
        char* quoted = PQescapeIdentifier(c, name.data(), name.size());
        // FILE_COPY: a plain copy of template1's files, quicker than WAL_LOG here.
        PGresult* r = PQexec(c, ("CREATE DATABASE " + std::string(quoted) + " STRATEGY FILE_COPY").c_str());
        if (PQresultStatus(r) != PGRES_COMMAND_OK) error = PQresultErrorMessage(r);
        PQclear(r);
        PQfreemem(quoted);
    }
    PQfinish(c);
    if (!error.empty()) throw std::runtime_error("cannot create database " + name + ": " + error);
    return conninfo(name);
}

std::string PgServer::log_tail(std::size_t lines) const { return tail_of(dir_ + "/postgres.log", lines); }

void PgServer::spawn() {
    if (!port_kept_) port_ = pick_port();
    std::vector<std::string> args = {
        bin("postgres"), "-D", dir_ + "/data", "-p", std::to_string(port_), "-k", dir_,
        "-c", "listen_addresses=127.0.0.1",
        "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=on",
        // Dynamic shared memory in files under data/, so a crash leaves nothing in /dev/shm.
        "-c", "dynamic_shared_memory_type=mmap",
    };
    for (const auto& [name, value] : options_.settings) args.insert(args.end(), {"-c", name + "=" + value});
    std::error_code ec;
    const auto size = fs::file_size(dir_ + "/postgres.log", ec);
    log_start_ = ec ? 0 : size;
    pid_ = launch(args, dir_ + "/postgres.log");
}

void PgServer::await_ready(std::int64_t deadline_ms) {
    const std::string ping = conninfo("postgres");
    int port_retries = 0;
    for (;;) {
        if (PQping(ping.c_str()) == PQPING_OK) {
            port_kept_ = true;
            return;
        }
        if (reap(5)) {  // also the pause between pings
            std::ifstream in(dir_ + "/postgres.log");
            in.seekg(std::streamoff(log_start_));
            const std::string log{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
            // Someone took the port between our check and postgres's bind.
            if (!port_kept_ && log.find("Address already in use") != std::string::npos && ++port_retries < 5) {
                release_port(port_);
                spawn();
                continue;
            }
            throw std::runtime_error("postgres exited while starting; its log (" + dir_ + "/postgres.log):\n" + log);
        }
        if (now_ms() > deadline_ms) {
            kill();
            throw std::runtime_error("postgres did not accept connections on port " + std::to_string(port_) +
                                     " within 30 s; its log:\n" + log_tail());
        }
    }
}

// Waits up to timeout_ms for the postmaster to exit; true (and reaped) when it has.
bool PgServer::reap(int timeout_ms) {
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

void PgServer::start() {
    if (running()) return;
    spawn();
    await_ready(now_ms() + kStartMs);
}

void PgServer::stop() {
    if (!running()) return;
    if (paused_) resume();
    ::kill(pid_, SIGINT);  // fast shutdown
    if (!reap(kStopMs)) kill();
}

std::vector<pid_t> PgServer::children() const {
    std::vector<pid_t> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream in(entry.path() / "stat");
        std::string stat;
        std::getline(in, stat);
        // "pid (comm) state ppid …"; comm may hold spaces and parentheses.
        auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(stat.substr(close + 1));
        char state = 0;
        long ppid = 0;
        if (rest >> state >> ppid && ppid == pid_) out.push_back(pid_t(std::stol(name)));
    }
    return out;
}

void PgServer::kill() {
    if (!running()) return;
    ::kill(pid_, SIGSTOP);  // no new backends from here on
    const auto kids = children();
    ::kill(pid_, SIGKILL);
    for (pid_t k : kids) ::kill(k, SIGKILL);
    reap(int(kGoneMs));
    pid_ = -1;
    paused_ = false;
    wait_backends_gone();
}

// The children are not ours to reap, but while any lives it stays attached
// to the postmaster's System V segment (postmaster.pid, line 7): once none
// is, they are all gone, and the segment can go too.
void PgServer::wait_backends_gone() {
    const int shmid = shm_id_of(dir_ + "/data");
    if (shmid < 0) return;
    const std::int64_t deadline = now_ms() + kGoneMs;
    for (;;) {
        shmid_ds ds{};
        if (::shmctl(shmid, IPC_STAT, &ds) != 0) return;  // already gone
        if (ds.shm_nattch == 0) {
            ::shmctl(shmid, IPC_RMID, nullptr);
            return;
        }
        if (now_ms() > deadline) throw std::runtime_error("postgres backends still alive 10 s after kill()");
        ::poll(nullptr, 0, 2);
    }
}

void PgServer::pause() {
    if (!running() || paused_) return;
    ::kill(pid_, SIGSTOP);
    for (pid_t k : children()) ::kill(k, SIGSTOP);
    paused_ = true;
}

void PgServer::resume() {
    if (!running() || !paused_) return;
    for (pid_t k : children()) ::kill(k, SIGCONT);
    ::kill(pid_, SIGCONT);
    paused_ = false;
}

}  // namespace natter::test
