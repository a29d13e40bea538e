#include "url_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cctype>
#include <stdexcept>

namespace natter::s3test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Call {
    std::string host, port;
    http::request<http::string_body> request;
    std::chrono::milliseconds deadline{};
    UrlResponse response;
};

asio::awaitable<void> run(asio::io_context& io, Call& c) {
    tcp::resolver resolver(io);
    auto endpoints = co_await resolver.async_resolve(c.host, c.port, asio::use_awaitable);
    beast::tcp_stream stream(io);
    stream.expires_after(c.deadline);  // one deadline for the whole exchange
    co_await stream.async_connect(endpoints, asio::use_awaitable);
    co_await http::async_write(stream, c.request, asio::use_awaitable);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    parser.skip(c.request.method() == http::verb::head);
    co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
    auto& res = parser.get();
    c.response.status = res.result_int();
    c.response.body = std::move(res.body());
    for (const auto& f : res) {
        std::string name(f.name_string().data(), f.name_string().size());
        for (auto& ch : name) ch = char(std::tolower(static_cast<unsigned char>(ch)));
        c.response.headers[name] = std::string(f.value().data(), f.value().size());
    }
}

}  // namespace

UrlResponse fetch(const std::string& method, const std::string& url, const std::string& body,
                  const std::vector<std::pair<std::string, std::string>>& headers,
                  std::chrono::milliseconds deadline) {
    const std::string scheme = "http://";
    if (url.rfind(scheme, 0) != 0) throw std::invalid_argument("fetch takes http:// URLs, not " + url);
    const auto slash = url.find('/', scheme.size());
    const std::string authority = url.substr(scheme.size(), slash - scheme.size());
    Call c;
    const auto colon = authority.rfind(':');
    c.host = authority.substr(0, colon);
    c.port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
    c.deadline = deadline;
    c.request.method_string(method);
    c.request.target(slash == std::string::npos ? "/" : url.substr(slash));
    c.request.version(11);
    c.request.set(http::field::host, authority);
    for (const auto& [name, value] : headers) c.request.set(name, value);
    c.request.body() = body;
    c.request.prepare_payload();
    asio::io_context io;
    std::exception_ptr failed;
    asio::co_spawn(io, run(io, c), [&](std::exception_ptr e) { failed = e; });
    io.run();
    if (failed) {
        try {
            std::rethrow_exception(failed);
        } catch (const std::exception& e) {
            c.response.status = 0;
            c.response.error = e.what();
        }
    }
    return std::move(c.response);
}

}  // namespace natter::s3test
