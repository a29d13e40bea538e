#pragma once
// The natter binary as a child process: stdin, stdout and stderr through
// pipes, every wait bounded by poll() and a deadline. Nothing sleeps.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace natter::e2e {

using namespace std::chrono_literals;

constexpr auto kWait = 20s;

// Variables to set in the child; an empty value removes the variable.
using Env = std::map<std::string, std::string>;

struct CliResult {
    int exit_code = -1;  // -1: did not exit in time (killed)
    std::string out;
    std::string err;
};

class CliProcess {
public:
    // Starts `binary args...` in a new session (no controlling terminal).
    // With `terminal`, stdin and stdout are a pseudo-terminal instead (80x24,
    // its controlling terminal): write() types keys, out() is the screen's
    // bytes (with "\r\n" line ends); stderr stays a pipe.
    CliProcess(const std::string& binary, const std::vector<std::string>& args, const Env& env, bool terminal = false);
    ~CliProcess();  // SIGKILL if still running
    CliProcess(const CliProcess&) = delete;
    CliProcess& operator=(const CliProcess&) = delete;

    void write(const std::string& text);  // to its stdin
    void close_stdin();
    void signal(int sig);

    // Reads until stdout (or stderr) contains `needle`; false at the deadline.
    bool wait_stdout(const std::string& needle, std::chrono::milliseconds deadline = kWait);
    bool wait_stderr(const std::string& needle, std::chrono::milliseconds deadline = kWait);
    // Until stdout has `needle` somewhere after the first `anchor`.
    bool wait_stdout_after(const std::string& anchor, const std::string& needle,
                           std::chrono::milliseconds deadline = kWait);
    // Until it exits: the exit code, or -1 (then it is killed) at the deadline.
    int wait(std::chrono::milliseconds deadline = kWait);

    const std::string& out() const { return out_; }
    const std::string& err() const { return err_; }
    CliResult result() const { return {exit_code_, out_, err_}; }
    // For failure messages.
    std::string describe() const;

private:
    // Reads what is there, waiting at most until `until`; false when nothing more can come.
    bool pump(std::chrono::steady_clock::time_point until);
    bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds deadline);
    void reap();

    pid_t pid_ = -1;
    int in_ = -1, out_fd_ = -1, err_fd_ = -1;
    std::string out_, err_;
    int exit_code_ = -1;
    bool exited_ = false;
};

}  // namespace natter::e2e
