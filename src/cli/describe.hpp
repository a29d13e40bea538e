#pragma once
// Readable text for what the server pushes besides chat text: group changes
// (system messages), receipts, typing and presence. Pure functions: names
// come from the caller, which looks up the ids people_in() lists first.
// Every field is read tolerantly; a frame of an unexpected shape gives a
// plainer line, never an exception.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace natter::cli {

using json = nlohmann::json;

// A user id to the name to show (the id itself when unknown).
using NameOf = std::function<std::string(const std::string& user_id)>;

// The user ids whose names the readable line of `frame` (a message, receipt,
// typing or presence frame) needs, `me` included when it appears.
std::vector<std::string> people_in(const json& frame, const std::string& me);

// The other participant of a 1:1 conversation id (`me` for a chat with
// oneself); empty for a group or anything else.
std::string other_party(const std::string& conversation_id, const std::string& me);

// "group 123", "chat with bob", "chat with yourself".
std::string conversation_label(const std::string& conversation_id, const std::string& me, const NameOf& name);

// The group change of a system message: "alice added carol", "carol left",
// "alice created group \"Friends\" with bob and carol", "...; bob is now an admin".
std::string event_text(const json& message, const NameOf& name);

// "✓✓ delivered to bob up to #5", "✓✓ read by bob up to #5".
std::string receipt_text(const json& receipt, const NameOf& name);

// "bob is typing...", "bob stopped typing".
std::string typing_text(const json& typing, const NameOf& name);

// "bob is online", "bob was last seen 14:05", "bob is offline".
std::string presence_text(const json& presence, const NameOf& name);

// "14:05" today, else "2026-11-27 14:05" (local time).
std::string when(std::int64_t unix_ms);

// The group id in "123" or "g:123"; empty when it is neither.
std::string group_id_of(const std::string& arg);

}  // namespace natter::cli
