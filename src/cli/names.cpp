#include "names.hpp"

#include <memory>

namespace natter::cli {

bool Names::ready(const std::vector<std::string>& user_ids) {
    bool all = true;
    for (const auto& id : user_ids) {
        if (!is_id(id) || names_.count(id)) continue;
        all = false;
        look_up(id);
    }
    return all;
}

std::string Names::operator()(const std::string& user_id) const {
    auto it = names_.find(user_id);
    return it == names_.end() ? user_id : it->second;
}

void Names::look_up(const std::string& user_id) {
    if (!asked_.insert(user_id).second) return;
    auto name = std::make_shared<std::string>(user_id);
    loop_.offload([this, user_id, name] { *name = cache_.name_of(user_id); },
                  [this, user_id, name](std::exception_ptr failure) {
                      names_[user_id] = failure ? user_id : *name;  // the id stands in for a name it cannot get
                      if (on_learned_) on_learned_();
                  });
}

void InOrder::add(std::vector<std::string> people, std::function<void()> show) {
    queue_.push_back(Item{std::move(people), std::move(show)});
    flush();
}

void InOrder::flush() {
    if (flushing_) return;  // a show() that adds more: the loop below takes it
    flushing_ = true;
    while (!queue_.empty() && names_.ready(queue_.front().people)) {
        auto item = std::move(queue_.front());
        queue_.pop_front();
        item.show();
    }
    flushing_ = false;
}

}  // namespace natter::cli
