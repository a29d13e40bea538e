#include "http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cctype>

#include "errors.hpp"

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

HttpResponse http_request(const ServerUrl& server, const HttpRequest& request) {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    auto req = build(server, request);
    beast::error_code failure;

    // Async with one deadline on the stream, so a silent server cannot hang us.
    auto fail = [&](beast::error_code ec) { failure = ec; };
    resolver.async_resolve(server.host, server.port, [&](beast::error_code ec, tcp::resolver::results_type hosts) {
        if (ec) return fail(ec);
        stream.expires_after(kHttpTimeout);
        stream.async_connect(hosts, [&](beast::error_code ec, const tcp::endpoint&) {
            if (ec) return fail(ec);
            http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
                if (ec) return fail(ec);
                http::async_read(stream, buffer, res, [&](beast::error_code ec, std::size_t) {
                    if (ec) fail(ec);
                });
            });
        });
    });
    ioc.run();
    if (failure) {
        auto why = failure == beast::error::timeout ? "no answer within 30 s" : describe_network_error(failure.message());
        throw CliError(kExitNetwork, "cannot reach " + server.url + ": " + why);
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    return HttpResponse{int(res.result_int()), std::move(res.body())};
}

}  // namespace natter::cli
