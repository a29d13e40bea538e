#include "adapters/s3/s3_blobs.hpp"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <cctype>
#include <charconv>
#include <stdexcept>

namespace natter::s3 {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct S3Blobs::Tls {
    ssl::context ctx{ssl::context::tls_client};
};

namespace {

// Room for an error document besides the bytes asked for.
constexpr std::size_t kErrorBodyBytes = 64 * 1024;

// Where a signed request goes.
struct Target {
    bool https = false;
    std::string host;  // to resolve, and to check the certificate against: no brackets
    std::string port;
};

// What the store answered.
struct Answer {
    unsigned status = 0;
    std::string body;
    std::string content_length;
    std::string content_range;
};

// One request, and how far it got.
struct Exchange {
    Target target;
    http::request<http::empty_body> request;
    std::size_t body_limit = 0;
    std::chrono::milliseconds timeout{};
    std::string step = "resolve the host";
    std::string detail;  // what OpenSSL said of the certificate
    Answer answer;
};

bool is_https(const std::string& endpoint) {
    std::string scheme = endpoint.substr(0, 8);
    for (auto& c : scheme) c = char(std::tolower(static_cast<unsigned char>(c)));
    return scheme == "https://";
}

Target target_of(const Bucket& bucket, const Signed& s) {
    Target t;
    t.https = is_https(bucket.endpoint);
    std::string_view authority = s.host, port;
    if (authority.starts_with('[')) {  // an IPv6 literal
        const auto close = authority.find(']');
        t.host = std::string(authority.substr(1, close - 1));
        if (authority.substr(close + 1).starts_with(':')) port = authority.substr(close + 2);
    } else {
        const auto colon = authority.rfind(':');
        t.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    t.port = port.empty() ? (t.https ? "443" : "80") : std::string(port);
    return t;
}

std::string text(beast::string_view v) { return std::string(v.data(), v.size()); }

template <class Stream>
asio::awaitable<void> talk(Stream& stream, Exchange& x) {
    auto& socket = beast::get_lowest_layer(stream);
    x.step = "send the request";
    socket.expires_after(x.timeout);
    co_await http::async_write(stream, x.request, asio::use_awaitable);
    x.step = "read the answer";
    socket.expires_after(x.timeout);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(x.body_limit);
    parser.skip(x.request.method() == http::verb::head);  // a Content-Length, but no body
    co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
    auto& res = parser.get();
    x.answer.status = res.result_int();
    x.answer.body = std::move(res.body());
    x.answer.content_length = text(res[http::field::content_length]);
    x.answer.content_range = text(res[http::field::content_range]);
}

asio::awaitable<void> run(asio::io_context& io, Exchange& x, ssl::context* tls) {
    tcp::resolver resolver(io);
    auto endpoints = co_await resolver.async_resolve(x.target.host, x.target.port, asio::use_awaitable);
    if (!tls) {
        beast::tcp_stream stream(io);
        x.step = "connect";
        stream.expires_after(x.timeout);
        co_await stream.async_connect(endpoints, asio::use_awaitable);
        co_await talk(stream, x);
        co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(io, *tls);
    SSL* ssl = stream.native_handle();
    boost::system::error_code ec;
    asio::ip::make_address(x.target.host, ec);
    const bool by_name = bool(ec);
    // SNI only for a name (RFC 6066); OpenSSL checks the certificate against the name or the address.
    if (by_name && (!SSL_set_tlsext_host_name(ssl, x.target.host.c_str()) || !SSL_set1_host(ssl, x.target.host.c_str())))
        throw std::runtime_error("cannot set the TLS host name " + x.target.host);
    if (!by_name && !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), x.target.host.c_str()))
        throw std::runtime_error("cannot set the TLS address " + x.target.host);
    x.step = "connect";
    beast::get_lowest_layer(stream).expires_after(x.timeout);
    co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
    x.step = "make the TLS handshake";
    beast::get_lowest_layer(stream).expires_after(x.timeout);
    try {
        co_await stream.async_handshake(ssl::stream_base::client, asio::use_awaitable);
    } catch (const boost::system::system_error&) {
        if (auto v = SSL_get_verify_result(ssl); v != X509_V_OK) x.detail = X509_verify_cert_error_string(v);
        throw;
    }
    co_await talk(stream, x);
    // No TLS close_notify: the answer is complete, and the store may not answer one.
}

std::string describe(const boost::system::error_code& ec, const Exchange& x) {
    if (ec == beast::error::timeout) return "timed out after " + std::to_string(x.timeout.count()) + " ms";
    if (ec == http::error::body_limit) return "the answer is longer than asked for (does the store ignore Range?)";
    return ec.message() + (x.detail.empty() ? "" : " (" + x.detail + ")");
}

// Sends a signed request and reads the whole answer; throws saying what failed.
Answer exchange(const Bucket& bucket, const Signed& s, const std::string& method, ssl::context* tls,
                std::chrono::milliseconds timeout, std::size_t body_limit) {
    Exchange x;
    x.target = target_of(bucket, s);
    x.body_limit = body_limit;
    x.timeout = timeout;
    x.request.method(http::string_to_verb(method));
    x.request.target(s.target);
    x.request.version(11);
    x.request.set(http::field::host, s.host);
    for (const auto& h : s.headers) x.request.set(h.name, h.value);
    x.request.set(http::field::user_agent, "natterd");
    // A private io_context: the caller is a blocking thread, and the timers need one.
    asio::io_context io;
    std::exception_ptr failed;
    asio::co_spawn(io, run(io, x, tls), [&](std::exception_ptr e) { failed = e; });
    io.run();
    if (!failed) return std::move(x.answer);
    const std::string what = "S3 " + method + " " + s.url + ": could not " + x.step + ": ";
    try {
        std::rethrow_exception(failed);
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error(what + describe(e.code(), x));
    } catch (const std::exception& e) {
        throw std::runtime_error(what + e.what());
    }
}

// The text of the first <tag> of an S3 error document.
std::string xml_text(const std::string& body, const std::string& tag) {
    const auto open = body.find("<" + tag + ">");
    if (open == std::string::npos) return "";
    const auto start = open + tag.size() + 2;
    const auto close = body.find("</" + tag + ">", start);
    return close == std::string::npos ? "" : body.substr(start, close - start);
}

std::string failure(const std::string& method, const Signed& s, const Answer& a) {
    std::string out = "S3 " + method + " " + s.url + ": " + std::to_string(a.status) + " " +
                      text(http::obsolete_reason(http::int_to_status(a.status)));
    const auto code = xml_text(a.body, "Code"), message = xml_text(a.body, "Message");
    if (!code.empty()) out += " (" + code + (message.empty() ? "" : ": " + message) + ")";
    return out;
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::int64_t system_now_s() {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

S3Blobs::S3Blobs(S3BlobsConfig config) : config_(std::move(config)) {
    if (auto why = check_bucket(config_.bucket); !why.empty()) throw std::invalid_argument(why);
    // Signing anything checks the credentials.
    auto probe = presign(config_.bucket, config_.credentials, Request{"GET", "k", {}, {}}, 0, 1);
    if (!probe) throw std::invalid_argument(probe.error().message);
    if (!config_.now_s) config_.now_s = system_now_s;
    if (!is_https(config_.bucket.endpoint)) return;
    tls_ = std::make_unique<Tls>();
    tls_->ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                          ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    tls_->ctx.set_verify_mode(ssl::verify_peer);
    try {
        if (config_.ca_file.empty()) tls_->ctx.set_default_verify_paths();
        else tls_->ctx.load_verify_file(config_.ca_file);
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("cannot load the CA certificates " +
                                 (config_.ca_file.empty() ? std::string("of the system") : config_.ca_file) + ": " +
                                 e.code().message());
    }
}

S3Blobs::~S3Blobs() = default;

PresignedRequest S3Blobs::presign_upload(const std::string& key, const std::string& mime, std::uint64_t size,
                                         std::int64_t now_ms, std::int64_t ttl_s) {
    Request r{"PUT", key, {}, {{"content-type", mime}, {"content-length", std::to_string(size)}}};
    if (config_.no_overwrite) r.headers.push_back({"if-none-match", "*"});
    auto s = presign(config_.bucket, config_.credentials, r, now_ms / 1000, ttl_s);
    if (!s) throw std::invalid_argument(s.error().message);
    // What the client must send besides the body; Content-Length follows from the body (see the header).
    PresignedRequest out{"PUT", s->url, {{"Content-Type", mime}}, s->expires_at_s * 1000};
    if (config_.no_overwrite) out.headers.emplace_back("If-None-Match", "*");
    return out;
}

PresignedRequest S3Blobs::presign_download(const std::string& key, const std::string& mime, std::int64_t now_ms,
                                           std::int64_t ttl_s) {
    Request r{"GET", key, {{"response-content-type", mime}}, {}};
    auto s = presign(config_.bucket, config_.credentials, r, now_ms / 1000, ttl_s);
    if (!s) throw std::invalid_argument(s.error().message);
    return PresignedRequest{"GET", s->url, {}, s->expires_at_s * 1000};
}

Signed S3Blobs::sign(const std::string& method, const std::string& key, std::vector<Header> headers) const {
    auto s = sign_headers(config_.bucket, config_.credentials, Request{method, key, {}, std::move(headers)},
                          config_.now_s());
    if (!s) throw std::invalid_argument(s.error().message);
    return std::move(*s);
}

std::optional<bool> S3Blobs::bucket_exists() {
    auto req = sign("HEAD", "", {});
    auto a = exchange(config_.bucket, req, "HEAD", tls_ ? &tls_->ctx : nullptr, config_.timeout, 0);
    if (a.status == 200) return true;
    if (a.status == 404) return false;
    return std::nullopt;
}

std::optional<BlobInfo> S3Blobs::stat(const std::string& key, std::size_t head_bytes) {
    auto* tls = tls_ ? &tls_->ctx : nullptr;
    auto head_req = sign("HEAD", key, {});
    auto head = exchange(config_.bucket, head_req, "HEAD", tls, config_.timeout, 0);
    if (head.status == 404) {
        // A HEAD has no error document: ask the bucket whether it is the object that is missing.
        if (bucket_exists() == false)
            throw std::runtime_error("S3 bucket \"" + config_.bucket.name + "\" does not exist at " +
                                     config_.bucket.endpoint);
        return std::nullopt;
    }
    if (head.status != 200) throw std::runtime_error(failure("HEAD", head_req, head));
    auto size = to_u64(head.content_length);
    if (!size) throw std::runtime_error("S3 HEAD " + head_req.url + ": the answer has no Content-Length");
    BlobInfo info{*size, ""};
    if (head_bytes == 0 || *size == 0) return info;
    const auto n = std::min<std::uint64_t>(head_bytes, *size);
    auto get_req = sign("GET", key, {{"range", "bytes=0-" + std::to_string(n - 1)}});
    auto got = exchange(config_.bucket, get_req, "GET", tls, config_.timeout, n + kErrorBodyBytes);
    if (got.status == 404) return std::nullopt;  // deleted since the HEAD
    if (got.status != 206 && got.status != 200) throw std::runtime_error(failure("GET", get_req, got));
    // The size now (after the '/' of Content-Range, or all of a 200 that ignored
    // the range) must be the HEAD's: size and bytes are of one object.
    const auto slash = got.content_range.rfind('/');
    const auto now_size = got.status == 200 ? std::optional<std::uint64_t>(got.body.size())
                          : slash == std::string::npos ? std::nullopt
                                                       : to_u64(std::string_view(got.content_range).substr(slash + 1));
    if (now_size != size)
        throw std::runtime_error("S3 GET " + get_req.url + ": the object changed while it was read; retry");
    info.head = got.body.substr(0, n);
    return info;
}

bool S3Blobs::remove(const std::string& key) {
    auto req = sign("DELETE", key, {});
    auto a = exchange(config_.bucket, req, "DELETE", tls_ ? &tls_->ctx : nullptr, config_.timeout, kErrorBodyBytes);
    if (a.status == 204 || a.status == 200) return true;
    if (a.status == 404 && xml_text(a.body, "Code") == "NoSuchKey") return false;
    throw std::runtime_error(failure("DELETE", req, a));
}

std::string S3Blobs::check_reachable() {
    try {
        auto req = sign("HEAD", "", {});
        auto a = exchange(config_.bucket, req, "HEAD", tls_ ? &tls_->ctx : nullptr, config_.timeout, 0);
        if (a.status == 200) return "";
        if (a.status == 404)
            return "S3 bucket \"" + config_.bucket.name + "\" does not exist at " + config_.bucket.endpoint;
        // A HEAD has no error document: the status is all there is to go on.
        if (a.status == 403) return failure("HEAD", req, a) + ": check the access key, the secret and its rights";
        if (a.status == 301 || a.status == 400)
            return failure("HEAD", req, a) + ": check the region and the endpoint (the bucket's own region's)";
        return failure("HEAD", req, a);
    } catch (const std::exception& e) {
        return e.what();
    }
}

}  // namespace natter::s3
