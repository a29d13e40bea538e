#pragma once
// What the sessions layer needs from a socket; the transport implements it.
#include <functional>
#include <memory>
#include <string>

namespace natter {

// Close codes of the protocol.
namespace close_code {
constexpr int policy = 1008;          // bad frame sequence, rate abuse
constexpr int too_big = 1009;         // frame over the limit
constexpr int internal = 1011;        // the server failed; reconnect
constexpr int restarting = 1012;      // server restarting: reconnect elsewhere
constexpr int revoked = 4001;         // credentials revoked: log in again
constexpr int replaced = 4002;        // a newer connection of this device took over
constexpr int too_slow = 4008;        // outbound queue overflow: reconnect and sync
}  // namespace close_code

class Connection {
public:
    virtual ~Connection() = default;
    // Queues a text frame. A queue over its byte budget closes with 4008.
    virtual void send(std::shared_ptr<const std::string> frame) = 0;
    // Sends a close frame after what is already being written, then closes.
    virtual void close(int code, std::string reason) = 0;
    // Runs fn on this connection's strand, where its session's state lives.
    virtual void post(std::function<void()> fn) = 0;
};

}  // namespace natter
