#include "s3rver_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "url_client.hpp"

namespace natter::s3test {

namespace {

constexpr int kStartDeadlineMs = 20'000;  // a cold Node.js on a busy machine
constexpr int kStopDeadlineMs = 5'000;
const std::string kTools = NATTER_S3_TOOLS_DIR;
const std::string kNode = NATTER_NODE;

int ms_left(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return int(std::max<std::int64_t>(0, left.count()));
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream all;
    all << in.rdbuf();
    return all.str();
}

bool tcp_connects(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (fd >= 0) ::close(fd);
    return ok;
}

// Waits for the child to exit, up to `ms`; true when it did (and was reaped).
bool reap_within(pid_t pid, int ms) {
    int pidfd = int(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd >= 0) {
        pollfd p{pidfd, POLLIN, 0};
        ::poll(&p, 1, ms);
        ::close(pidfd);
    }
    int status = 0;
    return ::waitpid(pid, &status, pidfd >= 0 ? WNOHANG : 0) == pid;
}

std::unique_ptr<S3rverProcess>& shared_slot() {
    static std::unique_ptr<S3rverProcess> slot;
    return slot;
}

// Stops the shared s3rver when the tests are over.
class StopShared : public ::testing::Environment {
public:
    void TearDown() override { shared_slot().reset(); }
};
[[maybe_unused]] auto* const kStopShared = ::testing::AddGlobalTestEnvironment(new StopShared);

}  // namespace

S3rverProcess::S3rverProcess(S3rverOptions options) : options_(std::move(options)) {
    std::vector<std::string> args = {kNode, kTools + "/s3rver_launch.js", dir_.file("data")};
    for (const auto& b : options_.buckets) args.push_back(b);
    if (!options_.key_file.empty()) args.insert(args.end(), {"--key", options_.key_file, "--cert", options_.cert_file});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    const std::string log = dir_.file("s3rver.log");
    int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        // Only async-signal-safe calls until exec.
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(log_fd, 2);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        ::execv(kNode.c_str(), argv.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(log_fd);
    stdin_fd_ = in[1];
    stdout_fd_ = out[0];
    try {
        wait_ready();
    } catch (const std::exception& e) {
        stop();
        throw std::runtime_error(std::string(e.what()) + "\ns3rver said:\n" + read_file(log) +
                                 "\n(its Node modules come from scripts/deps.sh: `npm ci` in tests/s3)");
    }
}

void S3rverProcess::wait_ready() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStartDeadlineMs);
    std::string line;
    while (line.find('\n') == std::string::npos) {
        pollfd p{stdout_fd_, POLLIN, 0};
        if (::poll(&p, 1, ms_left(deadline)) <= 0) throw std::runtime_error("s3rver did not start within 20 s");
        char buf[256];
        auto n = ::read(stdout_fd_, buf, sizeof buf);
        if (n <= 0) throw std::runtime_error("s3rver exited before it served");
        line.append(buf, std::size_t(n));
    }
    auto said = nlohmann::json::parse(line.substr(0, line.find('\n')), nullptr, false);
    if (!said.is_object() || !said.contains("port")) throw std::runtime_error("s3rver said: " + line);
    port_ = said["port"].get<std::uint16_t>();
    if (!tcp_connects(port_)) throw std::runtime_error("s3rver said it listens on " + std::to_string(port_) + " but does not");
}

S3rverProcess::~S3rverProcess() { stop(); }

void S3rverProcess::stop() {
    if (pid_ <= 0) return;
    ::close(stdin_fd_);
    ::close(stdout_fd_);
    ::kill(pid_, SIGTERM);
    if (!reap_within(pid_, kStopDeadlineMs)) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
}

std::string S3rverProcess::endpoint() const {
    return std::string(options_.key_file.empty() ? "http" : "https") + "://127.0.0.1:" + std::to_string(port_);
}

void S3rverProcess::create_bucket(const std::string& name) const {
    const s3::Bucket bucket{endpoint(), "us-east-1", name, s3::UrlStyle::path};
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    auto put = s3::sign_headers(bucket, kS3rverCredentials, s3::Request{"PUT", "", {}, {}}, now.count());
    if (!put) throw std::runtime_error(put.error().message);
    std::vector<std::pair<std::string, std::string>> headers;
    for (const auto& h : put->headers) headers.emplace_back(h.name, h.value);
    auto r = fetch("PUT", put->url, "", headers);
    if (r.status != 200) throw std::runtime_error("cannot create bucket " + name + ": " + std::to_string(r.status) + " " + r.body + r.error);
}

S3rverProcess& S3rverProcess::shared() {
    auto& slot = shared_slot();
    if (!slot) slot = std::make_unique<S3rverProcess>();
    return *slot;
}

std::string fresh_bucket(const std::string& prefix) {
    static std::atomic<int> n{0};
    return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(n.fetch_add(1));
}

}  // namespace natter::s3test
