#pragma once
// The message model: what the store keeps and what a device is pushed.
#include <cstdint>
#include <string>
#include <vector>

#include "core/ids.hpp"

namespace natter {

enum class MessageKind { text, image, system };
const char* kind_name(MessageKind k);

struct StoredMessage {
    MessageId message_id = 0;
    std::string client_msg_id;
    std::string conversation_id;
    std::int64_t seq = 0;
    MessageId prev_message_id = 0;  // id of seq - 1; 0 for the first
    MessageKind kind = MessageKind::text;
    UserId from_user = 0;
    DeviceId from_device = 0;
    std::string to_json;          // the `to` object as sent: {"user": "..."} or {"group": "..."}
    std::string body;             // empty when absent
    std::string attachment_json;  // empty when absent; a JSON object otherwise
    std::string event_json;       // system messages: a JSON object
    std::int64_t ts = 0;          // ms since the epoch, when accepted
};

// The `event` of a group's system message: what changed and who did it.
struct GroupEvent {
    enum class Type { created, added, removed, left };
    Type type = Type::created;
    UserId by = 0;                // created, added, removed: the admin who did it
    UserId user = 0;              // added, removed, left: the member
    std::string name;             // created: the group's name
    std::vector<UserId> members;  // created: everyone in, the creator first
    UserId new_admin = 0;         // removed, left: promoted because the last admin went
};
std::string group_event_json(const GroupEvent& e);

// One row of a device's inbox: the message waits there until the device acks.
struct InboxItem {
    InboxId inbox_id = 0;
    StoredMessage message;
};

}  // namespace natter
