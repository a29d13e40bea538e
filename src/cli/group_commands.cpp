// natter group create/show/add/remove/leave and natter receipts: plain HTTP.
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "describe.hpp"
#include "errors.hpp"
#include "text_format.hpp"
#include "users.hpp"

namespace natter::cli {

namespace {

std::string group_arg(const std::string& arg) {
    auto id = group_id_of(arg);
    if (id.empty()) throw CliError(kExitUsage, "\"" + arg + "\" is not a group id (digits, or g:ID)");
    return id;
}

// resolve_user, saying which USER the server did not know.
User member(Api& api, const std::string& who) {
    try {
        return resolve_user(api, who, true);
    } catch (const CliError& e) {
        if (e.exit_code() != kExitRefused) throw;
        throw CliError(kExitRefused, std::string(e.what()) + ": " + who);
    }
}

std::string seq_or_dash(std::int64_t seq) { return seq > 0 ? "#" + std::to_string(seq) : "-"; }

json list_field(const json& j, const char* key) {
    if (!j.is_object() || !j.contains(key) || !j[key].is_array())
        throw CliError(kExitRefused, std::string("unexpected answer from the server: no \"") + key + "\" list");
    return j[key];
}

}  // namespace

int run_group_create(const Globals& g, const GroupOptions& o) {
    auto api = Api::signed_in(g);
    json ids = json::array();
    for (const auto& who : o.users) ids.push_back(member(api, who).id);
    auto j = api.call("POST", "/v1/groups", {{"name", o.name}, {"members", ids}});
    auto id = str_field(j, "group_id");
    std::cout << "created group \"" << printable(o.name, "") << "\": group_id=" << id
              << " conversation=" << str_field(j, "conversation_id", "g:" + id) << "\n";
    std::cerr << "chat there: natter chat --group " << id << "\n";
    return kExitOk;
}

int run_group_show(const Globals& g, const GroupOptions& o) {
    auto id = group_arg(o.group);
    auto api = Api::signed_in(g);
    auto j = api.call("GET", "/v1/groups/" + id);
    if (o.json) {
        std::cout << j.dump() << "\n";
        return kExitOk;
    }
    auto members = list_field(j, "members");
    std::cout << "group " << id << " \"" << printable(str_field(j, "name"), "") << "\"  conversation "
              << str_field(j, "conversation_id", "g:" + id);
    if (auto at = int_field(j, "created_at")) std::cout << "  created " << date_time(at);
    std::cout << "  (" << members.size() << " member" << (members.size() == 1 ? "" : "s") << ")\n";
    NameCache names(api);
    names.put(api.creds().user_id, api.creds().username);
    std::printf("  %-32s  %-6s  %s\n", "MEMBER", "ROLE", "SINCE");
    for (const auto& m : members) {
        auto user = str_field(m, "user_id");
        auto name = printable(names.name_of(user), "") + (user == api.creds().user_id ? " (you)" : "");
        std::printf("  %-32s  %-6s  %s\n", name.c_str(), printable(str_field(m, "role"), "").c_str(),
                    seq_or_dash(int_field(m, "joined_seq")).c_str());
    }
    std::fflush(stdout);
    return kExitOk;
}

int run_group_add(const Globals& g, const GroupOptions& o) {
    auto id = group_arg(o.group);
    auto api = Api::signed_in(g);
    auto user = member(api, o.users.at(0));
    api.call("POST", "/v1/groups/" + id + "/members", {{"user_id", user.id}});
    std::cout << "added " << printable(user.username.empty() ? user.id : user.username, "") << " to group " << id << "\n";
    return kExitOk;
}

int run_group_remove(const Globals& g, const GroupOptions& o) {
    auto id = group_arg(o.group);
    auto api = Api::signed_in(g);
    auto user = member(api, o.users.at(0));
    api.call("DELETE", "/v1/groups/" + id + "/members/" + user.id);
    std::cout << "removed " << printable(user.username.empty() ? user.id : user.username, "") << " from group " << id
              << "\n";
    return kExitOk;
}

int run_group_leave(const Globals& g, const GroupOptions& o) {
    auto id = group_arg(o.group);
    auto api = Api::signed_in(g);
    api.call("DELETE", "/v1/groups/" + id + "/members/" + api.creds().user_id);
    std::cout << "left group " << id << "\n";
    return kExitOk;
}

int run_receipts(const Globals& g, const ReceiptsOptions& o) {
    auto api = Api::signed_in(g);
    auto conversation = conversation_for(api, o.conversation);
    auto j = api.call("GET", "/v1/conversations/" + conversation + "/receipts");
    auto members = list_field(j, "members");
    if (o.json) {
        for (const auto& m : members) std::cout << m.dump() << "\n";
        return kExitOk;
    }
    if (members.empty()) {
        std::cerr << "no receipts in " << conversation << ": it has no message yet\n";
        return kExitOk;
    }
    NameCache names(api);
    names.put(api.creds().user_id, api.creds().username);
    std::printf("  %-32s  %-15s  %s\n", "MEMBER", "DELIVERED UP TO", "READ UP TO");
    for (const auto& m : members) {
        auto user = str_field(m, "user_id");
        auto name = printable(names.name_of(user), "") + (user == api.creds().user_id ? " (you)" : "");
        std::printf("  %-32s  %-15s  %s\n", name.c_str(), seq_or_dash(int_field(m, "delivered_seq")).c_str(),
                    seq_or_dash(int_field(m, "read_seq")).c_str());
    }
    std::fflush(stdout);
    return kExitOk;
}

}  // namespace natter::cli
