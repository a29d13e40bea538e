#include "bench/http_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace natter::bench {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

HttpAnswer http_request(const std::string& host, std::uint16_t port, const std::string& method,
                        const std::string& path, const std::string& bearer, const std::string& body,
                        std::chrono::milliseconds timeout) {
    HttpAnswer out;
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    beast::flat_buffer buf;
    http::request<http::string_body> req{http::string_to_verb(method), path, 11};
    http::response<http::string_body> res;
    req.set(http::field::host, host + ":" + std::to_string(port));
    req.set(http::field::content_type, "application/json");
    if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
    req.keep_alive(false);
    req.body() = body;
    req.prepare_payload();

    boost::system::error_code addr_ec;
    auto address = net::ip::make_address(host, addr_ec);
    if (addr_ec) {
        out.error = "bad address " + host + ": " + addr_ec.message();
        return out;
    }
    // One deadline for the whole exchange: tcp_stream's timer is re-armed by
    // each operation, so arm it with what is left.
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto arm = [&] { stream.expires_at(deadline); };
    auto fail = [&](const char* what, beast::error_code ec) {
        out.error = std::string(what) + ": " +
                    (ec == beast::error::timeout ? "no answer within " + std::to_string(timeout.count()) + " ms" : ec.message());
    };
    arm();
    stream.async_connect(tcp::endpoint(address, port), [&](beast::error_code ec) {
        if (ec) return fail("connect", ec);
        arm();
        http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
            if (ec) return fail("write", ec);
            arm();
            http::async_read(stream, buf, res, [&](beast::error_code ec, std::size_t) {
                if (ec) return fail("read", ec);
                out.status = static_cast<int>(res.result_int());
                out.body = std::move(res.body());
                beast::error_code ignored;
                stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
            });
        });
    });
    ioc.run();
    return out;
}

}  // namespace natter::bench
