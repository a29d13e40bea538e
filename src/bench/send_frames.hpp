#pragma once
// What the generator's scenarios share and keep out of Beast: `send` frames
// built by hand on the hot path, with client_msg_ids unique per run, and
// the clock arithmetic of their reports.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>

namespace natter::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

class SendFrames {
public:
    SendFrames() {
        std::random_device rd;
        std::uint64_t r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
        char p[32];
        std::snprintf(p, sizeof p, "%08x-%04x-%04x-", static_cast<unsigned>(r >> 32),
                      static_cast<unsigned>((r >> 16) & 0xffff), static_cast<unsigned>(r & 0xffff));
        uuid_prefix_ = p;
        run_tag_ = uuid_prefix_.substr(0, 8);
    }

    // 8 hex digits naming this run, for bodies a scenario wants to recognise.
    const std::string& run_tag() const { return run_tag_; }

    // Send number `n` of this run to a user; `body` is put in as is (no JSON escaping).
    std::string frame(std::uint64_t n, std::string_view to_user, std::string_view body) const {
        return build(n, R"(","to":{"user":")", to_user, body);
    }

    // Send number `n` of this run to a group (`to: {"group": id}`).
    std::string group_frame(std::uint64_t n, std::string_view group_id, std::string_view body) const {
        return build(n, R"(","to":{"group":")", group_id, body);
    }

private:
    std::string build(std::uint64_t n, std::string_view to_prefix, std::string_view to_id, std::string_view body) const {
        char tail[24];
        std::snprintf(tail, sizeof tail, "%04x-%012llx", static_cast<unsigned>((n >> 48) & 0xffff),
                      static_cast<unsigned long long>(n & 0xffffffffffffULL));
        std::string f;
        f.reserve(160 + body.size());
        f += R"({"type":"send","id":")";
        f += std::to_string(n);
        f += R"(","client_msg_id":")";
        f += uuid_prefix_;
        f += tail;
        f += to_prefix;
        f += to_id;
        f += R"("},"body":")";
        f += body;
        f += R"("})";
        return f;
    }

    std::string uuid_prefix_, run_tag_;
};

}  // namespace natter::bench
