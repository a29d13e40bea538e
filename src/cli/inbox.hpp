#pragma once
// What a receiving command (listen, chat) does with pushed messages besides
// showing them: ack in batches, and drop the duplicates a reconnect brings.
#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "event_loop.hpp"

namespace natter::cli {

// One `ack` frame per batch: at 64 ids, or 100 ms after the last one added.
class AckBatcher {
public:
    static constexpr std::size_t kBatch = 64;
    static constexpr auto kIdle = std::chrono::milliseconds(100);

    AckBatcher(EventLoop& loop, std::function<void(const nlohmann::json&)> send);
    ~AckBatcher();
    void add(const std::string& message_id);
    void flush();
    // The connection went: unsent acks are dropped (the server pushes those again).
    void forget();
    std::size_t pending() const { return ids_.size(); }

private:
    EventLoop& loop_;
    std::function<void(const nlohmann::json&)> send_;
    std::vector<std::string> ids_;
    EventLoop::TimerId timer_ = 0;
};

// The last N message ids shown, to drop what a reconnect pushes again.
class RecentIds {
public:
    explicit RecentIds(std::size_t capacity = 4096) : capacity_(capacity) {}
    // False when `id` was seen already.
    bool insert(const std::string& id);

private:
    std::size_t capacity_;
    std::deque<std::string> order_;
    std::unordered_set<std::string> ids_;
};

// Says so on stderr when a `sync_done` reports inbox rows dropped by retention.
void warn_if_truncated(const nlohmann::json& sync_done);

}  // namespace natter::cli
