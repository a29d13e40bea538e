#pragma once
// The server a command talks to: http://HOST[:PORT] or https://HOST[:PORT]
// (ws:// and wss:// are taken as the same), as given on the command line.
#include <string>

namespace natter::cli {

struct ServerUrl {
    std::string url;   // normalised: "http://host:port" or "https://host:port", no trailing slash
    std::string host;  // without brackets for IPv6
    std::string port;  // "80" (http) or "443" (https) when not given
    // The Host header: host[:port] as the user wrote it.
    std::string host_header;
    bool tls = false;  // https: the certificate is checked against the system's CAs (and ca_file's)
    // --ca-file: a PEM file of CAs trusted besides the system's. Not part of
    // the URL: set by the command line, for every TLS connection natter makes.
    std::string ca_file;
};

// Throws CliError (usage) when `text` is not an http(s):// or ws(s):// URL with a host.
ServerUrl parse_server_url(const std::string& text);

}  // namespace natter::cli
