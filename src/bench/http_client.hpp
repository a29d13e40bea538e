#pragma once
// One blocking HTTP/1.1 request for the scenarios' set-up calls (the group
// scenario's `POST /v1/groups`): connect, write, read the answer, close,
// all under one deadline. Internal to src/bench; Beast stays in the .cpp.

#include <chrono>
#include <cstdint>
#include <string>

namespace natter::bench {

struct HttpAnswer {
    int status = 0;      // 0: no answer (the error says why)
    std::string body;
    std::string error;   // connect / write / read failure or the deadline
};

// `method` `path` on host:port with `Authorization: Bearer <bearer>` (when
// not empty) and a JSON `body`. Never throws on network errors: they come
// back in `error` with status 0.
HttpAnswer http_request(const std::string& host, std::uint16_t port, const std::string& method,
                        const std::string& path, const std::string& bearer, const std::string& body,
                        std::chrono::milliseconds timeout);

}  // namespace natter::bench
