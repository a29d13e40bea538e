#include "inbox.hpp"

#include <cstdio>

namespace natter::cli {

AckBatcher::AckBatcher(EventLoop& loop, std::function<void(const nlohmann::json&)> send)
    : loop_(loop), send_(std::move(send)) {}

AckBatcher::~AckBatcher() { loop_.cancel(timer_); }

void AckBatcher::add(const std::string& message_id) {
    ids_.push_back(message_id);
    if (ids_.size() >= kBatch) return flush();
    loop_.cancel(timer_);
    timer_ = loop_.after(kIdle, [this] {
        timer_ = 0;
        flush();
    });
}

void AckBatcher::flush() {
    loop_.cancel(timer_);
    timer_ = 0;
    if (ids_.empty()) return;
    send_({{"type", "ack"}, {"message_ids", ids_}});
    ids_.clear();
}

void AckBatcher::forget() {
    loop_.cancel(timer_);
    timer_ = 0;
    ids_.clear();
}

bool RecentIds::insert(const std::string& id) {
    if (!ids_.insert(id).second) return false;
    order_.push_back(id);
    if (order_.size() > capacity_) {
        ids_.erase(order_.front());
        order_.pop_front();
    }
    return true;
}

void warn_if_truncated(const nlohmann::json& sync_done) {
    auto it = sync_done.find("truncated");
    if (it == sync_done.end() || !it->is_boolean() || !it->get<bool>()) return;
    std::fprintf(stderr,
                 "natter: some messages waited in this device's inbox past the server's retention and were "
                 "dropped; `natter history` shows what history still keeps\n");
}

}  // namespace natter::cli
