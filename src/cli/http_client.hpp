#pragma once
// Plain HTTP/1.1 requests to natterd. Beast stays in http_client.cpp.
#include <chrono>
#include <string>

#include "server_url.hpp"

namespace natter::cli {

struct HttpResponse {
    int status = 0;
    std::string body;
};

struct HttpRequest {
    std::string method;  // "GET", "POST", "DELETE", ...
    std::string target;  // "/v1/devices?x=y"
    std::string body;    // sent as application/json when not empty
    std::string bearer;  // Authorization: Bearer, when not empty
};

constexpr auto kHttpTimeout = std::chrono::seconds(30);

// One request on a new connection. Throws CliError(kExitNetwork) saying
// "cannot reach <url>: <why>" when there is no answer within kHttpTimeout.
HttpResponse http_request(const ServerUrl& server, const HttpRequest& request);

// Lower case, as it reads after "cannot reach URL: ".
std::string describe_network_error(const std::string& system_message);

}  // namespace natter::cli
