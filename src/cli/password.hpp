#pragma once
// Where a password comes from: --password-stdin, else $NATTER_PASSWORD, else
// the terminal (/dev/tty) without echo.
#include <string>

namespace natter::cli {

// `confirm`: ask twice on the terminal (registering). Throws CliError (usage)
// when there is no source, or the two entries differ.
std::string read_password(bool from_stdin, bool confirm);

}  // namespace natter::cli
