#pragma once
// AWS Signature Version 4 for S3 (and S3-compatible stores: MinIO, R2, …).
//
// Two ways to sign one request on one object:
// - presign(): a URL that carries its own authentication in the query
//   (X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders,
//   -Signature and, for temporary credentials, -Security-Token). natterd hands
//   it to a client, which then PUTs or GETs the blob straight to the store.
//   The payload is always UNSIGNED-PAYLOAD; extra headers (content-type,
//   content-length) are signed so that the client must send exactly them.
// - sign_headers(): an Authorization header, for natterd's own HEAD, ranged
//   GET and DELETE calls.
//
// Pure computation: no I/O, no clock (the caller passes the time), OpenSSL
// for SHA-256 and HMAC. The canonical request and the string to sign come back
// with the signature, so tests and logs can see what was signed.
//
// Encoding, as S3 wants it: every byte outside RFC 3986's unreserved set
// (A-Z a-z 0-9 - _ . ~) becomes %XX with upper-case hex. The key keeps its
// '/'s and is encoded once (S3 does not double-encode the path, unlike other
// services); query names and values are encoded with '/' as %2F and sorted by
// encoded name, then encoded value. The returned URL uses exactly the encoding
// that was signed.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace natter::s3 {

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// SHA-256 of an empty body, the payload hash of a HEAD, GET or DELETE.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
inline constexpr std::int64_t kMaxPresignExpiresS = 7 * 24 * 3600;  // SigV4's limit: one week

enum class UrlStyle {
    path,          // http://host:port/bucket/key: MinIO, s3rver, anything on an IP
    virtual_host,  // https://bucket.host/key: AWS's default
};

// Where the objects live: one bucket behind one endpoint.
struct Bucket {
    std::string endpoint;  // scheme and authority only: "http://127.0.0.1:9000", "https://s3.amazonaws.com"
    std::string region;    // "us-east-1" (R2: "auto"): lower-case letters, digits and '-'
    std::string name;      // 3-63 of a-z 0-9 . -, starting and ending with a letter or digit
    UrlStyle style = UrlStyle::path;
};

struct Credentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;  // only for temporary credentials; empty otherwise
};

struct Header {
    std::string name;
    std::string value;
};

struct Param {
    std::string name;
    std::string value;
};

// One request on an object, or on the bucket itself when the key is empty.
struct Request {
    std::string method;           // GET, PUT, HEAD or DELETE
    std::string key;              // as stored: UTF-8, not encoded; no "." or ".." segment
    std::vector<Param> query;     // extra query parameters, not encoded (e.g. response-content-type)
    std::vector<Header> headers;  // extra headers to sign; the client must send each, value for value.
                                  // Signed as headers even when named x-amz-* (never moved into the query).
                                  // Refused: the signer's own (host, authorization, x-amz-date,
                                  // x-amz-content-sha256, x-amz-security-token) and those that clients
                                  // or proxies change (user-agent, connection, cache-control, proxy-*, …).
};

// What signing produced.
struct Signed {
    std::string url;              // the whole URL: scheme, host, encoded path, query with the signature
    std::string host;             // the Host header the request must carry (no default port)
    std::string target;           // the request target: encoded path and query, as in the request line
    std::vector<Header> headers;  // headers to send besides Host, names in lower case. presign: the
                                  // caller's signed headers. sign_headers: those plus x-amz-date,
                                  // x-amz-content-sha256, x-amz-security-token if any, and authorization.
    std::string canonical_request;
    std::string string_to_sign;
    std::string credential_scope;  // "20130524/us-east-1/s3/aws4_request"
    std::string signed_headers;    // "content-length;content-type;host"
    std::string signature;         // 64 lower-case hex digits
    std::int64_t expires_at_s = 0;  // presign only: now_s + expires_s
};

// A URL valid from `now_s` (Unix seconds) for `expires_s` seconds (1..604800).
// An error (Code::invalid, saying what to fix) for a bad bucket, credentials,
// method, key, header, parameter or expiry.
Result<Signed> presign(const Bucket& bucket, const Credentials& credentials, const Request& request,
                       std::int64_t now_s, std::int64_t expires_s);

// An Authorization-header signed request, sent at `now_s`. `payload_sha256` is
// the lower-case hex SHA-256 of the body (the empty body's by default) or
// UNSIGNED-PAYLOAD. Errors as for presign().
Result<Signed> sign_headers(const Bucket& bucket, const Credentials& credentials, const Request& request,
                            std::int64_t now_s, std::string_view payload_sha256 = kEmptyPayloadSha256);

// Empty when the bucket's settings make sense together; otherwise what to fix.
// presign() and sign_headers() check this too; call it at start-up to fail early.
std::string check_bucket(const Bucket& bucket);

// The building blocks, exposed for tests.
std::string uri_encode(std::string_view bytes, bool keep_slash);
std::string amz_date(std::int64_t unix_s);  // "20130524T000000Z" (UTC); 0 <= unix_s < year 10000
// HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request"; 32 raw bytes.
std::string signing_key(std::string_view secret, std::string_view yyyymmdd, std::string_view region,
                        std::string_view service);

}  // namespace natter::s3
