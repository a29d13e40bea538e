#include "password.hpp"

#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "errors.hpp"

namespace natter::cli {

namespace {

// The terminal's settings while echo is off, restored on Ctrl-C too.
int g_tty = -1;
termios g_saved{};

void restore_and_die(int sig) {
    ::tcsetattr(g_tty, TCSAFLUSH, &g_saved);
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

std::string read_line_fd(int fd) {
    std::string line;
    char c;
    while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

std::string ask_tty(int tty, const std::string& prompt) {
    if (::write(tty, prompt.data(), prompt.size()) < 0) return {};
    termios t{};
    bool is_term = ::tcgetattr(tty, &t) == 0;
    if (is_term) {
        g_tty = tty;
        g_saved = t;
        ::signal(SIGINT, restore_and_die);
        ::signal(SIGTERM, restore_and_die);
        t.c_lflag &= ~tcflag_t(ECHO);
        ::tcsetattr(tty, TCSAFLUSH, &t);
    }
    auto line = read_line_fd(tty);
    if (is_term) {
        ::tcsetattr(tty, TCSAFLUSH, &g_saved);
        ::signal(SIGINT, SIG_DFL);
        ::signal(SIGTERM, SIG_DFL);
    }
    if (::write(tty, "\n", 1) < 0) return line;
    return line;
}

std::string from_terminal(bool confirm) {
    int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (tty < 0)
        throw CliError(kExitUsage, "no terminal to read the password from: set NATTER_PASSWORD or use --password-stdin");
    auto password = ask_tty(tty, "Password: ");
    if (confirm && ask_tty(tty, "Repeat password: ") != password) {
        ::close(tty);
        throw CliError(kExitUsage, "the passwords do not match");
    }
    ::close(tty);
    return password;
}

}  // namespace

std::string read_password(bool from_stdin, bool confirm) {
    if (from_stdin) {
        std::string line;
        std::getline(std::cin, line);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
    }
    if (const char* env = std::getenv("NATTER_PASSWORD"); env && *env) return env;
    return from_terminal(confirm);
}

}  // namespace natter::cli
