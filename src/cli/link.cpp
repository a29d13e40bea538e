#include "link.hpp"

#include <algorithm>
#include <cstdio>
#include <random>

#include "errors.hpp"

namespace natter::cli {

LinkDown down_from(std::exception_ptr failure) {
    try {
        std::rethrow_exception(failure);
    } catch (const CliError& e) {
        return LinkDown{e.exit_code() == kExitNetwork, e.exit_code(), e.what()};
    } catch (const std::exception& e) {
        return LinkDown{false, kExitRefused, e.what()};
    }
}

std::chrono::milliseconds Backoff::next() {
    static thread_local std::mt19937 rng{std::random_device{}()};
    auto base = std::min<long>(15000, 250L << std::min(attempt_, 6));
    ++attempt_;
    return std::chrono::milliseconds(base / 2 + std::uniform_int_distribution<long>(0, base / 2)(rng));
}

bool Reconnector::opened() {
    backoff_.reset();
    bool first = !ever_opened_;
    ever_opened_ = true;
    return first;
}

std::optional<int> Reconnector::down(const LinkDown& d) {
    if (d.retryable && ever_opened_ && !stopping_) {
        auto delay = backoff_.next();
        std::fprintf(stderr, "natter: %s; reconnecting in %.1f s\n", d.message.c_str(), delay.count() / 1000.0);
        loop_.after(delay, [this] {
            if (!stopping_) link_.connect();
        });
        return std::nullopt;
    }
    std::fprintf(stderr, "natter: %s\n", d.message.c_str());
    return d.exit_code;
}

void Reconnector::close_then_stop() {
    stopping_ = true;
    if (!link_.active()) return loop_.stop();
    link_.close();
    loop_.after(std::chrono::seconds(3), [this] { loop_.stop(); });
}

Link::Link(EventLoop& loop, Api& api, Handlers handlers)
    : loop_(loop),
      api_(api),
      h_(std::move(handlers)),
      server_(api.server()),
      target_("/v1/ws?user=" + api.creds().user_id) {}

Link::~Link() {
    *alive_ = false;
    if (ws_) ws_->abort();
}

void Link::connect() {
    if (active_) return;
    active_ = true;
    closing_ = false;
    had_opened_ = false;
    auto token = std::make_shared<std::string>();
    std::weak_ptr<bool> alive = alive_;
    loop_.offload([this, token] { *token = api_.access_token(); },
                  [this, token, alive](std::exception_ptr failure) {
                      if (alive.expired() || !active_) return;
                      if (failure) return down(down_from(failure));
                      open_with(*token, false);
                  });
}

void Link::open_with(const std::string& token, bool retried) {
    WsHandlers h;
    h.on_open = [this] {
        open_ = had_opened_ = true;
        if (h_.on_open) h_.on_open();
    };
    h.on_text = [this](const std::string& raw) {
        auto frame = json::parse(raw, nullptr, false);
        if (frame.is_object() && h_.on_frame) h_.on_frame(frame, raw);
    };
    h.on_end = [this, token, retried](const WsEnd& end) { on_end(end, token, retried); };
    ws_ = WsConnection::open(loop_, server_, target_, token, std::move(h));
}

void Link::send(const json& frame) {
    // Invalid UTF-8 (a pasted binary line) becomes U+FFFD instead of an exception.
    if (ws_ && open_) ws_->send(frame.dump(-1, ' ', false, json::error_handler_t::replace));
}

void Link::close() {
    if (!active_ || closing_) return;
    closing_ = true;
    if (open_) return ws_->close();  // on_end follows the close handshake
    // Connecting (or fetching a token): stop, and report it from the loop.
    if (ws_) ws_->abort();
    std::weak_ptr<bool> alive = alive_;
    loop_.post([this, alive] {
        if (!alive.expired()) down(LinkDown{});
    });
}

void Link::on_end(const WsEnd& end, const std::string& token, bool retried) {
    open_ = false;
    using Kind = WsEnd::Kind;
    const std::string& url = server_.url;
    if (closing_) return down(LinkDown{});
    if (end.kind == Kind::refused && end.http_status == 401 && !retried) {
        // A token the server does not take (revoked key, clock skew): refresh once.
        auto fresh = std::make_shared<std::string>();
        std::weak_ptr<bool> alive = alive_;
        loop_.offload(
            [this, token, fresh] {
                api_.refresh_after_rejection(token);
                *fresh = api_.access_token();
            },
            [this, fresh, alive](std::exception_ptr failure) {
                if (alive.expired() || !active_) return;
                if (failure) return down(down_from(failure));
                open_with(*fresh, true);
            });
        return;
    }
    if (end.kind == Kind::refused) {
        auto text = server_error_text(HttpResponse{end.http_status, end.body});
        if (end.http_status == 401) return down({false, kExitAuth, text + "; run `natter login` again"});
        return down({end.http_status == 503 || end.http_status == 429, kExitRefused, text});
    }
    if (end.kind == Kind::unreachable) return down({true, kExitNetwork, "cannot reach " + url + ": " + end.detail});
    if (end.kind == Kind::dropped) return down({true, kExitNetwork, "lost the connection to " + url + ": " + end.detail});

    auto said = "the server closed the connection (" + std::to_string(end.close_code) +
                (end.detail.empty() ? "" : " " + end.detail) + ")";
    switch (end.close_code) {
        case 4001: return down({false, kExitAuth, said + "; run `natter login` again"});
        case 4002:
            return down({false, kExitRefused,
                         said + ": another natter is connected as this device (same --profile); "
                                "use a separate --profile, which is a separate device"});
        case 1000: case 1001: case 1006: case 1011: case 1012: case 4008:
            return down({true, kExitNetwork, said});
        default: return down({false, kExitRefused, said});
    }
}

void Link::down(LinkDown d) {
    if (!active_) return;
    active_ = false;
    open_ = false;
    ws_.reset();
    d.had_opened = had_opened_;
    if (h_.on_down) h_.on_down(d);
}

}  // namespace natter::cli
