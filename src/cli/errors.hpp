#pragma once
// How a natter command ends badly: a message for the user and an exit code.
#include <stdexcept>
#include <string>

namespace natter::cli {

// The exit codes, documented in `natter --help` and the README.
enum ExitCode : int {
    kExitOk = 0,
    kExitRefused = 1,  // the server refused (an HTTP 4xx/5xx other than 401, an `error` frame)
    kExitUsage = 2,    // bad command line
    kExitNetwork = 3,  // the server could not be reached, or stopped answering
    kExitAuth = 4,     // not logged in, or the credentials were rejected
};

// Thrown to end a command; main prints "natter: <what()>" and exits with exit_code().
class CliError : public std::runtime_error {
public:
    CliError(int exit_code, const std::string& message) : std::runtime_error(message), exit_code_(exit_code) {}
    int exit_code() const { return exit_code_; }

private:
    int exit_code_;
};

}  // namespace natter::cli
