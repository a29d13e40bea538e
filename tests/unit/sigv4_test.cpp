// SigV4 for S3: AWS's published examples, S3's encoding rules, and every
// input that must be refused. The cross-check against AWS's JavaScript signer
// is tests/s3/sigv4_crosscheck_test.cpp.
#include "adapters/s3/sigv4.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/crypto.hpp"

namespace {

using namespace natter::s3;

// The credentials and time of every example in AWS's S3 SigV4 documentation.
const Credentials kAws{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
const Bucket kExampleBucket{"https://s3.amazonaws.com", "us-east-1", "examplebucket", UrlStyle::virtual_host};
constexpr std::int64_t k20130524 = 1369353600;  // 2013-05-24T00:00:00Z

const Bucket kLocal{"http://127.0.0.1:9000", "us-east-1", "media", UrlStyle::path};
const Credentials kLocalKeys{"natter", "natter-secret", ""};
constexpr std::int64_t kNow = 1767323045;  // 2026-01-02T03:04:05Z

Signed presigned(const Bucket& b, const Request& r, std::int64_t expires = 900) {
    auto s = presign(b, kLocalKeys, r, kNow, expires);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? *s : Signed{};
}

std::string path_line(const Signed& s) {  // the canonical URI: the request's second line
    const auto first = s.canonical_request.find('\n');
    return s.canonical_request.substr(first + 1, s.canonical_request.find('\n', first + 1) - first - 1);
}

// --- AWS's published examples ------------------------------------------------

// "Authenticating Requests: Using Query Parameters": the presigned GET.
TEST(SigV4, AwsPresignedGetExample) {
    auto s = presign(kExampleBucket, kAws, {"GET", "test.txt", {}, {}}, k20130524, 86400);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->canonical_request,
              "GET\n/test.txt\n"
              "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
              "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n"
              "host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD");
    EXPECT_EQ(s->string_to_sign,
              "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
              "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");
    EXPECT_EQ(s->signature, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    EXPECT_EQ(s->url,
              "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
              "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
              "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
              "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    EXPECT_EQ(s->host, "examplebucket.s3.amazonaws.com");
    EXPECT_EQ(s->signed_headers, "host");
    EXPECT_EQ(s->credential_scope, "20130524/us-east-1/s3/aws4_request");
    EXPECT_EQ(s->expires_at_s, k20130524 + 86400);
    EXPECT_TRUE(s->headers.empty());
}

// "Signature Calculations for the Authorization Header": GET Object, first 10 bytes.
TEST(SigV4, AwsGetObjectWithRangeExample) {
    auto s = sign_headers(kExampleBucket, kAws, {"GET", "test.txt", {}, {{"Range", "bytes=0-9"}}}, k20130524);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->canonical_request,
              "GET\n/test.txt\n\n"
              "host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
              "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
              "x-amz-date:20130524T000000Z\n\n"
              "host;range;x-amz-content-sha256;x-amz-date\n"
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(s->string_to_sign,
              "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
              "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    EXPECT_EQ(s->signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    EXPECT_EQ(s->url, "https://examplebucket.s3.amazonaws.com/test.txt");
    EXPECT_EQ(s->target, "/test.txt");
    ASSERT_EQ(s->headers.size(), 4u);
    EXPECT_EQ(s->headers[0].name, "range");
    EXPECT_EQ(s->headers[1].name, "x-amz-content-sha256");
    EXPECT_EQ(s->headers[2].name, "x-amz-date");
    EXPECT_EQ(s->headers[2].value, "20130524T000000Z");
    EXPECT_EQ(s->headers[3].name, "authorization");
    EXPECT_EQ(s->headers[3].value,
              "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
              "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
              "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

// PUT Object: a signed payload, a Date header and a '$' in the key.
TEST(SigV4, AwsPutObjectExample) {
    const std::string payload_hash = natter::sha256_hex("Welcome to Amazon S3.");
    ASSERT_EQ(payload_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    Request r{"PUT", "test$file.text", {},
              {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}}};
    auto s = sign_headers(kExampleBucket, kAws, r, k20130524, payload_hash);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(path_line(*s), "/test%24file.text");
    EXPECT_EQ(s->signed_headers, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
    EXPECT_EQ(s->signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

// GET Bucket Lifecycle: the bucket itself, a parameter without a value.
TEST(SigV4, AwsGetBucketLifecycleExample) {
    auto s = sign_headers(kExampleBucket, kAws, {"GET", "", {{"lifecycle", ""}}, {}}, k20130524);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_TRUE(s->canonical_request.starts_with("GET\n/\nlifecycle=\nhost:")) << s->canonical_request;
    EXPECT_EQ(s->signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    EXPECT_EQ(s->url, "https://examplebucket.s3.amazonaws.com/?lifecycle=");
}

// GET Bucket (List Objects): parameters given out of order are signed sorted.
TEST(SigV4, AwsListObjectsExample) {
    auto s = sign_headers(kExampleBucket, kAws, {"GET", "", {{"prefix", "J"}, {"max-keys", "2"}}, {}}, k20130524);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_TRUE(s->canonical_request.starts_with("GET\n/\nmax-keys=2&prefix=J\n")) << s->canonical_request;
    EXPECT_EQ(s->signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

// The signing-key example of AWS's general SigV4 documentation (service iam).
TEST(SigV4, SigningKeyDerivation) {
    const auto key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam");
    ASSERT_EQ(key.size(), 32u);
    std::string hex;
    for (unsigned char c : key) {
        hex += "0123456789abcdef"[c >> 4];
        hex += "0123456789abcdef"[c & 15];
    }
    EXPECT_EQ(hex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

// --- Dates -------------------------------------------------------------------

TEST(SigV4, AmzDateIsUtcBasicFormat) {
    EXPECT_EQ(amz_date(0), "19700101T000000Z");
    EXPECT_EQ(amz_date(k20130524), "20130524T000000Z");
    EXPECT_EQ(amz_date(1709251199), "20240229T235959Z");  // a leap day's last second
    EXPECT_EQ(amz_date(kNow), "20260102T030405Z");
    EXPECT_EQ(amz_date(253402300799), "99991231T235959Z");
}

TEST(SigV4, TheScopeTakesTheDateOfTheSigningTime) {
    auto s = presign(kLocal, kLocalKeys, {"GET", "k", {}, {}}, 1709251199, 60);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->credential_scope, "20240229/us-east-1/s3/aws4_request");
    EXPECT_NE(s->url.find("X-Amz-Credential=natter%2F20240229%2Fus-east-1%2Fs3%2Faws4_request"), std::string::npos);
}

// --- Encoding ----------------------------------------------------------------

TEST(SigV4, UriEncodeKeepsOnlyTheUnreservedSet) {
    EXPECT_EQ(uri_encode("AZaz09-_.~", false), "AZaz09-_.~");
    EXPECT_EQ(uri_encode("a b+c*d!e'f(g)h", false), "a%20b%2Bc%2Ad%21e%27f%28g%29h");
    EXPECT_EQ(uri_encode("=&?#%/:@;,$", false), "%3D%26%3F%23%25%2F%3A%40%3B%2C%24");
    EXPECT_EQ(uri_encode("a/b//c/", true), "a/b//c/");
    EXPECT_EQ(uri_encode("é€😀", false), "%C3%A9%E2%82%AC%F0%9F%98%80");  // UTF-8 bytes, upper-case hex
    EXPECT_EQ(uri_encode(std::string("\0\x7f\xff", 3), false), "%00%7F%FF");
}

TEST(SigV4, KeysAreEncodedOnceAndKeepTheirSlashes) {
    auto s = presigned(kLocal, {"GET", "photos/2026 01/Ünïcödé 😀.jpg", {}, {}});
    const std::string path = "/media/photos/2026%2001/%C3%9Cn%C3%AFc%C3%B6d%C3%A9%20%F0%9F%98%80.jpg";
    EXPECT_EQ(path_line(s), path);
    EXPECT_TRUE(s.url.starts_with("http://127.0.0.1:9000" + path + "?")) << s.url;

    // Characters that mean something in a URL, and an already-encoded-looking key.
    s = presigned(kLocal, {"PUT", "a+b=c&d?e#f%20g;h,i:j@k$l!m*n'o(p)q~r", {}, {}});
    EXPECT_EQ(path_line(s), "/media/a%2Bb%3Dc%26d%3Fe%23f%2520g%3Bh%2Ci%3Aj%40k%24l%21m%2An%27o%28p%29q~r");
    EXPECT_TRUE(s.url.starts_with("http://127.0.0.1:9000" + path_line(s) + "?")) << s.url;

    // Empty segments and a trailing slash are part of the key, kept as they are.
    s = presigned(kLocal, {"GET", "a//b/", {}, {}});
    EXPECT_EQ(path_line(s), "/media/a//b/");
}

TEST(SigV4, QueryParametersAreEncodedAndSortedByEncodedName) {
    Request r{"GET", "k", {{"b", "2"}, {"a-b", "x"}, {"a", "z/y"}, {"a", "é"}, {"~t", ""}, {"Z z", "a b"}}, {}};
    auto s = sign_headers(kLocal, kLocalKeys, r, kNow);
    ASSERT_TRUE(s.ok()) << s.error().message;
    // By name, then value; "a" sorts before "a-b" although "a=" > "a-".
    const std::string query = "Z%20z=a%20b&a=%C3%A9&a=z%2Fy&a-b=x&b=2&~t=";
    EXPECT_TRUE(s->canonical_request.starts_with("GET\n/media/k\n" + query + "\n")) << s->canonical_request;
    EXPECT_EQ(s->target, "/media/k?" + query);
}

TEST(SigV4, PresignMergesTheCallersParametersWithItsOwn) {
    auto s = presigned(kLocal, {"GET", "k", {{"response-content-disposition", "attachment; filename=\"a b.png\""},
                                             {"response-content-type", "image/png"}}, {}});
    const std::string q = s.canonical_request.substr(s.canonical_request.find("\nX-Amz-") + 1);
    EXPECT_TRUE(q.starts_with("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=")) << q;
    EXPECT_NE(q.find("&X-Amz-SignedHeaders=host&response-content-disposition=attachment%3B%20filename%3D%22a%20b.png"
                     "%22&response-content-type=image%2Fpng\n"),
              std::string::npos)
        << q;
    EXPECT_TRUE(s.url.ends_with("&response-content-type=image%2Fpng&X-Amz-Signature=" + s.signature)) << s.url;
}

// --- Headers -----------------------------------------------------------------

TEST(SigV4, PresignedPutSignsTheDeclaredTypeAndSize) {
    auto s = presigned(kLocal, {"PUT", "u/1/img", {}, {{"Content-Type", "image/jpeg"}, {"Content-Length", "52431"}}});
    EXPECT_EQ(s.signed_headers, "content-length;content-type;host");
    EXPECT_NE(s.url.find("&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&"), std::string::npos);
    EXPECT_NE(s.canonical_request.find("\ncontent-length:52431\ncontent-type:image/jpeg\nhost:127.0.0.1:9000\n\n"),
              std::string::npos);
    EXPECT_TRUE(s.canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
    ASSERT_EQ(s.headers.size(), 2u);  // what the client must send, value for value
    EXPECT_EQ(s.headers[0].name, "content-type");
    EXPECT_EQ(s.headers[0].value, "image/jpeg");
    EXPECT_EQ(s.headers[1].name, "content-length");

    // Another size is another signature.
    auto t = presigned(kLocal, {"PUT", "u/1/img", {}, {{"Content-Type", "image/jpeg"}, {"Content-Length", "52432"}}});
    EXPECT_NE(s.signature, t.signature);
}

TEST(SigV4, HeaderValuesAreTrimmedAndTheirSpacesFolded) {
    auto s = presigned(kLocal, {"PUT", "k", {}, {{"X-Amz-Meta-Note", " \t a   b\t\tc  "}}});
    EXPECT_NE(s.canonical_request.find("\nx-amz-meta-note:a b c\n"), std::string::npos) << s.canonical_request;
    EXPECT_EQ(s.signed_headers, "host;x-amz-meta-note");
    // A signed header, not moved into the query.
    EXPECT_EQ(s.url.find("x-amz-meta-note="), std::string::npos) << s.url;
    EXPECT_NE(s.url.find("X-Amz-SignedHeaders=host%3Bx-amz-meta-note&"), std::string::npos) << s.url;
}

TEST(SigV4, SessionTokenIsSigned) {
    Credentials temp{"ASIAEXAMPLE", "secret", "tok/en+with=chars"};
    auto p = presign(kLocal, temp, {"GET", "k", {}, {}}, kNow, 60);
    ASSERT_TRUE(p.ok());
    EXPECT_NE(p->canonical_request.find("&X-Amz-Security-Token=tok%2Fen%2Bwith%3Dchars&"), std::string::npos);
    EXPECT_NE(p->url.find("&X-Amz-Security-Token=tok%2Fen%2Bwith%3Dchars&"), std::string::npos);

    auto h = sign_headers(kLocal, temp, {"HEAD", "k", {}, {}}, kNow);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->signed_headers, "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
    EXPECT_NE(h->canonical_request.find("\nx-amz-security-token:tok/en+with=chars\n"), std::string::npos);
}

TEST(SigV4, ServerRequestsSignTheEmptyBodyByDefault) {
    for (const char* method : {"HEAD", "GET", "DELETE"}) {
        auto s = sign_headers(kLocal, kLocalKeys, {method, "k", {}, {}}, kNow);
        ASSERT_TRUE(s.ok()) << method;
        EXPECT_TRUE(s->canonical_request.starts_with(std::string(method) + "\n/media/k\n\nhost:127.0.0.1:9000\n"));
        EXPECT_TRUE(s->canonical_request.ends_with("\n" + std::string(kEmptyPayloadSha256)));
    }
    auto u = sign_headers(kLocal, kLocalKeys, {"PUT", "k", {}, {}}, kNow, kUnsignedPayload);
    ASSERT_TRUE(u.ok());
    EXPECT_TRUE(u->canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
}

// --- Path style and virtual-hosted style ---------------------------------------

TEST(SigV4, PathAndVirtualHostedStyle) {
    const Request r{"GET", "a b.png", {}, {}};
    auto path = presigned(kLocal, r);
    EXPECT_EQ(path.host, "127.0.0.1:9000");
    EXPECT_TRUE(path.url.starts_with("http://127.0.0.1:9000/media/a%20b.png?"));

    Bucket aws{"https://s3.eu-west-1.amazonaws.com", "eu-west-1", "media", UrlStyle::virtual_host};
    auto vhost = presigned(aws, r);
    EXPECT_EQ(vhost.host, "media.s3.eu-west-1.amazonaws.com");
    EXPECT_TRUE(vhost.url.starts_with("https://media.s3.eu-west-1.amazonaws.com/a%20b.png?"));
    EXPECT_EQ(path_line(vhost), "/a%20b.png");
    EXPECT_NE(vhost.canonical_request.find("\nhost:media.s3.eu-west-1.amazonaws.com\n"), std::string::npos);

    aws.style = UrlStyle::path;
    auto aws_path = presigned(aws, r);
    EXPECT_TRUE(aws_path.url.starts_with("https://s3.eu-west-1.amazonaws.com/media/a%20b.png?"));
    EXPECT_NE(aws_path.signature, vhost.signature);
}

TEST(SigV4, DefaultPortsAreLeftOutOfTheHost) {
    const Request r{"GET", "k", {}, {}};
    auto s = presigned({"HTTPS://S3.Example.COM:443", "us-east-1", "media", UrlStyle::virtual_host}, r);
    EXPECT_EQ(s.host, "media.s3.example.com");
    EXPECT_TRUE(s.url.starts_with("https://media.s3.example.com/k?"));
    s = presigned({"http://minio:80/", "us-east-1", "media", UrlStyle::path}, r);
    EXPECT_EQ(s.host, "minio");
    s = presigned({"http://minio:443", "us-east-1", "media", UrlStyle::path}, r);
    EXPECT_EQ(s.host, "minio:443");
    s = presigned({"http://[::1]:9000", "us-east-1", "media", UrlStyle::path}, r);
    EXPECT_EQ(s.host, "[::1]:9000");
    EXPECT_TRUE(s.url.starts_with("http://[::1]:9000/media/k?"));
}

TEST(SigV4, ExpiryBounds) {
    EXPECT_TRUE(presign(kLocal, kLocalKeys, {"GET", "k", {}, {}}, kNow, 1).ok());
    auto week = presign(kLocal, kLocalKeys, {"GET", "k", {}, {}}, kNow, 604800);
    ASSERT_TRUE(week.ok());
    EXPECT_NE(week->url.find("&X-Amz-Expires=604800&"), std::string::npos);
    EXPECT_EQ(week->expires_at_s, kNow + 604800);
}

TEST(SigV4, LongestKeyIsAccepted) {
    std::string key;
    while (key.size() < 1024) key += "é";  // 2 bytes each
    EXPECT_TRUE(presign(kLocal, kLocalKeys, {"GET", key, {}, {}}, kNow, 60).ok());
}

// --- What is refused -----------------------------------------------------------

void expect_invalid(const natter::Result<Signed>& r, const std::string& says) {
    ASSERT_FALSE(r.ok()) << "accepted; wanted an error saying " << says;
    EXPECT_EQ(r.error().code, natter::Code::invalid);
    EXPECT_NE(r.error().message.find(says), std::string::npos) << r.error().message;
}

natter::Result<Signed> presign_with(const Bucket& b) { return presign(b, kLocalKeys, {"GET", "k", {}, {}}, kNow, 60); }
natter::Result<Signed> presign_with(const Credentials& c) { return presign(kLocal, c, {"GET", "k", {}, {}}, kNow, 60); }
natter::Result<Signed> presign_with(const Request& r) { return presign(kLocal, kLocalKeys, r, kNow, 60); }

TEST(SigV4Refuses, BadExpiry) {
    for (std::int64_t e : {0, -1, 604801}) {
        SCOPED_TRACE(e);
        expect_invalid(presign(kLocal, kLocalKeys, {"GET", "k", {}, {}}, kNow, e), "1 to 604800 seconds");
    }
}

TEST(SigV4Refuses, BadBucketNames) {
    Bucket b = kLocal;
    b.name = "";
    expect_invalid(presign_with(b), "bucket name is empty");
    for (const char* name : {"ab", "Media", "me_dia", "-media", "media-", "me..dia", "192.168.1.1",
                             "a123456789012345678901234567890123456789012345678901234567890123"}) {
        SCOPED_TRACE(name);
        b.name = name;
        expect_invalid(presign_with(b), "S3 bucket \"" + std::string(name) + "\"");
    }
}

TEST(SigV4Refuses, BadRegions) {
    Bucket b = kLocal;
    for (const char* region : {"", "US-EAST-1", "us east 1", "us/east", "-us", "us-", "us_east_1"}) {
        SCOPED_TRACE(region);
        b.region = region;
        expect_invalid(presign_with(b), "is not a region name");
    }
}

TEST(SigV4Refuses, BadEndpoints) {
    Bucket b = kLocal;
    for (const char* endpoint : {"", "127.0.0.1:9000", "ftp://host", "http://", "http://host/path",
                                 "http://host?x=1", "http://user:pw@host", "http://host:0", "http://host:65536",
                                 "http://host:", "http://ho st", "http://[::1", "http://[::1]x"}) {
        SCOPED_TRACE(endpoint);
        b.endpoint = endpoint;
        expect_invalid(presign_with(b), "S3 endpoint");
    }
}

TEST(SigV4Refuses, VirtualHostsThatCannotWork) {
    expect_invalid(presign_with(Bucket{"http://127.0.0.1:9000", "us-east-1", "media", UrlStyle::virtual_host}),
                   "use path-style");
    expect_invalid(presign_with(Bucket{"http://[::1]:9000", "us-east-1", "media", UrlStyle::virtual_host}),
                   "use path-style");
    expect_invalid(presign_with(Bucket{"https://s3.amazonaws.com", "us-east-1", "my.media", UrlStyle::virtual_host}),
                   "breaks TLS");
    // Dots are fine in path style, and over plain HTTP.
    EXPECT_TRUE(presign_with(Bucket{"https://s3.amazonaws.com", "us-east-1", "my.media", UrlStyle::path}).ok());
    EXPECT_TRUE(presign_with(Bucket{"http://s3.local", "us-east-1", "my.media", UrlStyle::virtual_host}).ok());
}

TEST(SigV4Refuses, BadCredentials) {
    expect_invalid(presign_with(Credentials{"", "s", ""}), "access key id");
    expect_invalid(presign_with(Credentials{"AK/ID", "s", ""}), "access key id");
    expect_invalid(presign_with(Credentials{"AK ID", "s", ""}), "access key id");
    expect_invalid(presign_with(Credentials{"AKID", "", ""}), "secret access key is empty");
    expect_invalid(presign_with(Credentials{"AKID", "s", "to ken"}), "session token");
}

TEST(SigV4Refuses, BadMethodsAndKeys) {
    expect_invalid(presign_with(Request{"POST", "k", {}, {}}), "only GET, PUT, HEAD or DELETE");
    expect_invalid(presign_with(Request{"get", "k", {}, {}}), "only GET, PUT, HEAD or DELETE");
    for (const char* key : {".", "..", "a/../b", "a/./b", "../a", "a/.."}) {
        SCOPED_TRACE(key);
        expect_invalid(presign_with(Request{"GET", key, {}, {}}), "segment");
    }
    EXPECT_TRUE(presign_with(Request{"GET", "a/.../b/.c/d.", {}, {}}).ok());
    expect_invalid(presign_with(Request{"GET", "bad\xff", {}, {}}), "must be valid UTF-8");
    expect_invalid(presign_with(Request{"GET", "\xc0\xaf", {}, {}}), "must be valid UTF-8");  // overlong '/'
    expect_invalid(presign_with(Request{"GET", "\xed\xa0\x80", {}, {}}), "must be valid UTF-8");  // a surrogate
    expect_invalid(presign_with(Request{"GET", "\xe2\x82", {}, {}}), "must be valid UTF-8");  // cut short
    expect_invalid(presign_with(Request{"GET", "a\nb", {}, {}}), "must not contain a control character");
    expect_invalid(presign_with(Request{"GET", std::string(1025, 'k'), {}, {}}), "at most 1024 bytes; this one has 1025");
}

TEST(SigV4Refuses, HeadersTheSignerOwnsOrCannotSign) {
    for (const char* name : {"Host", "authorization", "X-Amz-Date", "x-amz-content-sha256", "x-amz-security-token"}) {
        SCOPED_TRACE(name);
        expect_invalid(presign_with(Request{"GET", "k", {}, {{name, "v"}}}), "set by the signer");
    }
    for (const char* name : {"Connection", "transfer-encoding", "expect", "proxy-authorization", "User-Agent",
                             "referer", "cache-control", "sec-fetch-mode", "x-amzn-trace-id"}) {
        SCOPED_TRACE(name);
        expect_invalid(presign_with(Request{"GET", "k", {}, {{name, "v"}}}), "cannot be signed");
    }
    expect_invalid(presign_with(Request{"GET", "k", {}, {{"content type", "v"}}}), "not a header name");
    expect_invalid(presign_with(Request{"GET", "k", {}, {{"", "v"}}}), "not a header name");
    expect_invalid(presign_with(Request{"GET", "k", {}, {{"x-a", "a\r\nx-b: b"}}}), "line break");
    expect_invalid(presign_with(Request{"PUT", "k", {}, {{"Content-Type", "a"}, {"content-type", "b"}}}),
                   "given twice");
}

TEST(SigV4Refuses, QueryParametersTheSignerOwns) {
    for (const char* name : {"X-Amz-Signature", "x-amz-credential", "X-Amz-Expires", "X-Amz-Security-Token"}) {
        SCOPED_TRACE(name);
        expect_invalid(presign_with(Request{"GET", "k", {{name, "v"}}, {}}), "set by the signer");
    }
    expect_invalid(presign_with(Request{"GET", "k", {{"", "v"}}, {}}), "empty name");
}

TEST(SigV4Refuses, BadPayloadHashesAndTimes) {
    for (const char* hash : {"", "UNSIGNED", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                             "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"}) {
        SCOPED_TRACE(hash);
        expect_invalid(sign_headers(kLocal, kLocalKeys, {"PUT", "k", {}, {}}, kNow, hash), "payload hash");
    }
    expect_invalid(sign_headers(kLocal, kLocalKeys, {"GET", "k", {}, {}}, -1), "signing time");
    expect_invalid(presign(kLocal, kLocalKeys, {"GET", "k", {}, {}}, 253402300800, 60), "signing time");
}

TEST(SigV4, CheckBucketAcceptsWorkingSettings) {
    EXPECT_EQ(check_bucket(kLocal), "");
    EXPECT_EQ(check_bucket(kExampleBucket), "");
    EXPECT_EQ(check_bucket({"https://acct.r2.cloudflarestorage.com", "auto", "media", UrlStyle::path}), "");
    EXPECT_NE(check_bucket({"http://127.0.0.1:9000", "us-east-1", "", UrlStyle::path}), "");
}

}  // namespace
