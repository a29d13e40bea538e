#pragma once
// The store on PostgreSQL shards: each row lives on the shard the ring gives
// its key (docs/SCALE.md, "What lives where"); one pool of connections per
// shard. Calls block the calling thread (the service makes them from its
// blocking pool, never from an I/O thread).
//
// Built so far: UserStore and DeviceStore (accounts, devices, refresh tokens,
// tickets); sends (the dedupe claim on the sender's shard, the home shard's
// transaction, the fan-out through the outbox, retried in order when a
// shard comes back), inboxes and acks with the delivered watermark,
// history, the conversation list, groups and receipts (pg_groups.cpp),
// media and retention (pg_media.cpp). The store conformance suite runs on
// it with one shard and with three.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/hash_ring.hpp"
#include "ports/store.hpp"

namespace natter::pg {

class Pool;
class Connection;

struct ShardConfig {
    std::string name;      // its identity on the ring: keep it when the shard moves host
    std::string conninfo;  // libpq connection string
};

struct PgStoreConfig {
    std::vector<ShardConfig> shards;
    std::size_t vnodes = HashRing::kDefaultVnodes;
    std::size_t pool_size = 12;  // connections per shard: the workers, the blocking pool's reads and the probe share them
    std::size_t workers = 4;    // threads running sends and acks (a conversation's sends, a device's acks: one each, in order)
    std::chrono::milliseconds outbox_scan{500};  // how often the outbox is looked at for fan-outs left to do
    std::size_t max_queue = 100000;  // sends and group changes waiting for a worker; past it: `unavailable`
};

class PgStore final : public UserStore,
                      public DeviceStore,
                      public MessageStore,
                      public InboxStore,
                      public ConversationStore,
                      public RetentionStore,
                      public GroupStore,
                      public ReceiptStore,
                      public MediaStore {
public:
    // Connects to every shard and migrates its schema; throws when one does
    // not answer or refuses (natterd does not start on a partial ring).
    explicit PgStore(PgStoreConfig config);
    ~PgStore() override;

    Stores ports() { return Stores{this, this, this, this, this, this, this, this, this}; }
    const HashRing& ring() const { return ring_; }
    // The shard index of a user's rows / a conversation's home.
    std::size_t user_shard(UserId user) const;
    std::size_t conversation_shard(const std::string& conversation_id) const;

    // UserStore
    Result<Ok> create_user(const UserRecord& user) override;
    std::optional<UserRecord> user_by_id(UserId user) override;
    std::optional<UserRecord> user_by_name(const std::string& username) override;
    Result<UserRecord> update_profile(UserId user, const ProfilePatch& patch) override;
    // pg_accounts.cpp: the user's shard first (the tombstone, the account
    // row, every credential, device and inbox row, in one transaction), then
    // the name's shard, then the media on every shard, then the tombstone
    // is marked finished.
    Result<Ok> delete_user(UserId user, std::int64_t now) override;
    bool user_deleted(UserId user) override;
    std::vector<UserId> unfinished_deletions(std::size_t batch) override;

    // DeviceStore
    Result<DeviceRecord> open_device(UserId user, std::optional<DeviceId> existing, DeviceId new_id,
                                     const std::string& name, std::int64_t now, std::size_t max_devices) override;
    std::vector<DeviceRecord> devices(UserId user) override;
    std::optional<DeviceRecord> device(UserId user, DeviceId device) override;
    void touch_device(UserId user, DeviceId device, std::int64_t now) override;
    bool remove_device(UserId user, DeviceId device) override;
    bool revoke_device(UserId user, DeviceId device) override;
    void add_refresh_token(UserId user, DeviceId device, const std::string& token_hash,
                           std::int64_t expires_at) override;
    RefreshOutcome rotate_refresh_token(UserId user, const std::string& token_hash, const std::string& next_hash,
                                        std::int64_t next_expires_at, std::int64_t now) override;
    void add_ticket(UserId user, DeviceId device, const std::string& ticket_hash, std::int64_t expires_at) override;
    std::optional<DeviceId> take_ticket(UserId user, const std::string& ticket_hash, std::int64_t now) override;

    // MessageStore
    void commit_send(SendRequest req, std::function<void(Result<SendOutcome>)> done) override;
    void on_late_delivery(std::function<void(const SendOutcome&)> listener) override;
    // Outbox rows waiting on every shard (that answers): fan-outs not done yet.
    std::size_t outbox_depth();

    // InboxStore, ConversationStore
    std::vector<InboxItem> read_inbox(UserId user, DeviceId device, InboxId after, std::size_t limit) override;
    void ack(UserId user, DeviceId device, std::vector<MessageId> ids, std::int64_t now,
             std::function<void(AckOutcome)> done) override;
    std::size_t inbox_depth(UserId user, DeviceId device) override;
    bool truncated(UserId user, DeviceId device) override;
    void clear_truncated(UserId user, DeviceId device) override;
    std::vector<ConversationSummary> conversations(UserId user, std::size_t limit) override;
    std::vector<StoredMessage> history(const std::string& conversation_id, std::int64_t from_seq,
                                       std::int64_t before_seq, std::size_t limit) override;
    std::size_t expire_inbox(std::int64_t cutoff, std::size_t batch) override;
    std::size_t expire_history(std::int64_t cutoff, std::size_t batch) override;
    std::size_t expire_dedupe(std::int64_t cutoff, std::size_t batch) override;
    std::size_t expire_credentials(std::int64_t now, std::size_t batch) override;
    void change_group(GroupChange change, std::function<void(Result<SendOutcome>)> done) override;
    std::optional<GroupRecord> group(std::uint64_t group_id) override;
    std::optional<Membership> membership(const std::string& conversation_id, UserId user) override;
    std::vector<UserId> members(const std::string& conversation_id) override;
    std::vector<UserId> contacts_among(UserId user, const std::vector<UserId>& others) override;
    void mark_read(UserId user, const std::string& conversation_id, std::int64_t up_to_seq, std::int64_t now,
                   std::function<void(Result<std::vector<ReceiptChange>>)> done) override;
    std::vector<MemberReceipt> receipts(const std::string& conversation_id) override;
    std::vector<MemberReceipt> receipts_since(UserId user, std::int64_t since, std::size_t limit) override;
    std::int64_t receipts_seen(UserId user, DeviceId device) override;
    void set_receipts_seen(UserId user, DeviceId device, std::int64_t at, std::function<void()> done) override;
    Result<Ok> add_media(const MediaRecord& media, std::uint64_t quota_bytes) override;
    std::optional<MediaRecord> media(std::uint64_t media_id) override;
    void mark_verified(std::uint64_t media_id) override;
    Result<Ok> set_avatar(UserId owner, std::optional<std::uint64_t> media_id, std::int64_t now) override;
    bool may_download(std::uint64_t media_id, UserId user) override;
    std::vector<MediaRecord> expire_media(std::int64_t unused_before, std::size_t batch) override;
    std::vector<std::string> blob_trash(std::size_t batch) override;
    void forget_trash(const std::vector<std::string>& keys) override;

private:
    Result<SendOutcome> send_now(const SendRequest& req);
    Result<SendOutcome> change_group_now(const GroupChange& change);
    AckOutcome ack_now(UserId user, DeviceId device, const std::vector<MessageId>& ids, std::int64_t now);
    // Fans out what the outbox of one conversation still holds, in seq
    // order; runs on the conversation's worker, so never beside its sends.
    void retry_conversation(std::size_t shard, const std::string& conversation_id);
    void scan_outboxes();
    void deliver_late(const SendOutcome& out);
    // Writes the inbox rows of a committed message on each target's shard,
    // in the outbox's order; clears the outbox rows it did. A shard that
    // fails keeps its rows in the outbox, and its users go to `failed`.
    std::vector<InboxTarget> fan_out(const StoredMessage& m, const std::vector<UserId>& targets, DeviceId skip_device,
                                     std::vector<UserId>* failed = nullptr);
    // Runs `job` on the worker that `key` maps to: jobs of one key run in order.
    void post(const std::string& key, std::function<void()> job);
    void worker_loop(std::size_t index);

    // Runs fn(connection) on a connection of shard `shard`; a connection
    // error on a connection that sat idle is retried once on a fresh one.
    template <class F>
    auto on(std::size_t shard, F&& fn) -> decltype(fn(std::declval<Connection&>()));
    std::size_t name_shard(const std::string& username) const;
    std::size_t media_shard(std::uint64_t media_id) const;  // "media:<id>"
    // The sweeps that ask every shard (pg_media.cpp), on one shard, from
    // where the last call stopped: media used once that no message uses any
    // more (added to `out`), messages no inbox row waits for (to `done`);
    // until `batch` in all.
    void expire_forgotten_media(std::size_t shard, std::int64_t queued_at, std::size_t batch,
                                std::vector<MediaRecord>& out);
    void expire_history_on(std::size_t shard, std::int64_t cutoff, std::size_t batch, std::size_t& done);

    PgStoreConfig config_;
    HashRing ring_;
    std::vector<std::unique_ptr<Pool>> pools_;

    struct Worker {
        std::mutex mu;
        std::condition_variable cv;
        std::deque<std::function<void()>> jobs;
        bool stopping = false;
        std::thread thread;
    };
    std::vector<std::unique_ptr<Worker>> workers_;
    std::atomic<std::size_t> queued_writes_{0};  // sends and group changes posted, not yet run

    std::mutex listener_mu_;
    std::function<void(const SendOutcome&)> late_listener_;

    std::mutex scan_mu_;
    std::condition_variable scan_cv_;
    bool scan_stopping_ = false;
    std::mutex retry_mu_;
    std::set<std::string> retrying_;  // conversations with a retry queued
    std::thread scanner_;

    // Per shard, the last row those sweeps looked at ((ts, message_id), or
    // (0, media_id)); unset: from the first row.
    struct SweepCursor {
        bool set = false;
        std::int64_t key = 0, id = 0;
    };
    std::mutex sweep_mu_;
    std::vector<SweepCursor> media_cursor_, history_cursor_;
};

}  // namespace natter::pg
