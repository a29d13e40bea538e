#pragma once
// Names on the event loop, for the long-running commands (chat, listen):
// usernames looked up on the loop's background thread, and lines held back
// until the names they show are known, then shown in the order they came.
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "describe.hpp"
#include "event_loop.hpp"
#include "users.hpp"

namespace natter::cli {

class Names {
public:
    Names(EventLoop& loop, Api& api) : loop_(loop), cache_(api) {}
    Names(const Names&) = delete;
    Names& operator=(const Names&) = delete;

    // Called on the loop whenever a looked-up name arrives.
    void on_learned(std::function<void()> fn) { on_learned_ = std::move(fn); }
    void put(const std::string& user_id, const std::string& name) { names_[user_id] = name; }
    // True when every id's name is known; otherwise looks the missing ones up.
    bool ready(const std::vector<std::string>& user_ids);
    // The name, or the id itself while (or when) it is unknown.
    std::string operator()(const std::string& user_id) const;
    NameOf fn() const {
        return [this](const std::string& id) { return (*this)(id); };
    }

private:
    void look_up(const std::string& user_id);

    EventLoop& loop_;
    NameCache cache_;  // on the background thread only
    std::map<std::string, std::string> names_;
    std::set<std::string> asked_;
    std::function<void()> on_learned_;
};

// Lines (or any output) that wait for names: each shown once the names it
// needs are known, never before one added earlier.
class InOrder {
public:
    explicit InOrder(Names& names) : names_(names) {}
    void add(std::vector<std::string> people, std::function<void()> show);
    // Shows what is ready, in order; call after a name arrived.
    void flush();
    bool empty() const { return queue_.empty(); }

private:
    struct Item {
        std::vector<std::string> people;
        std::function<void()> show;
    };
    Names& names_;
    std::deque<Item> queue_;
    bool flushing_ = false;
};

}  // namespace natter::cli
