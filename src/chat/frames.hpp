#pragma once
// Server-to-client frames, serialized once and shared by every socket.
#include <memory>
#include <string>

#include "core/error.hpp"
#include "core/message.hpp"

namespace natter {

std::string message_frame(const StoredMessage& m);
std::string sent_frame(const std::string& request_id, const StoredMessage& m);
std::string error_frame(const std::string& request_id, const Error& e);
std::string pong_frame(const std::string& request_id);
std::string sync_done_frame(std::size_t remaining, bool truncated);
// A message as history lists it: the `message` frame without its type.
std::string message_object(const StoredMessage& m);
// A watermark: `by` has everything of the conversation up to `up_to_seq`.
std::string receipt_frame(const std::string& conversation_id, UserId by, bool read, std::int64_t up_to_seq);
std::string typing_frame(const std::string& conversation_id, UserId user, bool typing);
// last_seen: ms since the epoch, 0 when unknown (omitted).
std::string presence_frame(UserId user, bool online, std::int64_t last_seen);

}  // namespace natter
