#pragma once
// natter-bench --reconnect's policy (PROTOCOL.md §7): which ended sockets
// are opened again, and the backoff between attempts. No Beast: unit tests
// include it.

#include <chrono>
#include <cstdint>

namespace natter::bench {

// A socket that ended with a close frame is reconnected unless its code
// says not to come back as is: 4001 (credentials revoked: sign in again),
// 4002 (replaced by a newer connection of the device: "stay closed"), any
// other 4xxx but 4008 (too slow: reconnect), and the codes that mean the
// client sent something wrong (1002, 1003, 1007, 1009, 1010). 0 (no close
// frame: end of stream, reset, idle timeout) and 1000, 1001, 1006, 1008
// (frame budget), 1011 (inbox unavailable), 1012 (server restarting),
// 1013, 1014 are reconnected.
inline bool reconnect_after_close(std::uint16_t code) {
    if (code == 4008) return true;
    if (code >= 4000 && code <= 4999) return false;
    switch (code) {
        case 1002: case 1003: case 1007: case 1009: case 1010: return false;
        default: return true;
    }
}

// A handshake that failed is tried again unless natterd refused the request
// itself: 400, 401 (credential), 403 (user parameter), 404. 0 (no HTTP
// answer: refused, reset, timeout), 502/503/504 (a proxy with no backend, a
// node full or draining) and the rest are retried.
inline bool reconnect_after_handshake(int http_status) {
    return !(http_status == 400 || http_status == 401 || http_status == 403 || http_status == 404);
}

// Exponential backoff with jitter: base, 2·base, 4·base… capped at `cap`,
// each delay drawn uniformly from [d/2, d] with the caller's random number.
class Backoff {
public:
    explicit Backoff(std::chrono::milliseconds base = std::chrono::milliseconds(50),
                     std::chrono::milliseconds cap = std::chrono::milliseconds(2000))
        : base_(base), cap_(cap) {}

    std::chrono::milliseconds next(std::uint64_t random) {
        auto d = base_;
        for (unsigned i = 0; i < step_ && d < cap_; ++i) d *= 2;
        if (d >= cap_) d = cap_;
        else ++step_;
        auto half = d.count() / 2;
        auto span = static_cast<std::uint64_t>(d.count() - half + 1);
        return std::chrono::milliseconds(half + static_cast<long long>(random % span));
    }
    void reset() { step_ = 0; }

private:
    std::chrono::milliseconds base_, cap_;
    unsigned step_ = 0;
};

}  // namespace natter::bench
