#include "adapters/s3/sigv4.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "core/crypto.hpp"
#include "core/url.hpp"

namespace natter::s3 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kService = "s3";
constexpr std::int64_t kLastSecondOf9999 = 253402300799;  // 9999-12-31T23:59:59Z
constexpr std::size_t kMaxKeyBytes = 1024;                 // S3's limit

// Set by the signer: a caller may not pass them.
constexpr std::array<std::string_view, 7> kAuthParams = {
    "x-amz-algorithm", "x-amz-credential", "x-amz-date",          "x-amz-expires",
    "x-amz-signedheaders", "x-amz-signature", "x-amz-security-token"};
constexpr std::array<std::string_view, 5> kSignerHeaders = {"host", "authorization", "x-amz-date",
                                                            "x-amz-content-sha256", "x-amz-security-token"};
// Headers that clients and proxies add, drop or rewrite on their own, which would
// break the signature (AWS's own signers leave the same ones out), and any
// proxy-* or sec-* header.
constexpr std::array<std::string_view, 14> kUnsignableHeaders = {
    "cache-control", "connection", "expect",  "from",    "keep-alive",        "max-forwards", "pragma",
    "referer",       "te",         "trailer", "upgrade", "transfer-encoding", "user-agent",   "x-amzn-trace-id"};

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || is_digit(c); }

template <std::size_t N>
bool one_of(std::string_view s, const std::array<std::string_view, N>& set) {
    return std::find(set.begin(), set.end(), s) != set.end();
}

// RFC 7230's token characters, the only ones a header name may have.
bool is_token(std::string_view s) {
    static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || kExtra.find(c) != std::string_view::npos;
    });
}

// Well-formed UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
bool is_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const unsigned char c = s[i];
        std::size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 9;
        if (n == 9 || i + n >= s.size()) return false;  // a bad lead byte, or cut short
        std::uint32_t cp = n == 0 ? c : c & (0x3f >> n);
        for (std::size_t k = 1; k <= n; ++k) {
            const unsigned char d = s[i + k];
            if ((d >> 6) != 0x2) return false;
            cp = (cp << 6) | (d & 0x3f);
        }
        static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
        if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n + 1;
    }
    return true;
}

// The endpoint split into what the URL and the Host header need.
struct Endpoint {
    std::string scheme;  // "http" or "https"
    std::string host;    // lower case; an IPv6 literal keeps its brackets
    std::string port;    // ":9000", or empty for the scheme's default port
};

bool is_ip_literal(std::string_view host) {
    return host.starts_with('[') ||
           std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; });
}

// Empty when `port` (the digits after ':') is a port number.
std::string check_port(std::string_view port) {
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), is_digit) ||
        std::stoi(std::string(port)) == 0 || std::stoi(std::string(port)) > 65535)
        return "the port must be a number from 1 to 65535";
    return {};
}

Result<Endpoint> parse_endpoint(std::string_view url) {
    auto bad = [&](std::string_view why) {
        return err(Code::invalid, "S3 endpoint \"" + std::string(url) + "\": " + std::string(why) +
                                      " (expected like \"https://s3.amazonaws.com\" or \"http://127.0.0.1:9000\")");
    };
    Endpoint e;
    const std::string l = lower(url);
    if (l.starts_with("https://")) e.scheme = "https";
    else if (l.starts_with("http://")) e.scheme = "http";
    else return bad("the scheme must be http or https");
    std::string_view rest = std::string_view(l).substr(e.scheme.size() + 3);
    const std::size_t end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, end);
    if (end != std::string_view::npos && rest.substr(end) != "/")
        return bad("only a scheme, a host and a port: no path, query or fragment");
    if (authority.find('@') != std::string_view::npos) return bad("no user name or password in the URL");
    std::string_view port;
    if (authority.starts_with('[')) {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos || close == 1) return bad("an IPv6 address needs a closing ']'");
        e.host = std::string(authority.substr(0, close + 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty() && !after.starts_with(':')) return bad("only \":port\" may follow an IPv6 address");
        port = after.empty() ? after : after.substr(1);
        if (after == ":") return bad("the port must be a number from 1 to 65535");
    } else {
        const std::size_t colon = authority.rfind(':');
        e.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            if (port.empty()) return bad("the port must be a number from 1 to 65535");
        }
        const bool ok = !e.host.empty() && e.host.front() != '.' && e.host.back() != '.' &&
                        std::all_of(e.host.begin(), e.host.end(),
                                    [](char c) { return is_lower_alnum(c) || c == '.' || c == '-'; });
        if (!ok) return bad("the host must be a name or an address");
    }
    if (!port.empty()) {
        if (auto why = check_port(port); !why.empty()) return bad(why);
        const bool default_port = (e.scheme == "http" && port == "80") || (e.scheme == "https" && port == "443");
        if (!default_port) e.port = ":" + std::string(port);
    }
    return e;
}

std::string check_region(std::string_view region) {
    const bool ok = !region.empty() && region.size() <= 64 && region.front() != '-' && region.back() != '-' &&
                    std::all_of(region.begin(), region.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
    if (ok) return {};
    return "S3 region \"" + std::string(region) +
           "\" is not a region name: lower-case letters, digits and '-' (like \"us-east-1\"; R2 uses \"auto\")";
}

std::string check_bucket_name(std::string_view name) {
    const std::string prefix = "S3 bucket \"" + std::string(name) + "\": ";
    if (name.empty()) return "the S3 bucket name is empty";
    if (name.size() < 3 || name.size() > 63) return prefix + "a bucket name has 3 to 63 characters";
    if (!std::all_of(name.begin(), name.end(), [](char c) { return is_lower_alnum(c) || c == '.' || c == '-'; }))
        return prefix + "only lower-case letters, digits, '.' and '-'";
    if (!is_lower_alnum(name.front()) || !is_lower_alnum(name.back()))
        return prefix + "must start and end with a letter or a digit";
    if (name.find("..") != std::string_view::npos) return prefix + "no two '.' in a row";
    if (std::all_of(name.begin(), name.end(), [](char c) { return is_digit(c) || c == '.'; }))
        return prefix + "must not look like an IP address";
    return {};
}

std::string check_credentials(const Credentials& c) {
    const bool key_ok = !c.access_key_id.empty() && c.access_key_id.size() <= 128 &&
                        std::all_of(c.access_key_id.begin(), c.access_key_id.end(), [](char ch) {
                            return ch > ' ' && ch < 0x7f && ch != '/' && ch != ',' && ch != '=';
                        });
    if (!key_ok) return "the S3 access key id must be 1-128 printable ASCII characters, without '/', ',' or '='";
    if (c.secret_access_key.empty()) return "the S3 secret access key is empty";
    const bool token_ok = std::all_of(c.session_token.begin(), c.session_token.end(),
                                      [](char ch) { return ch > ' ' && ch < 0x7f; });
    if (!token_ok) return "the S3 session token must be printable ASCII without spaces";
    return {};
}

std::string check_key(std::string_view key) {
    // The key itself goes into the message only once it is known to be printable.
    if (key.size() > kMaxKeyBytes)
        return "an S3 object key has at most 1024 bytes; this one has " + std::to_string(key.size());
    if (!is_utf8(key)) return "an S3 object key must be valid UTF-8";
    if (std::any_of(key.begin(), key.end(), [](char c) { return (unsigned char)c < 0x20 || c == 0x7f; }))
        return "an S3 object key must not contain a control character";
    const std::string prefix = "S3 object key \"" + std::string(key) + "\": ";
    // Clients resolve "." and ".." in a URL's path before sending it.
    for (std::size_t start = 0; start <= key.size();) {
        std::size_t slash = std::min(key.find('/', start), key.size());
        std::string_view segment = key.substr(start, slash - start);
        if (segment == "." || segment == "..") return prefix + "no \".\" or \"..\" segment";
        start = slash + 1;
    }
    return {};
}

std::string check_method(std::string_view method) {
    if (method == "GET" || method == "PUT" || method == "HEAD" || method == "DELETE") return {};
    return "S3 request method \"" + std::string(method) + "\": only GET, PUT, HEAD or DELETE";
}

// The value as signed: spaces and tabs at either end dropped, inner runs made one space.
std::string canonical_value(std::string_view v) {
    std::string out;
    bool space = false;
    for (char c : v) {
        if (c == ' ' || c == '\t') {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += c;
    }
    return out;
}

Result<std::vector<Header>> check_headers(const std::vector<Header>& headers) {
    std::vector<Header> out;
    for (const auto& h : headers) {
        const std::string name = lower(h.name);
        auto bad = [&](std::string_view why) {
            return err(Code::invalid, "header \"" + h.name + "\" for an S3 request: " + std::string(why));
        };
        if (!is_token(name)) return bad("not a header name");
        if (one_of(name, kSignerHeaders)) return bad("set by the signer");
        if (one_of(name, kUnsignableHeaders) || name.starts_with("proxy-") || name.starts_with("sec-"))
            return bad("cannot be signed: clients and proxies add or change it");
        if (h.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
            return bad("the value has a line break or NUL");
        for (const auto& seen : out)
            if (seen.name == name) return bad("given twice");
        out.push_back({name, canonical_value(h.value)});
    }
    return out;
}

using EncodedParams = std::vector<std::pair<std::string, std::string>>;

Result<EncodedParams> encode_params(const std::vector<Param>& query) {
    EncodedParams out;
    for (const auto& p : query) {
        if (p.name.empty()) return err(Code::invalid, "an S3 query parameter has an empty name");
        if (one_of(lower(p.name), kAuthParams))
            return err(Code::invalid, "query parameter \"" + p.name + "\" for an S3 request: set by the signer");
        out.emplace_back(uri_encode(p.name, false), uri_encode(p.value, false));
    }
    return out;
}

std::string check_time(std::int64_t now_s) {
    if (now_s < 0 || now_s > kLastSecondOf9999) return "the signing time is outside 1970-9999";
    return {};
}

// Everything checked and encoded, before the auth-specific parts.
struct Prepared {
    Endpoint endpoint;
    std::string host;             // the Host header
    std::string path;             // encoded
    EncodedParams params;         // encoded, unsorted
    std::vector<Header> headers;  // lower-case names, canonical values
    std::string amz_date;         // 20130524T000000Z
    std::string scope;            // 20130524/us-east-1/s3/aws4_request
};

Result<Prepared> prepare(const Bucket& bucket, const Credentials& credentials, const Request& request,
                         std::int64_t now_s) {
    for (const std::string& why : {check_bucket(bucket), check_credentials(credentials), check_method(request.method),
                                   check_key(request.key), check_time(now_s)})
        if (!why.empty()) return err(Code::invalid, why);
    Prepared p;
    p.endpoint = parse_endpoint(bucket.endpoint).value();  // check_bucket parsed it
    const std::string key = uri_encode(request.key, true);
    if (bucket.style == UrlStyle::virtual_host) {
        p.host = bucket.name + "." + p.endpoint.host + p.endpoint.port;
        p.path = "/" + key;
    } else {
        p.host = p.endpoint.host + p.endpoint.port;
        p.path = "/" + bucket.name + (request.key.empty() ? "" : "/" + key);
    }
    auto params = encode_params(request.query);
    if (!params) return params.error();
    p.params = std::move(*params);
    auto headers = check_headers(request.headers);
    if (!headers) return headers.error();
    p.headers = std::move(*headers);
    p.amz_date = amz_date(now_s);
    p.scope = p.amz_date.substr(0, 8) + "/" + bucket.region + "/" + std::string(kService) + "/aws4_request";
    return p;
}

std::string canonical_query(EncodedParams params) {
    std::sort(params.begin(), params.end());
    std::string out;
    for (const auto& [name, value] : params) out += (out.empty() ? "" : "&") + name + "=" + value;
    return out;
}

// Fills the canonical request, string to sign and signature of `s`, signing
// `headers` (sorted here) with `payload` as the payload hash.
void sign_into(Signed& s, const Prepared& p, std::string_view method, const std::string& query,
               std::vector<Header> headers, std::string_view payload, std::string_view secret,
               std::string_view region) {
    std::sort(headers.begin(), headers.end(), [](const Header& a, const Header& b) { return a.name < b.name; });
    std::string canonical_headers;
    for (const auto& h : headers) canonical_headers += h.name + ":" + h.value + "\n";
    s.canonical_request = std::string(method) + "\n" + p.path + "\n" + query + "\n" + canonical_headers + "\n" +
                          s.signed_headers + "\n" + std::string(payload);
    s.string_to_sign = std::string(kAlgorithm) + "\n" + p.amz_date + "\n" + p.scope + "\n" +
                       sha256_hex(s.canonical_request);
    const std::string key = signing_key(secret, p.amz_date.substr(0, 8), region, kService);
    s.signature = hex(hmac_sha256(key, s.string_to_sign));
    s.credential_scope = p.scope;
}

std::string signed_header_list(std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ";") + n;
    return out;
}

std::vector<std::string> names_of(const std::vector<Header>& headers) {
    std::vector<std::string> out;
    for (const auto& h : headers) out.push_back(h.name);
    return out;
}

bool is_payload_hash(std::string_view h) {
    auto hex_digit = [](char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); };
    return h == kUnsignedPayload || (h.size() == 64 && std::all_of(h.begin(), h.end(), hex_digit));
}

}  // namespace

std::string uri_encode(std::string_view bytes, bool keep_slash) {
    // SigV4's encoding is RFC 3986's, upper-case hex: core/url's.
    return url_encode(bytes, keep_slash);
}

std::string amz_date(std::int64_t unix_s) {
    using namespace std::chrono;
    const sys_seconds t{seconds{unix_s}};
    const sys_days day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{t - day};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02d%02d%02dZ", int(ymd.year()), unsigned(ymd.month()),
                  unsigned(ymd.day()), int(hms.hours().count()), int(hms.minutes().count()),
                  int(hms.seconds().count()));
    return buf;
}

std::string signing_key(std::string_view secret, std::string_view yyyymmdd, std::string_view region,
                        std::string_view service) {
    std::string key = hmac_sha256("AWS4" + std::string(secret), yyyymmdd);
    key = hmac_sha256(key, region);
    key = hmac_sha256(key, service);
    return hmac_sha256(key, "aws4_request");
}

std::string check_bucket(const Bucket& bucket) {
    auto endpoint = parse_endpoint(bucket.endpoint);
    if (!endpoint) return endpoint.error().message;
    for (const std::string& why : {check_region(bucket.region), check_bucket_name(bucket.name)})
        if (!why.empty()) return why;
    if (bucket.style == UrlStyle::virtual_host) {
        if (is_ip_literal(endpoint->host))
            return "S3 endpoint \"" + bucket.endpoint + "\" is an IP address: use path-style URLs";
        // A wildcard TLS certificate covers one label only.
        if (endpoint->scheme == "https" && bucket.name.find('.') != std::string::npos)
            return "S3 bucket \"" + bucket.name +
                   "\" has a '.', which breaks TLS with virtual-hosted URLs: use path-style URLs";
    }
    return {};
}

Result<Signed> presign(const Bucket& bucket, const Credentials& credentials, const Request& request,
                       std::int64_t now_s, std::int64_t expires_s) {
    if (expires_s < 1 || expires_s > kMaxPresignExpiresS)
        return err(Code::invalid, "a pre-signed S3 URL expires after 1 to 604800 seconds (one week), not " +
                                      std::to_string(expires_s));
    auto prepared = prepare(bucket, credentials, request, now_s);
    if (!prepared) return prepared.error();
    Prepared& p = *prepared;
    Signed s;
    s.host = p.host;
    s.headers = p.headers;
    s.expires_at_s = now_s + expires_s;
    std::vector<Header> to_sign = p.headers;
    to_sign.push_back({"host", p.host});
    s.signed_headers = signed_header_list(names_of(to_sign));
    EncodedParams params = p.params;
    const std::string credential = credentials.access_key_id + "/" + p.scope;
    params.emplace_back("X-Amz-Algorithm", std::string(kAlgorithm));
    params.emplace_back("X-Amz-Credential", uri_encode(credential, false));
    params.emplace_back("X-Amz-Date", p.amz_date);
    params.emplace_back("X-Amz-Expires", std::to_string(expires_s));
    params.emplace_back("X-Amz-SignedHeaders", uri_encode(s.signed_headers, false));
    if (!credentials.session_token.empty())
        params.emplace_back("X-Amz-Security-Token", uri_encode(credentials.session_token, false));
    const std::string query = canonical_query(std::move(params));
    sign_into(s, p, request.method, query, std::move(to_sign), kUnsignedPayload, credentials.secret_access_key,
              bucket.region);
    s.target = p.path + "?" + query + "&X-Amz-Signature=" + s.signature;
    s.url = p.endpoint.scheme + "://" + p.host + s.target;
    return s;
}

Result<Signed> sign_headers(const Bucket& bucket, const Credentials& credentials, const Request& request,
                            std::int64_t now_s, std::string_view payload_sha256) {
    if (!is_payload_hash(payload_sha256))
        return err(Code::invalid, "the S3 payload hash must be 64 lower-case hex digits or UNSIGNED-PAYLOAD, not \"" +
                                      std::string(payload_sha256) + "\"");
    auto prepared = prepare(bucket, credentials, request, now_s);
    if (!prepared) return prepared.error();
    Prepared& p = *prepared;
    Signed s;
    s.host = p.host;
    s.headers = p.headers;
    s.headers.push_back({"x-amz-content-sha256", std::string(payload_sha256)});
    s.headers.push_back({"x-amz-date", p.amz_date});
    if (!credentials.session_token.empty()) s.headers.push_back({"x-amz-security-token", credentials.session_token});
    std::vector<Header> to_sign = s.headers;
    to_sign.push_back({"host", p.host});
    s.signed_headers = signed_header_list(names_of(to_sign));
    const std::string query = canonical_query(p.params);
    sign_into(s, p, request.method, query, std::move(to_sign), payload_sha256, credentials.secret_access_key,
              bucket.region);
    s.headers.push_back({"authorization", std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                                              p.scope + ", SignedHeaders=" + s.signed_headers +
                                              ", Signature=" + s.signature});
    s.target = p.path + (query.empty() ? "" : "?" + query);
    s.url = p.endpoint.scheme + "://" + p.host + s.target;
    return s;
}

}  // namespace natter::s3
