// One WebSocket text frame from a signed-in device, as natterd's socket hands
// it on: DeviceSession::on_text parses the JSON, decodes the request and runs
// it through the chat service on a real SQLite store. The input is the
// frame's text (the seeds: PROTOCOL.md's client frames, naming the world's
// users and group).
//
// Besides the sanitizers, what the device sees must hold: every frame the
// server sends is a JSON object with a string `type`, and a close carries a
// protocol close code and a reason that fits a close frame (123 bytes).
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_world.hpp"
#include "sessions/device_session.hpp"
#include "sessions/session_registry.hpp"

namespace natter::fuzz {
namespace {

// The socket: frames are checked as they are queued; strand work waits in a
// queue the fuzzer drains between inputs (store threads post to it).
class CheckedConnection final : public Connection {
public:
    void send(std::shared_ptr<const std::string> frame) override {
        auto j = nlohmann::json::parse(*frame, nullptr, false);
        if (j.is_discarded() || !j.is_object()) fail("server frame is not a JSON object: " + *frame);
        auto type = j.find("type");
        if (type == j.end() || !type->is_string()) fail("server frame without a string type: " + *frame);
    }
    void close(int code, std::string reason) override {
        bool known = code == close_code::policy || code == close_code::too_big || code == close_code::internal ||
                     code == close_code::restarting || code == close_code::revoked || code == close_code::replaced ||
                     code == close_code::too_slow;
        if (!known) fail("close with an unknown code " + std::to_string(code));
        if (reason.size() > 123) fail("close reason over 123 bytes: " + reason);
    }
    void post(std::function<void()> fn) override {
        std::lock_guard lock(mu_);
        queue_.push_back(std::move(fn));
    }
    // Runs the strand work queued so far (and what it queues in turn).
    void drain() {
        for (;;) {
            std::function<void()> fn;
            {
                std::lock_guard lock(mu_);
                if (queue_.empty()) return;
                fn = std::move(queue_.front());
                queue_.pop_front();
            }
            fn();
        }
    }

private:
    std::mutex mu_;
    std::deque<std::function<void()>> queue_;
};

struct Socket {
    Socket() {
        World& w = world();
        session = std::make_shared<DeviceSession>(w.alice, conn, *w.messaging, registry, w.limits, w.clock,
                                                  w.presence.get());
        conn->post([s = session] { s->start(); });
        conn->drain();
    }
    SessionRegistry registry{world().bus};
    std::shared_ptr<CheckedConnection> conn = std::make_shared<CheckedConnection>();
    std::shared_ptr<DeviceSession> session;
};

Socket& socket() {
    static Socket* s = new Socket();
    return *s;
}

}  // namespace
}  // namespace natter::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace natter::fuzz;
    Socket& s = socket();
    // Larger frames never reach the session: the socket closes with 1009.
    if (size > world().limits.max_frame_bytes) return -1;
    std::string text(reinterpret_cast<const char*>(data), size);
    s.conn->post([&s, text] { s.session->on_text(text); });
    s.conn->drain();
    return 0;
}
