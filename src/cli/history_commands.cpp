// natter history and natter conversations: plain HTTP reads.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "describe.hpp"
#include "errors.hpp"
#include "media.hpp"
#include "text_format.hpp"
#include "users.hpp"

namespace natter::cli {

namespace {

// "[date] #seq name: text" (or "* alice added carol") for a message object of the HTTP API;
// an image as "[image/png 640x480, 300 KB] caption", and how to get it unless `brief`.
std::string message_line(NameCache& names, const json& m, bool brief = false) {
    std::string head = "[" + date_time(int_field(m, "ts")) + "] #" + std::to_string(int_field(m, "seq")) + " ";
    if (str_field(m, "kind") == "system")
        return head + "* " + event_text(m, [&names](const std::string& id) { return names.name_of(id); });
    auto from = str_field(m.value("from", json::object()), "user");
    return head + printable(names.name_of(from), "") + ": " + printable(message_text(m, !brief));
}

// "group \"Friends\" (123)"; "group 123" when the group cannot be read (no longer a member).
std::string group_title(Api& api, const std::string& group_id) {
    try {
        auto name = str_field(api.call("GET", "/v1/groups/" + group_id), "name");
        if (!name.empty()) return "group \"" + name + "\" (" + group_id + ")";
    } catch (const CliError& e) {
        if (e.exit_code() == kExitAuth) throw;
    }
    return "group " + group_id;
}

// The title of a conversation: the other person, yourself, or the group.
std::string title(Api& api, NameCache& names, const std::string& me, const std::string& conversation) {
    if (conversation.rfind("g:", 0) == 0) return is_conversation_id(conversation) ? group_title(api, conversation.substr(2)) : conversation;
    if (!is_conversation_id(conversation)) return conversation;
    auto colon = conversation.find(':', 2);
    auto a = conversation.substr(2, colon - 2), b = conversation.substr(colon + 1);
    if (a == b) return names.name_of(a) + " (yourself)";
    return names.name_of(a == me ? b : a);
}

json array_field(const json& j, const char* key) {
    if (!j.is_object() || !j.contains(key) || !j[key].is_array())
        throw CliError(kExitRefused, std::string("unexpected answer from the server: no \"") + key + "\" list");
    return j[key];
}

}  // namespace

int run_history(const Globals& g, const HistoryOptions& o) {
    if (o.limit < 1 || o.limit > 200) throw CliError(kExitUsage, "--limit must be from 1 to 200");
    auto api = Api::signed_in(g);
    auto conversation = conversation_for(api, o.conversation);
    std::string target = "/v1/conversations/" + conversation + "/messages?limit=" + std::to_string(o.limit);
    if (o.before_seq) target += "&before_seq=" + std::to_string(*o.before_seq);
    auto messages = array_field(api.call("GET", target), "messages");
    std::reverse(messages.begin(), messages.end());  // the server sends newest first
    NameCache names(api);
    for (const auto& m : messages) std::cout << (o.json ? m.dump() : message_line(names, m)) << "\n";
    if (messages.empty() && !o.json) std::cerr << "no messages in " << conversation << "\n";
    if (!o.json && messages.size() == std::size_t(o.limit))  // a full page: there may be older ones
        std::cerr << "older: natter history " << o.conversation << " --before-seq " << int_field(messages[0], "seq")
                  << "\n";
    return kExitOk;
}

int run_conversations(const Globals& g, bool as_json) {
    auto api = Api::signed_in(g);
    auto list = array_field(api.call("GET", "/v1/conversations"), "conversations");
    NameCache names(api);
    for (const auto& c : list) {
        if (as_json) {
            std::cout << c.dump() << "\n";
            continue;
        }
        auto id = str_field(c, "conversation_id");
        std::cout << id << "  " << printable(title(api, names, api.creds().user_id, id), "");
        if (auto unread = int_field(c, "unread")) std::cout << "  (" << unread << " unread)";
        if (c.contains("last_message") && c["last_message"].is_object())
            std::cout << "\n    " << shorten(message_line(names, c["last_message"], true), 100);
        std::cout << "\n";
    }
    if (list.empty() && !as_json) std::cerr << "no conversations yet\n";
    return kExitOk;
}

}  // namespace natter::cli
