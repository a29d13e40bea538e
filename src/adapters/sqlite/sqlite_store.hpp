#pragma once
// The embedded store: one SQLite file in WAL mode. All writes go through one
// writer thread that batches whatever is queued into one transaction (group
// commit), each job in its own savepoint, so throughput is not one fsync per
// message and no caller's thread waits on disk unless it asked to. Reads use
// a small pool of read-only connections, which WAL lets run beside the writer.
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ports/store.hpp"

namespace natter::sqlite {

class Db;

struct SqliteConfig {
    std::string path;                // the database file
    bool synchronous_full = true;    // fsync every commit (FULL) or only at checkpoints (NORMAL)
    std::size_t readers = 4;         // read-only connections
    std::size_t max_batch = 1024;    // jobs per transaction
    std::size_t max_queue = 100000;  // queued sends past which commit_send answers `unavailable`
};

class SqliteStore final : public UserStore,
                          public DeviceStore,
                          public MessageStore,
                          public InboxStore,
                          public ConversationStore,
                          public RetentionStore,
                          public GroupStore,
                          public ReceiptStore,
                          public MediaStore {
public:
    explicit SqliteStore(SqliteConfig config);
    ~SqliteStore() override;

    Stores ports() { return Stores{this, this, this, this, this, this, this, this, this}; }
    std::string meta(const std::string& key);
    bool ping();                      // the file answers a read
    std::size_t queue_depth();        // writes waiting for the writer thread
    std::size_t inbox_rows();         // every device's waiting rows
    void set_meta(const std::string& key, const std::string& value);

    // UserStore
    Result<Ok> create_user(const UserRecord& user) override;
    std::optional<UserRecord> user_by_id(UserId user) override;
    std::optional<UserRecord> user_by_name(const std::string& username) override;
    Result<UserRecord> update_profile(UserId user, const ProfilePatch& patch) override;
    Result<Ok> delete_user(UserId user, std::int64_t now) override;
    bool user_deleted(UserId user) override;
    std::vector<UserId> unfinished_deletions(std::size_t batch) override;  // none: a deletion is one transaction

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

    // InboxStore
    std::vector<InboxItem> read_inbox(UserId user, DeviceId device, InboxId after, std::size_t limit) override;
    void ack(UserId user, DeviceId device, std::vector<MessageId> ids, std::int64_t now,
             std::function<void(AckOutcome)> done) override;
    std::size_t inbox_depth(UserId user, DeviceId device) override;
    bool truncated(UserId user, DeviceId device) override;
    void clear_truncated(UserId user, DeviceId device) override;

    // ConversationStore (sqlite_history.cpp)
    std::vector<ConversationSummary> conversations(UserId user, std::size_t limit) override;
    std::vector<StoredMessage> history(const std::string& conversation_id, std::int64_t from_seq,
                                       std::int64_t before_seq, std::size_t limit) override;

    // RetentionStore (sqlite_history.cpp)
    std::size_t expire_inbox(std::int64_t cutoff, std::size_t batch) override;
    std::size_t expire_history(std::int64_t cutoff, std::size_t batch) override;
    std::size_t expire_dedupe(std::int64_t cutoff, std::size_t batch) override;
    std::size_t expire_credentials(std::int64_t now, std::size_t batch) override;

    // GroupStore (sqlite_groups.cpp)
    void change_group(GroupChange change, std::function<void(Result<SendOutcome>)> done) override;
    std::optional<GroupRecord> group(std::uint64_t group_id) override;
    std::optional<Membership> membership(const std::string& conversation_id, UserId user) override;
    std::vector<UserId> members(const std::string& conversation_id) override;
    std::vector<UserId> contacts_among(UserId user, const std::vector<UserId>& others) override;

    // ReceiptStore (sqlite_groups.cpp)
    void mark_read(UserId user, const std::string& conversation_id, std::int64_t up_to_seq, std::int64_t now,
                   std::function<void(Result<std::vector<ReceiptChange>>)> done) override;
    std::vector<MemberReceipt> receipts(const std::string& conversation_id) override;
    std::vector<MemberReceipt> receipts_since(UserId user, std::int64_t since, std::size_t limit) override;
    std::int64_t receipts_seen(UserId user, DeviceId device) override;
    void set_receipts_seen(UserId user, DeviceId device, std::int64_t at, std::function<void()> done) override;

    // MediaStore (sqlite_media.cpp)
    Result<Ok> add_media(const MediaRecord& media, std::uint64_t quota_bytes) override;
    std::optional<MediaRecord> media(std::uint64_t media_id) override;
    void mark_verified(std::uint64_t media_id) override;
    Result<Ok> set_avatar(UserId owner, std::optional<std::uint64_t> media_id, std::int64_t now) override;
    bool may_download(std::uint64_t media_id, UserId user) override;
    std::vector<MediaRecord> expire_media(std::int64_t unused_before, std::size_t batch) override;
    std::vector<std::string> blob_trash(std::size_t batch) override;
    void forget_trash(const std::vector<std::string>& keys) override;

private:
    // A job runs inside the batch transaction, in its own savepoint; `after`
    // runs once the batch committed (ok=true) or failed (ok=false).
    struct Job {
        std::function<bool(Db&)> run;  // false: roll this job's savepoint back
        std::function<void(bool committed)> after;
    };
    void enqueue(Job job);
    template <class T>
    T write_sync(std::function<T(Db&)> body, T on_failure);
    template <class Fn>
    auto read(Fn&& fn);
    void writer_loop();
    void run_batch(std::vector<Job>& batch);

    SqliteConfig config_;
    std::unique_ptr<Db> writer_db_;
    std::mutex queue_mu_;
    std::condition_variable queue_cv_;
    std::deque<Job> queue_;
    bool stopping_ = false;
    std::thread writer_;

    std::mutex readers_mu_;
    std::condition_variable readers_cv_;
    std::vector<std::unique_ptr<Db>> readers_;
};

}  // namespace natter::sqlite
