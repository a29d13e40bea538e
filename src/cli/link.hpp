#pragma once
// The signed-in device's WebSocket: a fresh access token fetched on the
// loop's background thread (refreshed when it is about to expire), one
// refresh-and-retry after a 401 at the handshake, and every way the
// connection can end sorted into "reconnect" or "give up with exit code N".
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api.hpp"
#include "event_loop.hpp"
#include "ws_client.hpp"

namespace natter::cli {

struct LinkDown {
    bool retryable = false;  // reconnecting may help (drops, 1011, 1012, 4008, unreachable)
    int exit_code = 0;       // when giving up; 0 after our own close()
    std::string message;     // for the user, without "natter: "
    bool had_opened = false; // the WebSocket had opened before it went
};

class Link {
public:
    struct Handlers {
        std::function<void()> on_open;
        std::function<void(const json& frame, const std::string& raw)> on_frame;
        std::function<void(const LinkDown& down)> on_down;  // once per connect()
    };

    // `api` is only used on the loop's background thread while connected.
    Link(EventLoop& loop, Api& api, Handlers handlers);
    ~Link();
    Link(const Link&) = delete;
    Link& operator=(const Link&) = delete;

    // Starts connecting, unless active(). on_down ends every connect().
    void connect();
    // Between connect() and its on_down.
    bool active() const { return active_; }
    bool is_open() const { return open_; }
    void send(const json& frame);  // dropped unless open
    // When active(): a normal close; on_down with exit_code 0 follows.
    void close();

private:
    void open_with(const std::string& token, bool retried);
    void on_end(const WsEnd& end, const std::string& token, bool retried);
    void down(LinkDown d);

    EventLoop& loop_;
    Api& api_;
    Handlers h_;
    ServerUrl server_;
    std::string target_;
    std::shared_ptr<WsConnection> ws_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    bool active_ = false;
    bool open_ = false;
    bool closing_ = false;
    bool had_opened_ = false;
};

// Reconnect delays: 0.25 s doubling to 15 s, with jitter.
class Backoff {
public:
    std::chrono::milliseconds next();
    void reset() { attempt_ = 0; }

private:
    int attempt_ = 0;
};

// The reconnect policy of the long-running commands (listen, chat): once
// the link has been up, a retryable close reconnects after a backoff;
// anything else ends the command, with the close's exit code.
class Reconnector {
public:
    Reconnector(EventLoop& loop, Link& link) : loop_(loop), link_(link) {}
    // The link is up; true the first time.
    bool opened();
    // The link went down: nullopt when a reconnect is scheduled, else the
    // exit code to end with (the reason is already on stderr).
    std::optional<int> down(const LinkDown& d);
    // No more reconnects: closes the link and stops the loop once it is
    // closed (3 s at most).
    void close_then_stop();

private:
    EventLoop& loop_;
    Link& link_;
    Backoff backoff_;
    bool ever_opened_ = false;
    bool stopping_ = false;
};

// LinkDown for an exception thrown by Api (CliError or other).
LinkDown down_from(std::exception_ptr failure);

}  // namespace natter::cli
