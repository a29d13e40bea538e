#pragma once
// A real HTTP and WebSocket client for tests, on Beast. Every wait has a
// deadline; nothing sleeps.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <utility>
#include <vector>
#include <string>

#include <nlohmann/json.hpp>

namespace natter::test {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr auto kDeadline = 10s;

// Polls `condition` (a request whose answer tells: an HTTP read, a connect)
// until it holds or the deadline passes. No sleeping: each try is a round trip.
inline bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds deadline = kDeadline) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (!condition())
        if (std::chrono::steady_clock::now() > until) return false;
    return true;
}

struct HttpResult {
    int status = 0;
    json body;  // null when empty or not JSON
    std::string raw;
    std::map<std::string, std::string> headers;
};

// Any request: raw body, headers as given.
HttpResult http_raw(std::uint16_t port, const std::string& method, const std::string& target, const std::string& body = "",
                    const std::vector<std::pair<std::string, std::string>>& headers = {});

// One request on a fresh connection.
HttpResult http(std::uint16_t port, const std::string& method, const std::string& target, const json& body = nullptr,
                const std::string& token = "");

// The outcome of a WebSocket handshake that was refused.
struct Refused {
    int status = 0;
};

class WsClient {
public:
    // Connects to /v1/ws?{query}; `token` goes in Authorization: Bearer.
    // `rcvbuf`: a small kernel receive buffer, to play a slow reader.
    static std::unique_ptr<WsClient> connect(std::uint16_t port, const std::string& query, const std::string& token,
                                             Refused* refused = nullptr, int rcvbuf = 0);
    ~WsClient();

    void send(const json& frame);
    void send_text(const std::string& text);
    void send_binary(const std::string& bytes);
    void send_ping();  // a WebSocket ping (a control frame, not a protocol `ping`)
    // The next frame, or nullopt when the deadline passes or the socket
    // closed. Skips receipt, presence and typing frames unless keep_notices.
    std::optional<json> recv(std::chrono::milliseconds deadline = kDeadline);
    // The next frame of `type`, failing the test on an error frame or timeout.
    // For a receipt, presence or typing type: the next such frame of that
    // type, skipping the other two kinds.
    json expect(const std::string& type, std::chrono::milliseconds deadline = kDeadline);
    // Whether recv returns receipt, presence and typing frames (default: no).
    void keep_notices(bool keep);
    // Reads until the server closes; the close code, or -1 on timeout.
    int wait_close(std::chrono::milliseconds deadline = kDeadline);
    bool closed() const;
    int close_code() const;
    void close();  // a normal close from our side

    struct Impl;

private:
    explicit WsClient(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

std::string new_uuid();

}  // namespace natter::test
