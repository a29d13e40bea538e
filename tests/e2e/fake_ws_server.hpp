#pragma once
// A scripted WebSocket server, for what natterd cannot be made to do on
// cue: drop a connection right after a frame arrived, close with 4008, push
// the same message twice. Connection i runs scripts[i] on the server's
// thread; connections past the scripts get 503. Reads wait at most
// kFakeWait; nothing sleeps.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace natter::e2e {

class FakeConnection {
public:
    virtual ~FakeConnection() = default;
    // The next text frame as JSON; nullopt when the client closed or kFakeWait passed.
    virtual std::optional<nlohmann::json> read() = 0;
    virtual void send(const nlohmann::json& frame) = 0;
    virtual void close(int code, const std::string& reason) = 0;  // a close frame, then waits for the client's
    virtual void drop() = 0;                                       // TCP gone, no close frame
    virtual const std::string& authorization() const = 0;         // the handshake's header
};

class FakeWsServer {
public:
    using Script = std::function<void(FakeConnection&)>;
    explicit FakeWsServer(std::vector<Script> scripts);
    ~FakeWsServer();  // stops accepting; joins
    std::string url() const;
    // Scripts finished without an exception, or the exceptions' messages.
    std::vector<std::string> failures();

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace natter::e2e
