#pragma once
// The server a command talks to: http://HOST[:PORT], as given on the command line.
#include <string>

namespace natter::cli {

struct ServerUrl {
    std::string url;   // normalised: "http://host:port", no trailing slash
    std::string host;  // without brackets for IPv6
    std::string port;  // "80" when not given
    // The Host header: host[:port] as the user wrote it.
    std::string host_header;
};

// Throws CliError (usage) when `text` is not an http:// URL with a host.
ServerUrl parse_server_url(const std::string& text);

}  // namespace natter::cli
