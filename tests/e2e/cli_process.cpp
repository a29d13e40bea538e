#include "e2e/cli_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace natter::e2e {

namespace {

std::vector<std::string> child_env(const Env& env) {
    std::map<std::string, std::string> vars;
    for (char** e = environ; *e; ++e) {
        std::string kv = *e;
        auto eq = kv.find('=');
        if (eq != std::string::npos) vars[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (auto it = vars.begin(); it != vars.end();)  // no NATTER_* from the caller's shell
        it = it->first.rfind("NATTER_", 0) == 0 ? vars.erase(it) : std::next(it);
    for (const auto& [k, v] : env) {
        if (v.empty()) vars.erase(k);
        else vars[k] = v;
    }
    std::vector<std::string> out;
    for (const auto& [k, v] : vars) out.push_back(k + "=" + v);
    return out;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
    std::vector<char*> out;
    for (auto& s : v) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

}  // namespace

CliProcess::CliProcess(const std::string& binary, const std::vector<std::string>& args, const Env& env, bool terminal) {
    ::signal(SIGPIPE, SIG_IGN);  // writing to a child that exited is an error, not our death
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2];
    int master = -1;
    std::string slave;
    if (terminal) {
        master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || ::grantpt(master) || ::unlockpt(master)) throw std::runtime_error("pty");
        slave = ::ptsname(master);
        winsize size{24, 80, 0, 0};
        ::ioctl(master, TIOCSWINSZ, &size);
    } else if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC)) {
        throw std::runtime_error("pipe");
    }
    if (::pipe2(err, O_CLOEXEC)) throw std::runtime_error("pipe");
    std::vector<std::string> argv_s{binary};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    auto env_s = child_env(env);
    auto argv = c_strings(argv_s), envp = c_strings(env_s);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
        ::setsid();  // no controlling terminal: /dev/tty cannot be opened
        if (terminal) {
            int tty = ::open(slave.c_str(), O_RDWR);  // a session leader's first terminal: its controlling one
            if (tty < 0) ::_exit(127);
            ::dup2(tty, STDIN_FILENO);
            ::dup2(tty, STDOUT_FILENO);
        } else {
            ::dup2(in[0], STDIN_FILENO);
            ::dup2(out[1], STDOUT_FILENO);
        }
        ::dup2(err[1], STDERR_FILENO);
        // Asio's sockets are not close-on-exec: without this the child would
        // hold natterd's listening socket open, and a restart on the same
        // port would fail.
        if (::close_range(3, ~0U, 0) != 0)
            for (int fd = 3; fd < 4096; ++fd) ::close(fd);
        ::execve(binary.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(err[1]);
    err_fd_ = err[0];
    if (terminal) {
        in_ = master;
        out_fd_ = ::fcntl(master, F_DUPFD_CLOEXEC, 0);  // read; EIO once the child's side is closed
        return;
    }
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_fd_ = out[0];
}

CliProcess::~CliProcess() {
    if (!exited_ && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        reap();
    }
    for (int fd : {in_, out_fd_, err_fd_})
        if (fd >= 0) ::close(fd);
}

void CliProcess::write(const std::string& text) {
    std::size_t done = 0;
    while (in_ >= 0 && done < text.size()) {
        auto n = ::write(in_, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        done += std::size_t(n);
    }
}

void CliProcess::close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
}

void CliProcess::signal(int sig) {
    if (!exited_) ::kill(pid_, sig);
}

bool CliProcess::pump(std::chrono::steady_clock::time_point until) {
    pollfd fds[2];
    int n = 0;
    if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
    if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
    if (n == 0) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    int ready = ::poll(fds, nfds_t(n), int(std::max<long>(0, left.count())));
    if (ready <= 0) return ready < 0 && errno == EINTR;
    for (int i = 0; i < n; ++i) {
        if (!fds[i].revents) continue;
        int& fd = fds[i].fd == out_fd_ ? out_fd_ : err_fd_;
        std::string& buf = fds[i].fd == out_fd_ ? out_ : err_;
        char chunk[4096];
        auto got = ::read(fd, chunk, sizeof chunk);
        if (got > 0) {
            buf.append(chunk, std::size_t(got));
        } else if (got == 0 || errno != EINTR) {
            ::close(fd);
            fd = -1;
        }
    }
    return true;
}

bool CliProcess::wait_for(const std::function<bool()>& done, std::chrono::milliseconds deadline) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= until) return false;
        if (!pump(until) && out_fd_ < 0 && err_fd_ < 0) return done();
    }
    return true;
}

bool CliProcess::wait_stdout(const std::string& needle, std::chrono::milliseconds deadline) {
    return wait_for([&] { return out_.find(needle) != std::string::npos; }, deadline);
}

bool CliProcess::wait_stdout_after(const std::string& anchor, const std::string& needle,
                                   std::chrono::milliseconds deadline) {
    return wait_for(
        [&] {
            auto at = out_.find(anchor);
            return at != std::string::npos && out_.find(needle, at + anchor.size()) != std::string::npos;
        },
        deadline);
}

bool CliProcess::wait_stderr(const std::string& needle, std::chrono::milliseconds deadline) {
    return wait_for([&] { return err_.find(needle) != std::string::npos; }, deadline);
}

int CliProcess::wait(std::chrono::milliseconds deadline) {
    if (exited_) return exit_code_;
    // Both pipes at end of file: the process is exiting.
    if (!wait_for([&] { return out_fd_ < 0 && err_fd_ < 0; }, deadline)) {
        ::kill(pid_, SIGKILL);
        reap();
        exit_code_ = -1;
        return -1;
    }
    reap();
    return exit_code_;
}

void CliProcess::reap() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    exited_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string CliProcess::describe() const {
    return "exit " + std::to_string(exit_code_) + "\n--- stdout:\n" + out_ + "--- stderr:\n" + err_;
}

}  // namespace natter::e2e
