#include "core/message.hpp"

#include <nlohmann/json.hpp>

namespace natter {

const char* kind_name(MessageKind k) {
    switch (k) {
        case MessageKind::text: return "text";
        case MessageKind::image: return "image";
        case MessageKind::system: return "system";
    }
    return "text";
}

std::string group_event_json(const GroupEvent& e) {
    using nlohmann::json;
    static constexpr const char* kTypes[] = {"created", "added", "removed", "left"};
    json j = {{"type", kTypes[int(e.type)]}};
    if (e.by) j["by"] = id_string(e.by);
    if (e.user) j["user"] = id_string(e.user);
    if (e.type == GroupEvent::Type::created) {
        j["name"] = e.name;
        json members = json::array();
        for (UserId u : e.members) members.push_back(id_string(u));
        j["members"] = std::move(members);
    }
    if (e.new_admin) j["new_admin"] = id_string(e.new_admin);
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace natter
