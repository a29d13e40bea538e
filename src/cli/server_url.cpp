#include "server_url.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include "errors.hpp"

namespace natter::cli {

namespace {

CliError bad_url(const std::string& text, const std::string& why) {
    return CliError(kExitUsage, "bad server URL \"" + text + "\": " + why);
}

bool all_digits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

ServerUrl parse_server_url(const std::string& text) {
    ServerUrl out;
    std::string rest;
    bool known = false;
    // A WebSocket URL names the same server: natter speaks HTTP to it too.
    for (auto [scheme, tls] : {std::pair{"http://", false}, {"https://", true}, {"ws://", false}, {"wss://", true}}) {
        if (text.rfind(scheme, 0) != 0) continue;
        rest = text.substr(std::string_view(scheme).size());
        out.tls = tls;
        known = true;
        break;
    }
    if (!known) throw bad_url(text, "it must start with http:// or https:// (ws:// and wss:// do too)");
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    if (rest.find_first_of("/?#@") != std::string::npos) throw bad_url(text, "give only https://HOST[:PORT] (or http://)");

    out.host_header = rest;
    std::string port = out.tls ? "443" : "80";
    if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
        auto close = rest.find(']');
        if (close == std::string::npos) throw bad_url(text, "unclosed [");
        out.host = rest.substr(1, close - 1);
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') throw bad_url(text, "expected :PORT after ]");
            port = rest.substr(close + 2);
        }
    } else {
        auto colon = rest.find(':');
        out.host = rest.substr(0, colon);
        if (colon != std::string::npos) port = rest.substr(colon + 1);
    }
    if (out.host.empty()) throw bad_url(text, "no host");
    if (!all_digits(port) || port.size() > 5 || std::stoi(port) == 0 || std::stoi(port) > 65535)
        throw bad_url(text, "the port must be a number from 1 to 65535");
    out.port = port;
    out.url = (out.tls ? "https://" : "http://") + rest;
    return out;
}

}  // namespace natter::cli
