#pragma once
// A WebSocket to natterd on an EventLoop, without Beast in the header.
// Every handler runs on the loop.
#include <functional>
#include <memory>
#include <string>

#include "event_loop.hpp"
#include "server_url.hpp"

namespace natter::cli {

// How a connection ended.
struct WsEnd {
    enum class Kind {
        unreachable,  // no TCP connection or no handshake answer: `detail` says why
        refused,      // the handshake got an HTTP answer other than 101
        closed,       // a close frame: `close_code`, `detail` = its reason
        dropped,      // the connection broke after it opened: `detail` says why
    };
    Kind kind = Kind::unreachable;
    int http_status = 0;  // refused
    std::string body;     // refused: the answer's body
    int close_code = 0;   // closed
    std::string detail;
};

struct WsHandlers {
    std::function<void()> on_open;
    std::function<void(const std::string& text)> on_text;
    std::function<void(const WsEnd& end)> on_end;  // once; not after abort()
};

class WsConnection {
public:
    // Connects to `target` (e.g. "/v1/ws?user=1") with Authorization: Bearer.
    static std::shared_ptr<WsConnection> open(EventLoop& loop, const ServerUrl& server, const std::string& target,
                                              const std::string& bearer, WsHandlers handlers);
    virtual ~WsConnection() = default;
    // Queued in order, one write in flight; dropped once the connection ended.
    virtual void send(std::string text) = 0;
    // A normal close (1000) once the queued frames are written; on_end follows.
    virtual void close() = 0;
    // Drops the connection now; no handler runs after this.
    virtual void abort() = 0;
};

}  // namespace natter::cli
