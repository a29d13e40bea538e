#pragma once
// Percent-encoding and query strings (RFC 3986), for the HTTP API and the
// signed URLs of the blob stores.
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace natter {

// Decodes %XX (and '+' as a space, as forms send it); a malformed escape stays as it is.
std::string url_decode(std::string_view s);
// Encodes everything but the unreserved A-Z a-z 0-9 - _ . ~ (and '/' when keep_slash).
std::string url_encode(std::string_view s, bool keep_slash = false);
// key=value pairs split on '&', both decoded; the first of a repeated key wins.
std::map<std::string, std::string> parse_query(std::string_view query);

// Whether a WebSocket upgrade's Origin header may open a socket: absent
// (not a browser), the request's own Host under http or https (the page
// natterd or its proxy served), or one of `allowed` ("https://app.example.com",
// compared without case). A browser always sends Origin, so a page of
// another site cannot ride its visitor's ticket or cookies into a socket.
bool origin_allowed(std::string_view origin, std::string_view host, const std::vector<std::string>& allowed);

}  // namespace natter
