#pragma once
// Naming people: usernames to ids and back, and 1:1 conversation ids.
#include <map>
#include <string>

#include "api.hpp"

namespace natter::cli {

struct User {
    std::string id;
    std::string username;  // empty when not looked up
};

// A decimal id string as the protocol writes them (digits, no leading zero).
bool is_id(const std::string& s);

// How a deleted account is named: its id stays on the messages it sent.
inline constexpr const char* kDeletedAccount = "(deleted account)";
// A GET /v1/users/{id} answer that is a deleted account's tombstone.
bool is_tombstone(const json& profile);
// A GET /v1/users/{id} answer's username; kDeletedAccount for a tombstone
// ({"user_id","deleted":true}); `fallback` when there is none.
std::string display_username(const json& profile, const std::string& fallback);

// USER as typed: digits are a user id (not looked up unless `lookup`), "@name"
// or any other text a username. Throws the server's not_found (exit 1).
User resolve_user(Api& api, const std::string& who, bool lookup = false);

// d:<low>:<high>, the ids compared as unsigned 64-bit numbers.
std::string direct_conversation(const std::string& a, const std::string& b);

// d:ID:ID or g:ID.
bool is_conversation_id(const std::string& s);

// A conversation id as given (d:ID:ID, g:ID), or the 1:1 conversation with
// a USER. Throws CliError (usage) for a malformed id.
std::string conversation_for(Api& api, const std::string& arg);

// Percent-encodes a query parameter value.

// Usernames by user id, looked up once; the id itself when the lookup fails.
class NameCache {
public:
    explicit NameCache(Api& api) : api_(api) {}
    std::string name_of(const std::string& user_id);
    bool has(const std::string& user_id) const { return names_.count(user_id) > 0; }
    void put(const std::string& user_id, const std::string& name) { names_[user_id] = name; }

private:
    Api& api_;
    std::map<std::string, std::string> names_;
};

}  // namespace natter::cli
