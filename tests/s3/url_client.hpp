#pragma once
// A client for absolute http:// URLs, as an app uses the pre-signed URLs
// natterd hands out: one request on a fresh connection, the URL's path and
// query sent exactly as given, Host from the URL, and Content-Length from the
// body. Every wait has a deadline.
#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace natter::s3test {

struct UrlResponse {
    int status = 0;  // 0: no answer (refused, timed out)
    std::string body;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string error;                            // why there was no answer
};

UrlResponse fetch(const std::string& method, const std::string& url, const std::string& body = "",
                  const std::vector<std::pair<std::string, std::string>>& headers = {},
                  std::chrono::milliseconds deadline = std::chrono::seconds(10));

}  // namespace natter::s3test
