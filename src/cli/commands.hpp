#pragma once
// One function per natter command; each returns the exit code or throws CliError.
#include <optional>
#include <string>
#include <vector>

#include "api.hpp"

namespace natter::cli {

struct RegisterOptions {
    std::string username;
    std::string display_name;
    bool password_stdin = false;
};

struct LoginOptions {
    std::string username;
    std::string device_name;
    bool password_stdin = false;
};

struct AccountDeleteOptions {
    bool yes = false;  // --yes: it cannot be undone
    bool password_stdin = false;
};

struct SendOptions {
    std::string to;                  // USER; with --group, the first word of the text
    std::string group;               // --group ID
    std::vector<std::string> words;  // TEXT... (with --image: the caption, may be empty)
    std::string image;               // --image FILE
};

struct ListenOptions {
    std::optional<long long> count;  // --count N
    bool notices = false;            // --notices: receipt, typing, presence frames on stdout too
};

struct ChatOptions {
    std::string user;   // USER
    std::string group;  // --group ID
};

struct GroupOptions {
    std::string name;                // create NAME
    std::vector<std::string> users;  // create USER..., add/remove USER
    std::string group;               // GROUP_ID
    bool json = false;               // show --json
};

struct ReceiptsOptions {
    std::string conversation;
    bool json = false;
};

struct HistoryOptions {
    std::string conversation;
    std::optional<long long> before_seq;
    int limit = 50;
    bool json = false;
};

struct MediaGetOptions {
    std::string media_id;
    std::string output;  // -o FILE, "-" for stdout; empty: MEDIA_ID.<ext>
};

struct ProfileOptions {
    std::string user;  // show [USER]; empty: yourself
    bool json = false;
    std::string file;  // avatar FILE
    bool clear = false;  // avatar --clear
};

int run_register(const Globals& g, const RegisterOptions& o);
int run_login(const Globals& g, const LoginOptions& o);
int run_logout(const Globals& g);
int run_devices(const Globals& g);
int run_devices_remove(const Globals& g, const std::string& device_id);
int run_account_delete(const Globals& g, const AccountDeleteOptions& o);
int run_send(const Globals& g, const SendOptions& o);
int run_listen(const Globals& g, const ListenOptions& o);
int run_chat(const Globals& g, const ChatOptions& o);
int run_group_create(const Globals& g, const GroupOptions& o);
int run_group_show(const Globals& g, const GroupOptions& o);
int run_group_add(const Globals& g, const GroupOptions& o);
int run_group_remove(const Globals& g, const GroupOptions& o);
int run_group_leave(const Globals& g, const GroupOptions& o);
int run_receipts(const Globals& g, const ReceiptsOptions& o);
int run_history(const Globals& g, const HistoryOptions& o);
int run_conversations(const Globals& g, bool json);
int run_media_get(const Globals& g, const MediaGetOptions& o);
int run_profile_show(const Globals& g, const ProfileOptions& o);
int run_profile_avatar(const Globals& g, const ProfileOptions& o);

}  // namespace natter::cli
