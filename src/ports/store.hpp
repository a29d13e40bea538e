#pragma once
// The store ports: narrow interfaces, one per kind of data. Every call names
// the user or conversation it touches, so a sharded adapter can route it to
// that key's shard without the service knowing shards exist.
//
// Thread-safety: every method may be called from any thread at once.
// Synchronous methods may block on disk or network: call them off the I/O
// threads. Methods taking a callback return at once and call it exactly once,
// on a thread of the adapter's; callbacks must not block.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/message.hpp"

namespace natter {

struct UserRecord {
    UserId user_id = 0;
    std::string username;
    std::string password_hash;  // argon2id, encoded
    std::string display_name;
    std::string description;
    std::optional<std::uint64_t> avatar_media_id;
    std::int64_t created_at = 0;
};

struct ProfilePatch {
    std::optional<std::string> display_name;
    std::optional<std::string> description;
    std::optional<std::optional<std::uint64_t>> avatar_media_id;  // set, or clear
};

class UserStore {
public:
    virtual ~UserStore() = default;
    // conflict when the username is taken.
    virtual Result<Ok> create_user(const UserRecord& user) = 0;
    virtual std::optional<UserRecord> user_by_id(UserId user) = 0;
    virtual std::optional<UserRecord> user_by_name(const std::string& username) = 0;
    // not_found when the user is gone.
    virtual Result<UserRecord> update_profile(UserId user, const ProfilePatch& patch) = 0;

    // Deletes an account: its row (profile, avatar), devices, refresh tokens,
    // tickets, inbox rows, media (their blob keys go to the blob trash) and
    // membership of its 1:1 chats (a send to it: not_found); its username
    // is free again. What stays: its messages in others' history and a
    // tombstone, so user_deleted() says so.
    // Group memberships are the service's to end first (each is a message).
    // The first step takes the account row and every credential at once, so
    // a deletion cut short (unavailable: a store shard did not answer)
    // leaves a user who cannot sign in; calling it again finishes it, and
    // until then unfinished_deletions() lists the user. Idempotent; Ok for
    // a user already deleted, not_found for one that never was.
    virtual Result<Ok> delete_user(UserId user, std::int64_t now) = 0;
    virtual bool user_deleted(UserId user) = 0;
    virtual std::vector<UserId> unfinished_deletions(std::size_t batch) = 0;
};

struct DeviceRecord {
    UserId user_id = 0;
    DeviceId device_id = 0;
    std::string device_name;
    std::int64_t generation = 0;  // bumped on revocation: older access tokens stop working
    std::int64_t created_at = 0;
    std::int64_t last_seen = 0;
};

// What presenting a refresh token did.
struct RefreshOutcome {
    enum class Kind { rotated, replayed, unknown } kind = Kind::unknown;
    DeviceRecord device;  // rotated: the device, generation unchanged; replayed: after revocation
};

class DeviceStore {
public:
    virtual ~DeviceStore() = default;
    // Signs a device in: when `existing` names one of the user's devices it is
    // reused; otherwise (absent, unknown, or another user's) a device `new_id`
    // is added. conflict past `max_devices`.
    virtual Result<DeviceRecord> open_device(UserId user, std::optional<DeviceId> existing, DeviceId new_id,
                                             const std::string& name, std::int64_t now, std::size_t max_devices) = 0;
    virtual std::vector<DeviceRecord> devices(UserId user) = 0;
    virtual std::optional<DeviceRecord> device(UserId user, DeviceId device) = 0;
    virtual void touch_device(UserId user, DeviceId device, std::int64_t now) = 0;
    // Removes the device with its tokens and inbox. false when it was not there.
    virtual bool remove_device(UserId user, DeviceId device) = 0;
    // Revokes every token of the device (bumps its generation). false when absent.
    virtual bool revoke_device(UserId user, DeviceId device) = 0;

    // Refresh tokens, stored as hashes, grouped per device.
    virtual void add_refresh_token(UserId user, DeviceId device, const std::string& token_hash,
                                   std::int64_t expires_at) = 0;
    // Spends `token_hash` and stores `next_hash` in its place. A token spent
    // before revokes the device it belongs to (replay of a stolen token).
    virtual RefreshOutcome rotate_refresh_token(UserId user, const std::string& token_hash,
                                                const std::string& next_hash, std::int64_t next_expires_at,
                                                std::int64_t now) = 0;

    // WebSocket tickets: single use, short-lived.
    virtual void add_ticket(UserId user, DeviceId device, const std::string& ticket_hash, std::int64_t expires_at) = 0;
    // The device the ticket was issued to, once; nullopt when unknown, used or expired.
    virtual std::optional<DeviceId> take_ticket(UserId user, const std::string& ticket_hash, std::int64_t now) = 0;
};

// A send as the service hands it to the conversation's home shard.
struct SendRequest {
    std::string conversation_id;
    bool group = false;                // the sender must be a member (forbidden), the group exist (not_found)
    std::vector<UserId> participants;  // direct: both users (once for a chat with oneself)
    UserId recipient = 0;              // direct: must exist, else not_found
    UserId sender = 0;
    DeviceId sender_device = 0;
    std::string client_msg_id;
    std::string payload_hash;  // same client_msg_id with another hash: conflict
    MessageId new_message_id = 0;
    MessageKind kind = MessageKind::text;
    std::string to_json;
    std::string body;
    std::string attachment_json;
    std::uint64_t media_id = 0;  // with an attachment: must be the sender's checked media, else not_found
    std::int64_t ts = 0;
};

// One inbox row written by a send.
struct InboxTarget {
    UserId user = 0;
    DeviceId device = 0;
    InboxId inbox_id = 0;
    // The device's newest row written before this one and still held, or 0.
    // A store writes a user's rows one writer at a time, so they commit in
    // inbox_id order and a read after row N never misses a lower row
    // committed later.
    InboxId prev_inbox_id = 0;
};

struct SendOutcome {
    StoredMessage message;
    bool duplicate = false;            // a retry: the first send's result, nothing new written
    std::vector<InboxTarget> targets;  // recipients' devices first, then the sender's other devices
    // A fan-out done again found rows already there for these users (the
    // first one's answer was lost, so nobody announced them): their
    // sockets should read their inboxes (a resync on their channels).
    std::vector<UserId> resync_users;
};

// A receipt watermark that moved: `by` has everything of the conversation up
// to `up_to_seq` (delivered: on a device; read: seen). `notify` are the users
// to tell now: the senders of the messages the move covers (and, for read,
// `by` itself, whose other devices clear their unread marks).
struct ReceiptChange {
    std::string conversation_id;
    UserId by = 0;
    bool read = false;
    std::int64_t up_to_seq = 0;
    std::vector<UserId> notify;
};

// What an ack did: the rows it removed and the delivered watermarks it moved.
struct AckOutcome {
    std::size_t removed = 0;
    std::vector<ReceiptChange> receipts;
};

class MessageStore {
public:
    virtual ~MessageStore() = default;
    // In one transaction: dedupe on (sender, client_msg_id), take the next
    // seq, store the message and its fan-out to every device of every
    // participant but the sending device. The callback runs after commit.
    // conflict when client_msg_id was used with another payload.
    virtual void commit_send(SendRequest req, std::function<void(Result<SendOutcome>)> done) = 0;
    // Inbox rows written after commit_send (or change_group) answered: a
    // sharded store's fan-out to a shard that was down, retried once it is
    // back. The listener publishes them as it does a send's targets; it is
    // called on a store thread, a conversation's messages in seq order.
    // A store that writes every row before answering never calls it.
    virtual void on_late_delivery(std::function<void(const SendOutcome&)> listener) {}
};

class InboxStore {
public:
    virtual ~InboxStore() = default;
    // The device's waiting messages with inbox_id > after, oldest first.
    virtual std::vector<InboxItem> read_inbox(UserId user, DeviceId device, InboxId after, std::size_t limit) = 0;
    // Deletes the device's rows for these messages and moves the user's
    // delivered watermark of each conversation to the highest seq acked from
    // others; reports both. Runs `done` on a store thread.
    virtual void ack(UserId user, DeviceId device, std::vector<MessageId> ids, std::int64_t now,
                     std::function<void(AckOutcome)> done) = 0;
    virtual std::size_t inbox_depth(UserId user, DeviceId device) = 0;
    // Whether retention dropped rows of this device's inbox since the mark
    // was last cleared; the service clears it once the device was told.
    virtual bool truncated(UserId user, DeviceId device) = 0;
    virtual void clear_truncated(UserId user, DeviceId device) = 0;
};

// One line of a user's conversation list.
struct ConversationSummary {
    std::string conversation_id;
    std::int64_t last_seq = 0;
    std::optional<StoredMessage> last_message;  // absent once retention deleted it
    std::int64_t unread = 0;                    // others' messages after the user's read watermark
};

class ConversationStore {
public:
    virtual ~ConversationStore() = default;
    // The user's conversations, most recent activity first.
    virtual std::vector<ConversationSummary> conversations(UserId user, std::size_t limit) = 0;
    // Messages of the conversation with from_seq <= seq < before_seq (before_seq
    // 0: no upper bound), newest first, at most `limit`.
    virtual std::vector<StoredMessage> history(const std::string& conversation_id, std::int64_t from_seq,
                                               std::int64_t before_seq, std::size_t limit) = 0;
};

struct GroupMember {
    UserId user_id = 0;
    bool admin = false;
    std::int64_t joined_seq = 0;  // the seq of the system message that let the member in
};

struct GroupRecord {
    std::uint64_t group_id = 0;
    std::string name;
    std::int64_t created_at = 0;
    std::vector<GroupMember> members;  // by joined_seq, then user id
};

// A membership change as the service hands it to the group's home shard: the
// change, its `system` message and the message's fan-out in one transaction,
// ordered with the group's sends.
struct GroupChange {
    enum class Kind { create, add, remove };
    Kind kind = Kind::create;
    std::uint64_t group_id = 0;  // create: the new group's id
    UserId actor = 0;
    DeviceId actor_device = 0;
    std::string name;             // create
    std::vector<UserId> members;  // create: the other members, each once, without the actor
    UserId user = 0;              // add, remove: the member added or removed (remove: may be the actor)
    std::size_t max_members = 0;  // members at most, the actor included
    MessageId new_message_id = 0;
    std::string client_msg_id;  // made by the server for the system message
    std::int64_t ts = 0;
};

// Where a user stands in a conversation.
struct Membership {
    bool admin = false;
    std::int64_t joined_seq = 1;
};

class GroupStore {
public:
    virtual ~GroupStore() = default;
    // create: not_found for an unknown member, conflict past max_members.
    // add: not_found for an unknown group or user; forbidden unless the actor
    // is an admin; conflict when already a member or the group is full.
    // remove: forbidden unless the actor is an admin or the member leaving;
    // not_found when the user is not a member. The last admin leaving makes
    // the longest-standing member an admin. Every device of every member
    // (the removed one included) gets the system message. `done` runs after
    // commit, on a store thread.
    virtual void change_group(GroupChange change, std::function<void(Result<SendOutcome>)> done) = 0;
    virtual std::optional<GroupRecord> group(std::uint64_t group_id) = 0;
    // The user's membership of a conversation (direct or group); nullopt for
    // a non-member or a conversation with no message yet.
    virtual std::optional<Membership> membership(const std::string& conversation_id, UserId user) = 0;
    // The conversation's members.
    virtual std::vector<UserId> members(const std::string& conversation_id) = 0;
    // Which of `others` share at least one conversation with `user`.
    virtual std::vector<UserId> contacts_among(UserId user, const std::vector<UserId>& others) = 0;
};

// A member's watermarks in a conversation.
struct MemberReceipt {
    std::string conversation_id;
    UserId user_id = 0;
    std::int64_t delivered_seq = 0;
    std::int64_t read_seq = 0;
    std::int64_t changed_at = 0;
    std::int64_t joined_seq = 0;  // groups: the member sees (and is counted for) seqs from here; 1:1: 0
};

class ReceiptStore {
public:
    virtual ~ReceiptStore() = default;
    // Moves the user's read watermark (and the delivered one with it) up to
    // `up_to_seq`; never back. forbidden for a non-member; invalid past the
    // conversation's last seq. `done` runs on a store thread.
    virtual void mark_read(UserId user, const std::string& conversation_id, std::int64_t up_to_seq, std::int64_t now,
                           std::function<void(Result<std::vector<ReceiptChange>>)> done) = 0;
    // Every member's watermarks of the conversation.
    virtual std::vector<MemberReceipt> receipts(const std::string& conversation_id) = 0;
    // Watermarks in the user's conversations that changed after `since` (ms),
    // oldest change first, at most `limit`: what a device catches up on.
    // Only the user's own and those covering a (non-system) message the
    // user sent: a receipt is news to a sender.
    virtual std::vector<MemberReceipt> receipts_since(UserId user, std::int64_t since, std::size_t limit) = 0;
    // The newest change a device was sent on sync.
    virtual std::int64_t receipts_seen(UserId user, DeviceId device) = 0;
    // `done` runs once it is stored (on a store thread): a device told
    // sync_done after it is not sent the same watermarks on its next sync.
    virtual void set_receipts_seen(UserId user, DeviceId device, std::int64_t at, std::function<void()> done) = 0;
};

// An uploaded (or announced) image: the database keeps only its key.
struct MediaRecord {
    std::uint64_t media_id = 0;
    UserId owner = 0;
    std::string mime;
    std::uint64_t size = 0;  // declared; checked against the blob on first use
    std::string key;         // in the blob store
    std::int64_t created_at = 0;
    bool verified = false;          // size and magic bytes checked
    std::int64_t referenced_at = 0;  // first message or avatar using it; 0: none yet
};

class MediaStore {
public:
    virtual ~MediaStore() = default;
    // Records a new media; too_large when the owner's media would pass
    // `quota_bytes` (checked in the same transaction).
    virtual Result<Ok> add_media(const MediaRecord& media, std::uint64_t quota_bytes) = 0;
    virtual std::optional<MediaRecord> media(std::uint64_t media_id) = 0;
    virtual void mark_verified(std::uint64_t media_id) = 0;
    // Makes a verified media of `owner` the owner's avatar (or clears it
    // with nullopt); not_found when it is not such a media.
    virtual Result<Ok> set_avatar(UserId owner, std::optional<std::uint64_t> media_id, std::int64_t now) = 0;
    // The uploader; any user when it is someone's avatar; a member of a
    // conversation with a message (from the member's joined_seq) using it.
    virtual bool may_download(std::uint64_t media_id, UserId user) = 0;
    // Media to delete with their blobs: never used and created before
    // `unused_before`, or used but no longer by any message or avatar
    // (retention took the messages). At most `batch`; their rows go, and
    // their blob keys wait in the blob trash, in the same transaction.
    virtual std::vector<MediaRecord> expire_media(std::int64_t unused_before, std::size_t batch) = 0;
    // Blob keys whose media is gone and whose blob may not be yet, oldest
    // first: the sweeper removes each blob, then forgets the key, so a blob
    // store that is down delays the removal instead of losing it.
    virtual std::vector<std::string> blob_trash(std::size_t batch) = 0;
    virtual void forget_trash(const std::vector<std::string>& keys) = 0;
};

// Deletion of what has outlived its retention, in batches the caller loops
// over; each call is short so sends interleave with the sweep. Each returns
// how many rows it removed.
class RetentionStore {
public:
    virtual ~RetentionStore() = default;
    // Inbox rows created before `cutoff`; their devices are marked truncated.
    virtual std::size_t expire_inbox(std::int64_t cutoff, std::size_t batch) = 0;
    // Messages accepted before `cutoff` that no inbox row still waits for.
    virtual std::size_t expire_history(std::int64_t cutoff, std::size_t batch) = 0;
    // Idempotency keys made before `cutoff`.
    virtual std::size_t expire_dedupe(std::int64_t cutoff, std::size_t batch) = 0;
    // Refresh tokens and tickets past their expiry at `now`.
    virtual std::size_t expire_credentials(std::int64_t now, std::size_t batch) = 0;
};

// The store as the wiring hands it to the service.
struct Stores {
    UserStore* users = nullptr;
    DeviceStore* devices = nullptr;
    MessageStore* messages = nullptr;
    InboxStore* inbox = nullptr;
    ConversationStore* conversations = nullptr;
    RetentionStore* retention = nullptr;
    GroupStore* groups = nullptr;
    ReceiptStore* receipts = nullptr;
    MediaStore* media = nullptr;
};

}  // namespace natter
