#include "describe.hpp"

#include <ctime>

#include "api.hpp"
#include "text_format.hpp"
#include "users.hpp"

namespace natter::cli {

namespace {

constexpr std::size_t kNamesListed = 5;  // "with a, b, c, d, e and 3 more"

json object_field(const json& j, const char* key) {
    if (!j.is_object()) return json::object();
    auto it = j.find(key);
    return it != j.end() && it->is_object() ? *it : json::object();
}

std::vector<std::string> string_list(const json& j, const char* key) {
    std::vector<std::string> out;
    if (!j.is_object()) return out;
    auto it = j.find(key);
    if (it == j.end() || !it->is_array()) return out;
    for (const auto& v : *it)
        if (v.is_string()) out.push_back(v.get<std::string>());
    return out;
}

std::string shown(const NameOf& name, const std::string& id) { return printable(name(id), ""); }

// "bob", "bob and carol", "bob, carol and dave", "... and 3 more".
std::string name_list(const std::vector<std::string>& ids, const NameOf& name) {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < ids.size() && i < kNamesListed; ++i) names.push_back(shown(name, ids[i]));
    if (ids.size() > kNamesListed) names.push_back(std::to_string(ids.size() - kNamesListed) + " more");
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
        out += names[i];
    }
    return out;
}

// The created event's members other than its creator.
std::vector<std::string> joined_with(const json& event, const std::string& by) {
    std::vector<std::string> out;
    for (auto& m : string_list(event, "members"))
        if (m != by) out.push_back(m);
    return out;
}

void add_id(std::vector<std::string>& out, const std::string& id) {
    if (is_id(id)) out.push_back(id);
}

}  // namespace

std::string other_party(const std::string& conversation_id, const std::string& me) {
    if (conversation_id.rfind("d:", 0) != 0) return "";
    auto colon = conversation_id.find(':', 2);
    if (colon == std::string::npos) return "";
    auto a = conversation_id.substr(2, colon - 2), b = conversation_id.substr(colon + 1);
    if (a == me) return b;
    if (b == me) return a;
    return "";
}

std::vector<std::string> people_in(const json& frame, const std::string& me) {
    std::vector<std::string> out;
    auto type = str_field(frame, "type");
    add_id(out, other_party(str_field(frame, "conversation_id"), me));
    if (type == "message") {
        add_id(out, str_field(object_field(frame, "from"), "user"));
        add_id(out, str_field(object_field(frame, "to"), "user"));
        auto event = object_field(frame, "event");
        add_id(out, str_field(event, "by"));
        add_id(out, str_field(event, "user"));
        add_id(out, str_field(event, "new_admin"));
        auto by = str_field(event, "by", str_field(object_field(frame, "from"), "user"));
        auto members = joined_with(event, by);
        for (std::size_t i = 0; i < members.size() && i < kNamesListed; ++i) add_id(out, members[i]);
    } else if (type == "receipt") {
        add_id(out, str_field(frame, "by"));
    } else if (type == "typing" || type == "presence") {
        add_id(out, str_field(frame, "user"));
    }
    return out;
}

std::string conversation_label(const std::string& conversation_id, const std::string& me, const NameOf& name) {
    if (conversation_id.rfind("g:", 0) == 0) return "group " + printable(conversation_id.substr(2), "");
    auto other = other_party(conversation_id, me);
    if (other.empty()) return printable(conversation_id, "");
    if (other == me) return "chat with yourself";
    return "chat with " + shown(name, other);
}

std::string event_text(const json& message, const NameOf& name) {
    auto event = object_field(message, "event");
    auto type = str_field(event, "type");
    auto by = str_field(event, "by", str_field(object_field(message, "from"), "user"));
    auto user = str_field(event, "user");
    std::string out;
    if (type == "created") {
        out = shown(name, by) + " created group \"" + printable(str_field(event, "name"), "") + "\"";
        auto others = joined_with(event, by);
        if (!others.empty()) out += " with " + name_list(others, name);
    } else if (type == "added") {
        out = shown(name, by) + " added " + shown(name, user);
    } else if (type == "removed") {
        out = shown(name, by) + " removed " + shown(name, user);
    } else if (type == "left") {
        out = shown(name, user.empty() ? by : user) + " left";
    } else if (!type.empty()) {
        out = "group change \"" + printable(type, "") + "\"";
    } else {
        out = printable(str_field(message, "body", "(" + str_field(message, "kind", "message") + ")"));
    }
    auto admin = str_field(event, "new_admin");
    if (!admin.empty()) out += "; " + shown(name, admin) + " is now an admin";
    return out;
}

std::string receipt_text(const json& receipt, const NameOf& name) {
    auto by = shown(name, str_field(receipt, "by"));
    auto upto = " up to #" + std::to_string(int_field(receipt, "up_to_seq"));
    if (str_field(receipt, "status") == "read") return "✓✓ read by " + by + upto;
    if (str_field(receipt, "status") == "delivered") return "✓✓ delivered to " + by + upto;
    return "receipt from " + by + ": " + printable(str_field(receipt, "status"), "") + upto;
}

std::string typing_text(const json& typing, const NameOf& name) {
    auto who = shown(name, str_field(typing, "user"));
    return str_field(typing, "state") == "stop" ? who + " stopped typing" : who + " is typing...";
}

std::string presence_text(const json& presence, const NameOf& name) {
    auto who = shown(name, str_field(presence, "user"));
    if (str_field(presence, "status") == "online") return who + " is online";
    if (auto seen = int_field(presence, "last_seen"); seen > 0) return who + " was last seen " + when(seen);
    return who + " is offline";
}

std::string when(std::int64_t unix_ms) {
    std::time_t now = std::time(nullptr), then = std::time_t(unix_ms / 1000);
    std::tm a{}, b{};
    localtime_r(&now, &a);
    localtime_r(&then, &b);
    bool today = a.tm_year == b.tm_year && a.tm_yday == b.tm_yday;
    return today ? clock_time(unix_ms) : date_time(unix_ms);
}

std::string group_id_of(const std::string& arg) {
    auto id = arg.rfind("g:", 0) == 0 ? arg.substr(2) : arg;
    return is_id(id) ? id : "";
}

}  // namespace natter::cli
