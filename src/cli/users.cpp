#include "users.hpp"

#include <algorithm>
#include <cctype>

#include "errors.hpp"

#include "core/url.hpp"

namespace natter::cli {

bool is_tombstone(const json& profile) {
    if (!profile.is_object()) return false;
    auto it = profile.find("deleted");
    return it != profile.end() && it->is_boolean() && it->get<bool>();
}

std::string display_username(const json& profile, const std::string& fallback) {
    if (is_tombstone(profile)) return kDeletedAccount;
    return str_field(profile, "username", fallback);
}

bool is_id(const std::string& s) {
    if (s.empty() || s.size() > 20 || s[0] == '0') return false;
    if (!std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); })) return false;
    return s.size() < 20 || s <= "18446744073709551615";
}

User resolve_user(Api& api, const std::string& who, bool lookup) {
    bool forced_name = !who.empty() && who[0] == '@';
    if (!forced_name && is_id(who)) {
        if (!lookup) return User{who, ""};
        auto j = api.call("GET", "/v1/users/" + who);
        return User{who, display_username(j, who)};
    }
    std::string name = forced_name ? who.substr(1) : who;
    if (name.empty()) throw CliError(kExitUsage, "empty username");
    auto j = api.call("GET", "/v1/users?username=" + url_encode(name));
    auto id = str_field(j, "user_id");
    if (!is_id(id)) throw CliError(kExitRefused, "unexpected answer for user " + name);
    return User{id, str_field(j, "username", name)};
}

std::string direct_conversation(const std::string& a, const std::string& b) {
    auto ua = std::stoull(a), ub = std::stoull(b);
    return ua <= ub ? "d:" + a + ":" + b : "d:" + b + ":" + a;
}

bool is_conversation_id(const std::string& s) {
    if (s.rfind("g:", 0) == 0) return is_id(s.substr(2));
    if (s.rfind("d:", 0) != 0) return false;
    auto colon = s.find(':', 2);
    return colon != std::string::npos && is_id(s.substr(2, colon - 2)) && is_id(s.substr(colon + 1));
}

std::string conversation_for(Api& api, const std::string& arg) {
    if (arg.rfind("d:", 0) == 0 || arg.rfind("g:", 0) == 0) {
        if (!is_conversation_id(arg))
            throw CliError(kExitUsage, "\"" + arg + "\" is not a conversation id (d:ID:ID or g:ID)");
        return arg;
    }
    return direct_conversation(api.creds().user_id, resolve_user(api, arg).id);
}

std::string NameCache::name_of(const std::string& user_id) {
    if (auto it = names_.find(user_id); it != names_.end()) return it->second;
    std::string name = user_id;
    try {
        if (is_id(user_id)) name = display_username(api_.call("GET", "/v1/users/" + user_id), user_id);
    } catch (const CliError& e) {
        if (e.exit_code() == kExitAuth) throw;
        if (e.exit_code() == kExitNetwork) return name;  // not cached: try again next time
    }
    names_[user_id] = name;
    return name;
}

}  // namespace natter::cli
