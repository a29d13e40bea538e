#include "http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <cctype>
#include <type_traits>

#include "errors.hpp"
#include "tls_client.hpp"

namespace natter::cli {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string describe_network_error(const std::string& system_message) {
    std::string out = system_message;
    if (!out.empty()) out[0] = char(std::tolower(static_cast<unsigned char>(out[0])));
    return out;
}

namespace {

http::request<http::string_body> build(const ServerUrl& server, const HttpRequest& r) {
    http::request<http::string_body> req{http::string_to_verb(r.method), r.target, 11};
    req.set(http::field::host, server.host_header);
    req.set(http::field::user_agent, "natter-cli");
    req.set(http::field::accept, "application/json");
    if (!r.bearer.empty()) req.set(http::field::authorization, "Bearer " + r.bearer);
    if (!r.body.empty()) {
        req.set(http::field::content_type, "application/json");
        req.body() = r.body;
    }
    req.prepare_payload();
    return req;
}

}  // namespace

namespace {

// Resolves, connects (for TLS: handshakes), writes `req` and reads the
// answer into `res`, all under one deadline on the stream, so a silent
// server cannot hang us. The first failure, or none.
template <class Stream>
beast::error_code exchange(net::io_context& ioc, Stream& stream, const ServerUrl& server,
                           http::request<http::string_body>& req, http::response<http::string_body>& res) {
    tcp::resolver resolver(ioc);
    beast::flat_buffer buffer;
    beast::error_code failure;
    auto fail = [&](beast::error_code ec) { failure = ec; };
    auto write_read = [&] {
        http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
            if (ec) return fail(ec);
            http::async_read(stream, buffer, res, [&](beast::error_code ec, std::size_t) {
                if (ec) fail(ec);
            });
        });
    };
    resolver.async_resolve(server.host, server.port, [&](beast::error_code ec, tcp::resolver::results_type hosts) {
        if (ec) return fail(ec);
        auto& tcp_layer = beast::get_lowest_layer(stream);
        tcp_layer.expires_after(kHttpTimeout);
        tcp_layer.async_connect(hosts, [&](beast::error_code ec, const tcp::endpoint&) {
            if (ec) return fail(ec);
            if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
                write_read();
            } else {
                stream.async_handshake(net::ssl::stream_base::client, [&](beast::error_code ec) {
                    if (ec) return fail(ec);
                    write_read();
                });
            }
        });
    });
    ioc.run();
    return failure;
}

}  // namespace

HttpResponse http_request(const ServerUrl& server, const HttpRequest& request) {
    net::io_context ioc;
    http::response<http::string_body> res;
    auto req = build(server, request);
    beast::error_code failure;
    if (server.tls) {
        auto ctx = client_tls_context(server.ca_file);
        beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
        if (!expect_host(stream, server.host)) throw CliError(kExitNetwork, "cannot reach " + server.url + ": bad host name for TLS");
        failure = exchange(ioc, stream, server, req, res);
        // No close_notify exchange: the answer is in, the connection is done.
    } else {
        beast::tcp_stream stream(ioc);
        failure = exchange(ioc, stream, server, req, res);
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
    if (failure) {
        auto why = failure == beast::error::timeout ? "no answer within 30 s" : describe_tls_error(failure);
        throw CliError(kExitNetwork, "cannot reach " + server.url + ": " + why);
    }
    return HttpResponse{int(res.result_int()), std::move(res.body())};
}

}  // namespace natter::cli
