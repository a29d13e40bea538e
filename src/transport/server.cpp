#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include "obs/log.hpp"

#include <array>
#include <filesystem>
#include <optional>
#include <thread>
#include <vector>

#include "ports/blobs.hpp"
#include "transport/beast_session.hpp"
#include "transport/static_files.hpp"

namespace natter {

using namespace transport;

namespace {

// A blob transfer may go slowly, but not stall: this long without a byte.
constexpr auto kBlobIdle = std::chrono::seconds(60);
// A download is one write: it may take this long in all (16 MiB at ~30 KB/s).
constexpr auto kBlobTimeout = std::chrono::minutes(10);
// After an early answer, what the client still sends is read and dropped,
// up to this much, so it sees the answer instead of a reset.
constexpr std::size_t kDrainBytes = 1 << 20;
constexpr std::string_view kBlobPrefix = "/v1/blobs/";

// The client's address, for the per-address limits.
std::optional<IpBytes> remote_ip(const tcp::socket& socket) {
    beast::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    if (ec) return std::nullopt;
    auto a = ep.address();
    return a.is_v4() ? ipv4_bytes(a.to_v4().to_bytes()) : ipv6_bytes(a.to_v6().to_bytes());
}

http::response<http::string_body> to_beast(const HttpResponse& r, unsigned version, bool keep_alive) {
    http::response<http::string_body> res{http::status(r.status), version};
    res.set(http::field::server, "natterd");
    if (!r.body.empty()) res.set(http::field::content_type, r.content_type);
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(keep_alive);
    res.body() = r.body;
    res.prepare_payload();
    return res;
}

// One HTTP connection: reads requests, runs them on the blocking pool, writes
// the answers; hands WebSocket upgrades to a WsSession once authenticated.
// Stream is PlainStream or TlsStream: with TLS the handshake comes first.
template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
    static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

public:
    HttpSession(Stream&& stream, Shared& shared, AddressSlot slot)
        : stream_(std::move(stream)), shared_(shared), slot_(std::move(slot)) {}

    void run() {
        net::dispatch(stream_.get_executor(), beast::bind_front_handler(&HttpSession::start, this->shared_from_this()));
    }

private:
    using std::enable_shared_from_this<HttpSession<Stream>>::shared_from_this;

    beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }

    void start() {
        if constexpr (kTls) {
            // A client that never finishes its handshake is dropped like a silent HTTP one.
            tcp().expires_after(shared_.tls_handshake_timeout);
            stream_.async_handshake(ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
                // Plain HTTP on the TLS port, a silent or refusing client:
                // nothing to answer it in, so the socket just closes.
                if (ec) return;
                self->do_read();
            });
        } else {
            do_read();
        }
    }

    void do_read() {
        parser_.emplace();
        parser_->header_limit(16 * 1024);
        // No limit while the header is read (Beast would refuse a large
        // Content-Length at once); set per request once the target is known.
        parser_->body_limit(boost::none);
        // One deadline for the whole request, header and body, however
        // slowly its bytes come (a new connection's first one included).
        tcp().expires_after(http_timeout());
        // The header first: a blob transfer streams its body to or from a
        // file instead of memory.
        http::async_read_header(stream_, buffer_, *parser_,
                                beast::bind_front_handler(&HttpSession::on_header, shared_from_this()));
    }

    void on_header(beast::error_code ec, std::size_t) {
        if (ec == http::error::header_limit)
            return reply(HttpResponse{431, error_response(err(Code::too_large, "request header is over 16 KiB")).body}, 11, false);
        if (ec) return shutdown();
        const auto& req = parser_->get();
        auto target = std::string_view(req.target().data(), req.target().size());
        if (shared_.deps.blobs && target.substr(0, kBlobPrefix.size()) == kBlobPrefix && !websocket::is_upgrade(req))
            return blob(target);
        if (auto file = web_file(req, target)) return serve_file(*file, req.version(), req.keep_alive(), req.method() == http::verb::head);
        if (websocket::is_upgrade(req) && (req.chunked() || (req.has_content_length() && req[http::field::content_length] != "0")))
            return reply(error_response(err(Code::invalid, "a WebSocket upgrade request has no body")), req.version(), false);
        auto max = shared_.deps.limits.max_http_body_bytes;
        if (auto length = parser_->content_length(); length && *length > max)
            return reply(error_response(err(Code::too_large, "request body is over " + std::to_string(max) + " bytes")),
                         req.version(), false);
        parser_->body_limit(max);  // a chunked body is counted as it comes
        http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
    }

    // The web client: a GET (or HEAD) of anything but the API and the
    // operations endpoints, when a file answers it.
    std::optional<StaticFile> web_file(const http::request<http::string_body>& req, std::string_view target) {
        if (!shared_.deps.web || !shared_.deps.web->enabled() || websocket::is_upgrade(req)) return std::nullopt;
        if (req.method() != http::verb::get && req.method() != http::verb::head) return std::nullopt;
        // A body on a GET would be left unread on the connection.
        if (req.chunked() || (req.has_content_length() && req[http::field::content_length] != "0")) return std::nullopt;
        auto path = target.substr(0, target.find('?'));
        if (path.rfind("/v1/", 0) == 0 || path == "/v1" || path == "/healthz" || path == "/readyz" || path == "/metrics")
            return std::nullopt;
        return shared_.deps.web->resolve(path);
    }

    void serve_file(const StaticFile& file, unsigned version, bool keep_alive, bool head_only) {
        shared_.http_requests.fetch_add(1, std::memory_order_relaxed);
        http::response<http::file_body> res{http::status::ok, version};
        beast::error_code ec;
        res.body().open(file.path.c_str(), beast::file_mode::scan, ec);
        if (ec) return reply(error_response(err(Code::not_found, "no such file")), version, keep_alive);
        res.set(http::field::server, "natterd");
        res.set(http::field::content_type, file.content_type);
        res.set(http::field::cache_control, file.cache_control);
        for (const auto& [k, v] : StaticFiles::security_headers()) res.set(k, v);
        res.keep_alive(keep_alive);
        res.prepare_payload();
        if (head_only) {
            http::response<http::empty_body> head{res.base()};
            head.content_length(res.body().size());
            auto shared_head = std::make_shared<http::response<http::empty_body>>(std::move(head));
            tcp().expires_after(http_timeout());
            return http::async_write(stream_, *shared_head, [self = shared_from_this(), shared_head](beast::error_code ec, std::size_t) {
                if (ec || !shared_head->keep_alive()) return self->shutdown();
                self->do_read();
            });
        }
        auto shared_res = std::make_shared<http::response<http::file_body>>(std::move(res));
        tcp().expires_after(kBlobTimeout);
        http::async_write(stream_, *shared_res, [self = shared_from_this(), shared_res](beast::error_code ec, std::size_t) {
            if (ec || !shared_res->keep_alive()) return self->shutdown();
            self->do_read();
        });
    }

    // /v1/blobs/<key>?<signature>: natterd as the local blob store.
    void blob(std::string_view target) {
        shared_.http_requests.fetch_add(1, std::memory_order_relaxed);
        const auto& req = parser_->get();
        auto q = target.find('?');
        std::string path(target.substr(0, q)), query(q == std::string_view::npos ? "" : target.substr(q + 1));
        auto grant = shared_.deps.blobs->authorize(std::string(req.method_string()), path, query, shared_.deps.clock.now_ms());
        unsigned version = req.version();
        // A refused request's body is not read: answer and close.
        if (!grant) return reply(error_response(grant.error()), version, false);
        // A GET with a body would leave it unread on the connection: close after.
        bool has_body = req.chunked() || (req.has_content_length() && req[http::field::content_length] != "0");
        if (!grant->upload) return download(*grant, version, req.keep_alive() && !has_body);
        auto length = req.find(http::field::content_length);
        if (length == req.end() || length->value() != std::to_string(grant->size))
            return reply(error_response(err(Code::invalid, "Content-Length must be " + std::to_string(grant->size) +
                                                               ", the size the upload was signed for")),
                         version, false);
        if (req[http::field::content_type] != grant->mime)
            return reply(error_response(err(Code::invalid, "Content-Type must be " + grant->mime + ", the type the upload was signed for")),
                         version, false);
        upload_temp_ = shared_.deps.blobs->temp_path();
        upload_grant_ = std::move(*grant);
        file_parser_.emplace(std::move(*parser_));
        parser_.reset();
        file_parser_->body_limit(upload_grant_.size);
        beast::error_code ec;
        file_parser_->get().body().open(upload_temp_.c_str(), beast::file_mode::write, ec);
        if (ec) {
            log_event(LogLevel::error, "blob.open_failed", {{"path", upload_temp_}, {"error", ec.message()}});
            return reply(error_response(err(Code::unavailable, "cannot store uploads now; retry")), version, false);
        }
        read_upload();
    }

    // Piece by piece, so the timeout is for a stall, not the whole upload.
    void read_upload() {
        tcp().expires_after(kBlobIdle);
        http::async_read_some(stream_, buffer_, *file_parser_, [self = shared_from_this()](beast::error_code ec, std::size_t n) {
            if (!ec && !self->file_parser_->is_done()) return self->read_upload();
            self->on_upload(ec, n);
        });
    }

    void on_upload(beast::error_code ec, std::size_t) {
        unsigned version = file_parser_->get().version();
        bool keep_alive = file_parser_->get().keep_alive();
        file_parser_->get().body().close();
        file_parser_.reset();
        if (ec) {
            std::error_code ignored;
            std::filesystem::remove(upload_temp_, ignored);
            if (ec == http::error::body_limit)
                return reply(error_response(err(Code::too_large, "the upload is over the signed size")), version, false);
            log_event(LogLevel::info, "blob.upload_failed", {{"key", upload_grant_.key}, {"error", ec.message()}});
            return shutdown();  // cut off or timed out: nothing was stored
        }
        // The rename is a metadata operation: fine on this thread.
        auto done = shared_.deps.blobs->commit_upload(upload_grant_, upload_temp_);
        if (!done) return reply(error_response(done.error()), version, keep_alive);
        reply(HttpResponse{200, ""}, version, keep_alive);
    }

    void download(const BlobGrant& grant, unsigned version, bool keep_alive) {
        http::response<http::file_body> res{http::status::ok, version};
        beast::error_code ec;
        res.body().open(grant.path.c_str(), beast::file_mode::scan, ec);
        if (ec) return reply(error_response(err(Code::not_found, "no such blob (not uploaded, or deleted)")), version, keep_alive);
        res.set(http::field::server, "natterd");
        res.set(http::field::content_type, grant.mime.empty() ? "application/octet-stream" : grant.mime);
        res.set(http::field::cache_control, "private, max-age=300");
        res.set("X-Content-Type-Options", "nosniff");
        res.keep_alive(keep_alive);
        res.prepare_payload();
        auto shared_res = std::make_shared<http::response<http::file_body>>(std::move(res));
        tcp().expires_after(kBlobTimeout);
        // The request had no body to read (a GET): the next one may follow.
        http::async_write(stream_, *shared_res, [self = shared_from_this(), shared_res](beast::error_code ec, std::size_t) {
            if (ec || !shared_res->keep_alive()) return self->shutdown();
            self->do_read();
        });
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::body_limit) {
            return reply(error_response(err(Code::too_large, "request body is over " +
                                                                 std::to_string(shared_.deps.limits.max_http_body_bytes) + " bytes")),
                         11, false);
        }
        if (ec) return shutdown();
        auto req = parser_->release();
        shared_.http_requests.fetch_add(1, std::memory_order_relaxed);
        if (shared_.pending.load() >= shared_.deps.limits.max_pending_requests)
            return reply(error_response(err(Code::unavailable, "server is busy; retry")), req.version(), false);
        if (websocket::is_upgrade(req)) return upgrade(std::move(req));
        HttpRequest r;
        r.method = std::string(req.method_string());
        auto target = std::string_view(req.target().data(), req.target().size());
        auto q = target.find('?');
        r.path = std::string(target.substr(0, q));
        if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
        r.authorization = std::string(req[http::field::authorization]);
        r.client = client_key(remote_ip(tcp().socket()), req["X-Forwarded-For"], shared_.addresses);
        r.body = std::move(req.body());
        unsigned version = req.version();
        bool keep_alive = req.keep_alive();
        shared_.pending++;
        shared_.deps.blocking([self = shared_from_this(), r = std::move(r), version, keep_alive] {
            self->shared_.pending--;
            HttpResponse res;
            try {
                res = self->shared_.deps.api.handle(r);
            } catch (const std::exception& e) {
                log_event(LogLevel::error, "http.failed", {{"method", r.method}, {"path", r.path}, {"error", e.what()}});
                res = error_response(err(Code::unavailable, "internal error; retry"));
            }
            net::post(self->stream_.get_executor(), [self, res = std::move(res), version, keep_alive] {
                self->reply(res, version, keep_alive);
            });
        });
    }

    void upgrade(http::request<http::string_body> req) {
        auto target = std::string_view(req.target().data(), req.target().size());
        auto q = target.find('?');
        if (target.substr(0, q) != "/v1/ws")
            return reply(error_response(err(Code::not_found, "no such endpoint")), req.version(), false);
        if (!origin_allowed(req[http::field::origin], req[http::field::host], shared_.allowed_origins))
            return reply(error_response(err(Code::forbidden, "this page's origin may not open a socket here "
                                                              "(server.allowed_origins)")),
                         req.version(), false);
        // Handshakes in flight count too, or a burst of them would overshoot the limit.
        if (shared_.websockets.load() + shared_.upgrading.fetch_add(1) >= shared_.deps.limits.max_connections) {
            shared_.upgrading--;
            return reply(error_response(err(Code::unavailable, "server is full; retry later")), req.version(), false);
        }
        auto query = parse_query(q == std::string_view::npos ? "" : std::string(target.substr(q + 1)));
        auto req_ptr = std::make_shared<http::request<http::string_body>>(std::move(req));
        shared_.pending++;
        shared_.deps.blocking([self = shared_from_this(), query = std::move(query), req_ptr] {
            self->shared_.pending--;
            auto& accounts = self->shared_.deps.accounts;
            Result<Principal> who = err(Code::unauthorized, "a Bearer token or a ticket is required");
            auto bearer = bearer_token(std::string((*req_ptr)[http::field::authorization]));
            auto ticket = query.find("ticket");
            try {
                if (!bearer.empty()) who = accounts.authenticate(bearer);
                else if (ticket != query.end()) who = accounts.authenticate_ticket(ticket->second);
                if (who) accounts.seen(*who);
            } catch (const std::exception& e) {
                who = err(Code::unavailable, "internal error; retry");
            }
            if (who) {
                auto user = query.find("user");
                if (user == query.end() || parse_id(user->second) != who->user)
                    who = err(Code::forbidden, "the user parameter does not match the credential");
            }
            net::post(self->stream_.get_executor(), [self, who = std::move(who), req_ptr]() mutable {
                self->shared_.upgrading--;
                if (!who) return self->reply(error_response(who.error()), req_ptr->version(), false);
                self->tcp().expires_never();
                auto ws = std::make_shared<WsSession<Stream>>(std::move(self->stream_), self->shared_, *who);
                ws->keep(std::move(self->slot_));
                ws->accept(std::move(*req_ptr));
            });
        });
    }

    void reply(const HttpResponse& r, unsigned version, bool keep_alive) {
        auto res = std::make_shared<http::response<http::string_body>>(to_beast(r, version, keep_alive));
        tcp().expires_after(http_timeout());
        http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
            if (ec || !res->keep_alive()) return self->shutdown();
            self->do_read();
        });
    }

    void shutdown() {
        // For the whole close, not each read: a trickle does not keep it open.
        auto bound = std::min<std::chrono::milliseconds>(std::chrono::seconds(5), http_timeout());
        if constexpr (kTls) {
            // close_notify, then the peer's, within a bound; the socket closes with this session.
            tcp().expires_after(bound);
            stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
        } else {
            beast::error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
            drain_left_ = kDrainBytes;
            tcp().expires_after(bound);
            drain();
        }
    }

    void drain() {
        if (drain_left_ == 0) return;  // enough: the socket closes with this session
        stream_.async_read_some(net::buffer(drain_buf_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
            if (ec) return;
            self->drain_left_ -= std::min(n, self->drain_left_);
            self->drain();
        });
    }

    std::chrono::milliseconds http_timeout() const { return std::chrono::milliseconds(shared_.deps.limits.http_timeout_ms); }

    Stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::optional<http::request_parser<http::file_body>> file_parser_;  // an upload in progress
    BlobGrant upload_grant_;
    std::string upload_temp_;
    std::array<char, 8192> drain_buf_;
    std::size_t drain_left_ = 0;
    Shared& shared_;
    AddressSlot slot_;  // moves to the WebSocket on an upgrade
};

// Over the per-address limit: an answer for a client that has sent
// nothing yet, then closed at once; nothing is read. (In plain HTTP even on
// a TLS port: a client over the limit gets no handshake.)
void refuse(tcp::socket& socket) {
    static const std::string answer = [] {
        auto body = error_response(err(Code::rate_limited, "too many connections from this address")).body;
        return "HTTP/1.1 429 Too Many Requests\r\nServer: natterd\r\nContent-Type: application/json\r\n"
               "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    }();
    beast::error_code ignored;
    socket.non_blocking(true, ignored);  // a new socket's send buffer takes it; never wait
    socket.write_some(net::buffer(answer), ignored);
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}

// TLS 1.2 and later with OpenSSL's ciphers for them, the server's order
// preferred, no renegotiation (a client could make the server redo the
// expensive part at will), no compression. Throws with what to fix.
ssl::context make_tls_context(const std::string& cert_file, const std::string& key_file) {
    ssl::context ctx(ssl::context::tls_server);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    SSL_CTX_set_options(ctx.native_handle(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    try {
        ctx.use_certificate_chain_file(cert_file);
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("tls.cert_file " + cert_file + ": " + e.code().message() +
                                 " (a PEM certificate, then its chain)");
    }
    try {
        ctx.use_private_key_file(key_file, ssl::context::pem);
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("tls.key_file " + key_file + ": " + e.code().message() +
                                 " (the PEM private key of tls.cert_file)");
    }
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1)
        throw std::runtime_error("tls.key_file " + key_file + " is not the key of tls.cert_file " + cert_file);
    return ctx;
}

}  // namespace

struct Server::Impl {
    Impl(ServerConfig c, ServerDeps d)
        : config(std::move(c)), shared(std::move(d), config.addresses), ioc(int(config.io_threads)), acceptor(net::make_strand(ioc)) {
        shared.allowed_origins = config.allowed_origins;
        shared.tls_handshake_timeout = config.tls_handshake_timeout;
        if (!config.tls_cert_file.empty()) tls.emplace(make_tls_context(config.tls_cert_file, config.tls_key_file));
    }

    void accept() {
        acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
            if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
            if (!ec) {
                auto slot = shared.per_address.admit(remote_ip(socket));
                if (!slot) {
                    refuse(socket);
                    return accept();
                }
                // Chat frames are small and latency-bound: do not let Nagle hold them back.
                beast::error_code ignored;
                socket.set_option(tcp::no_delay(true), ignored);
                if (tls)
                    std::make_shared<HttpSession<TlsStream>>(TlsStream(std::move(socket), *tls), shared, std::move(*slot))->run();
                else
                    std::make_shared<HttpSession<PlainStream>>(PlainStream(std::move(socket)), shared, std::move(*slot))->run();
                return accept();
            }
            // Out of file descriptors, most likely: keep serving the open
            // sockets and try again shortly instead of spinning.
            log_event(LogLevel::warn, "accept.failed", {{"error", ec.message()}});
            backoff.expires_after(std::chrono::milliseconds(100));
            backoff.async_wait([this](beast::error_code e) {
                if (!e) accept();
            });
        });
    }

    ServerConfig config;
    Shared shared;
    std::optional<ssl::context> tls;  // set: every connection is HTTPS/WSS
    net::io_context ioc;
    tcp::acceptor acceptor;
    net::steady_timer backoff{acceptor.get_executor()};
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
    std::vector<std::thread> threads;
};

Server::Server(ServerConfig config, ServerDeps deps) : impl_(std::make_unique<Impl>(std::move(config), std::move(deps))) {}

Server::~Server() { stop(); }

std::uint16_t Server::start() {
    auto& i = *impl_;
    auto where = i.config.host + ":" + std::to_string(i.config.port);
    try {
        tcp::resolver resolver(i.ioc);
        auto results = resolver.resolve(i.config.host, std::to_string(i.config.port), tcp::resolver::passive);
        auto ep = results.begin()->endpoint();
        i.acceptor.open(ep.protocol());
        i.acceptor.set_option(net::socket_base::reuse_address(true));
        i.acceptor.bind(ep);
        i.acceptor.listen(net::socket_base::max_listen_connections);
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("cannot listen on " + where + ": " + e.code().message() +
                                 " (pick another address or port with --listen HOST:PORT)");
    }
    i.work.emplace(i.ioc.get_executor());
    i.accept();
    for (std::size_t t = 0; t < std::max<std::size_t>(1, i.config.io_threads); ++t)
        i.threads.emplace_back([&i] { i.ioc.run(); });
    return i.acceptor.local_endpoint().port();
}

void Server::stop(int close_code) {
    auto& i = *impl_;
    if (i.threads.empty()) return;
    // On the acceptor's strand: the accept handler may be re-arming it.
    net::post(i.acceptor.get_executor(), [&i] {
        beast::error_code ignored;
        i.acceptor.close(ignored);
        i.backoff.cancel();
    });
    i.shared.deps.registry.close_all(close_code, "server restarting: reconnect");
    {
        // Give the close frames a moment to reach well-behaved clients.
        std::unique_lock lock(i.shared.gone_mu);
        i.shared.gone.wait_for(lock, i.config.close_grace, [&] { return i.shared.websockets.load() == 0; });
    }
    i.work.reset();
    i.ioc.stop();
    for (auto& t : i.threads) t.join();
    i.threads.clear();
}

std::size_t Server::connections() const { return impl_->shared.websockets.load(); }

Server::Stats Server::stats() const {
    const auto& s = impl_->shared;
    return Stats{s.frames_in.load(), s.frames_out.load(), s.http_requests.load(), s.per_address.refused()};
}

}  // namespace natter
