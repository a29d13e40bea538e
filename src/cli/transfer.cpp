#include "transfer.hpp"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <optional>

#include "errors.hpp"
#include "tls_client.hpp"

namespace natter::cli {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(30);     // no progress for this long: give up
constexpr auto kEarlyAnswerWait = std::chrono::seconds(5);  // after a failed write, for the store's reason
constexpr std::size_t kAnswerLimit = 64 * 1024;
constexpr std::size_t kChunk = 64 * 1024;

CliError bad_url(const std::string& url, const std::string& why) {
    return CliError(kExitRefused, "unexpected transfer URL from the server (" + why + "): " + url.substr(0, 200));
}

bool all_digits(const std::string& s) {
    return !s.empty() && s.size() <= 5 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

template <class Stream>
beast::tcp_stream& tcp_of(Stream& s) {
    return beast::get_lowest_layer(s);
}

// Resolves, connects (and for https: handshakes, the certificate checked
// against the system's CAs and the host name), then runs `exchange` on the stream.
template <class Result, class Exchange>
Result with_stream(const BlobUrl& url, Exchange exchange) {
    Result result{};
    std::exception_ptr failure;
    int caught = 0;
    {
        net::io_context ioc;
        net::signal_set signals(ioc, SIGINT, SIGTERM);
        signals.async_wait([&](const boost::system::error_code& ec, int sig) {
            if (ec) return;
            caught = sig;
            ioc.stop();  // the transfer is abandoned where it is
        });
        net::co_spawn(
            ioc,
            [&]() -> net::awaitable<void> {
                auto ex = co_await net::this_coro::executor;
                tcp::resolver resolver(ex);
                auto hosts = co_await resolver.async_resolve(url.host, url.port, net::use_awaitable);
                if (!url.tls) {
                    beast::tcp_stream stream(ex);
                    stream.expires_after(kIdleTimeout);
                    co_await stream.async_connect(hosts, net::use_awaitable);
                    result = co_await exchange(stream);
                    beast::error_code ignored;
                    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
                    co_return;
                }
                auto ctx = client_tls_context(url.ca_file);
                beast::ssl_stream<beast::tcp_stream> stream(ex, ctx);
                // The certificate must name the host or address.
                if (!expect_host(stream, url.host))
                    throw CliError(kExitNetwork, "cannot reach " + url.origin + ": bad host name for TLS");
                tcp_of(stream).expires_after(kIdleTimeout);
                co_await tcp_of(stream).async_connect(hosts, net::use_awaitable);
                co_await stream.async_handshake(ssl::stream_base::client, net::use_awaitable);
                result = co_await exchange(stream);
                // No TLS close_notify wait: the answer is in, the connection is done.
            },
            [&](std::exception_ptr e) {
                failure = e;
                signals.cancel();
            });
        ioc.run();
    }  // a transfer stopped by a signal is torn down here, its sockets closed
    if (caught) throw Interrupted(caught);
    if (failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const boost::system::system_error& e) {
            auto ec = e.code();
            auto why = ec == beast::error::timeout ? "no progress within 30 s" : describe_tls_error(ec);
            throw CliError(kExitNetwork, "cannot reach " + url.origin + ": " + why);
        }
    }
    return result;
}

template <class Parser>
HttpResponse answer_of(Parser& p) {
    return HttpResponse{int(p.get().result_int()), p.get().body()};
}

}  // namespace

BlobUrl resolve_blob_url(const ServerUrl& server, const std::string& url) {
    BlobUrl out;
    out.ca_file = server.ca_file;
    if (url.rfind("/", 0) == 0) {
        if (url.rfind("//", 0) == 0) throw bad_url(url, "no scheme");
        out.tls = server.tls;
        out.host = server.host;
        out.port = server.port;
        out.host_header = server.host_header;
        out.target = url;
        out.origin = server.url;
        return out;
    }
    std::string rest;
    if (url.rfind("https://", 0) == 0) {
        out.tls = true;
        rest = url.substr(8);
    } else if (url.rfind("http://", 0) == 0) {
        rest = url.substr(7);
    } else {
        throw bad_url(url, "neither http(s):// nor a path");
    }
    auto end = rest.find_first_of("/?#");
    std::string authority = rest.substr(0, end);
    out.target = end == std::string::npos ? "/" : rest.substr(end);
    if (auto hash = out.target.find('#'); hash != std::string::npos) out.target.erase(hash);
    if (out.target.empty() || out.target[0] != '/') out.target.insert(0, "/");
    if (authority.empty() || authority.find('@') != std::string::npos) throw bad_url(url, "bad host");
    std::string port;
    if (authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string::npos) throw bad_url(url, "unclosed [");
        out.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') throw bad_url(url, "bad port");
            port = authority.substr(close + 2);
        }
    } else {
        auto colon = authority.find(':');
        out.host = authority.substr(0, colon);
        if (colon != std::string::npos) port = authority.substr(colon + 1);
    }
    if (out.host.empty()) throw bad_url(url, "no host");
    if (!port.empty() && !all_digits(port)) throw bad_url(url, "bad port");
    out.port = port.empty() ? (out.tls ? "443" : "80") : port;
    out.host_header = authority;
    out.origin = (out.tls ? "https://" : "http://") + authority;
    return out;
}

HttpResponse upload_file(const BlobUrl& url, const std::string& method, const Headers& headers, int fd,
                         std::uint64_t size, const OnProgress& progress) {
    return with_stream<HttpResponse>(url, [&](auto& stream) -> net::awaitable<HttpResponse> {
        http::request<http::file_body> req{http::string_to_verb(method), url.target, 11};
        if (req.method() == http::verb::unknown) throw CliError(kExitRefused, "unexpected upload method " + method);
        req.set(http::field::host, url.host_header);
        req.set(http::field::user_agent, "natter-cli");
        for (const auto& [name, value] : headers) req.set(name, value);
        // The body reads a duplicate of the descriptor, from the start.
        beast::error_code ec;
        int copy = ::dup(fd);
        if (copy < 0 || ::lseek(copy, 0, SEEK_SET) != 0) {
            if (copy >= 0) ::close(copy);
            throw CliError(kExitRefused, "cannot read the file to upload");
        }
        beast::file file;
        file.native_handle(copy);
        req.body().reset(std::move(file), ec);
        if (ec || req.body().size() != size)
            throw CliError(kExitRefused, "the file changed while it was being sent: try again");
        req.content_length(size);

        http::request_serializer<http::file_body> sr{req};
        tcp_of(stream).expires_after(kIdleTimeout);
        co_await http::async_write_header(stream, sr, net::use_awaitable);
        std::uint64_t sent = 0;
        beast::error_code write_error;
        while (!sr.is_done()) {
            tcp_of(stream).expires_after(kIdleTimeout);
            auto n = co_await http::async_write_some(stream, sr, net::redirect_error(net::use_awaitable, write_error));
            if (write_error) break;
            sent += n;
            if (progress) progress(std::min(sent, size));
        }
        // The answer; after a failed write too, as a store may refuse early
        // (a bad signature, a wrong length) and close without reading the rest.
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(kAnswerLimit);
        tcp_of(stream).expires_after(write_error ? kEarlyAnswerWait : kIdleTimeout);
        beast::error_code read_error;
        co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, read_error));
        if (read_error && !(read_error == http::error::body_limit && parser.is_header_done())) {
            throw boost::system::system_error(write_error ? write_error : read_error);
        }
        co_return answer_of(parser);
    });
}

HttpResponse download_to(const BlobUrl& url, std::uint64_t max_bytes,
                         const std::function<void(const char*, std::size_t)>& sink, const OnProgress& progress) {
    return with_stream<HttpResponse>(url, [&](auto& stream) -> net::awaitable<HttpResponse> {
        http::request<http::empty_body> req{http::verb::get, url.target, 11};
        req.set(http::field::host, url.host_header);
        req.set(http::field::user_agent, "natter-cli");
        tcp_of(stream).expires_after(kIdleTimeout);
        co_await http::async_write(stream, req, net::use_awaitable);

        beast::flat_buffer buffer;
        http::response_parser<http::buffer_body> parser;
        parser.body_limit(boost::none);  // counted below
        co_await http::async_read_header(stream, buffer, parser, net::use_awaitable);
        HttpResponse answer{int(parser.get().result_int()), ""};
        bool ok = answer.status == 200;
        if (ok && parser.content_length() && *parser.content_length() > max_bytes)
            throw CliError(kExitRefused, "the store sends " + std::to_string(*parser.content_length()) +
                                             " bytes, more than the " + std::to_string(max_bytes) + " announced");
        std::vector<char> chunk(kChunk);
        std::uint64_t received = 0;
        while (!parser.is_done()) {
            parser.get().body().data = chunk.data();
            parser.get().body().size = chunk.size();
            tcp_of(stream).expires_after(kIdleTimeout);
            beast::error_code ec;
            co_await http::async_read_some(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
            if (ec == http::error::need_buffer) ec = {};
            if (ec) throw boost::system::system_error(ec);
            auto n = chunk.size() - parser.get().body().size;
            if (n == 0) continue;
            if (!ok) {
                answer.body.append(chunk.data(), std::min(n, kAnswerLimit - std::min(kAnswerLimit, answer.body.size())));
                continue;
            }
            received += n;
            if (received > max_bytes)
                throw CliError(kExitRefused, "the store sends more than the " + std::to_string(max_bytes) + " bytes announced");
            sink(chunk.data(), n);
            if (progress) progress(received);
        }
        co_return answer;
    });
}

}  // namespace natter::cli
