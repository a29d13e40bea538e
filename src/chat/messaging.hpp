#pragma once
// Sending, acknowledging and reading inboxes: the rules of DESIGN.md's send
// path. `send` validates, hands the message to the conversation's home shard
// in one transaction, and after commit publishes it to every recipient's
// channel. Nothing here blocks the calling thread: store reads run on the
// injected blocking executor, writes complete through the store's callbacks.
#include <array>
#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "chat/accounts.hpp"
#include "chat/media.hpp"
#include "chat/rate_limiter.hpp"
#include "core/error.hpp"
#include "core/limits.hpp"
#include "obs/histogram.hpp"
#include "ports/bus.hpp"
#include "ports/clock.hpp"
#include "ports/store.hpp"

namespace natter {

struct SendCommand {
    std::string trace_id;  // follows the send through the log lines
    std::string client_msg_id;
    std::optional<UserId> to_user;
    std::optional<std::uint64_t> to_group;
    std::optional<std::string> body;
    std::optional<std::string> attachment_json;
};

struct MessagingStats {
    std::atomic<std::uint64_t> sends_accepted{0};
    std::atomic<std::uint64_t> sends_duplicate{0};
    std::atomic<std::uint64_t> sends_rejected{0};
    std::array<std::atomic<std::uint64_t>, kCodeCount> rejected_by_code{};
    std::atomic<std::uint64_t> messages_pushed{0};  // message frames queued to sockets
    LatencyHistogram store_latency;                 // commit_send: hand-over to commit
    std::atomic<std::uint64_t> acks_removed{0};
    std::atomic<std::uint64_t> acks_ignored{0};  // ids that were not in the device's inbox
    std::atomic<std::uint64_t> receipts_published{0};  // receipt notices, one per user told
};

class MessagingService {
public:
    using Blocking = std::function<void(std::function<void()>)>;
    MessagingService(Stores stores, Bus& bus, IdGenerator& ids, const Clock& clock, const Limits& limits,
                     Blocking blocking);
    ~MessagingService();
    MessagingService(const MessagingService&) = delete;
    MessagingService& operator=(const MessagingService&) = delete;

    // `done` gets the committed message (the first one, for a retry) or an
    // error; it runs on a store or pool thread. Returns true when the send
    // was handed to the store (or refused) before returning; false when it
    // waits for a media check first: then `handed_off` runs once it was,
    // and the caller holds its later sends until then to keep their order.
    bool send(const Principal& who, SendCommand cmd, std::function<void(Result<StoredMessage>)> done,
              const std::function<void()>& handed_off = [] {});
    // Attachments need the media service; without one they are refused.
    void set_media(MediaService* media) { media_ = media; }
    // Stops listening for the store's late deliveries, and the destructor
    // then leaves the store alone: for an owner that destroys the store
    // first (natterd lets the store finish the sends it queued, which answer
    // through this service, before the service goes).
    void detach_from_store();
    // `done` runs once the rows are gone, on a store thread. The delivered
    // watermarks the ack moved reach the senders as `receipt` frames.
    void ack(const Principal& who, std::vector<MessageId> ids, std::function<void()> done = {});
    // The user has seen the conversation up to `up_to_seq`: the read
    // watermark moves and the senders (and the user's other devices) get a
    // `receipt`. `done` gets the error, if any, on a store thread.
    void mark_read(const Principal& who, const std::string& conversation_id, std::int64_t up_to_seq,
                   std::function<void(Result<Ok>)> done);
    // Tells the devices of every member of a committed message: each has an
    // inbox row waiting. Called on the store's writer thread only, in commit
    // order: a session drops a push for a row older than one it already has.
    void publish(const SendOutcome& out);
    void publish_receipts(const std::vector<ReceiptChange>& changes);
    struct InboxPage {
        std::vector<InboxItem> items;
        bool truncated = false;  // retention dropped rows of this inbox since the last look
    };
    // `check_truncated`: also read the device's truncated mark.
    // clear_truncated: the device was told (its sync_done said so).
    void clear_truncated(const Principal& who) { stores_.inbox->clear_truncated(who.user, who.device); }
    void read_inbox(const Principal& who, InboxId after, std::size_t limit, bool check_truncated,
                    std::function<void(Result<InboxPage>)> done);

    // The receipt frames a device missed: watermarks of its user's
    // conversations that moved since the device's last sync (at most
    // max_sync_receipts), and the change time to remember once it was told.
    struct ReceiptCatchUp {
        std::vector<std::string> frames;
        std::int64_t seen_at = 0;
    };
    void receipts_for_sync(const Principal& who, std::function<void(Result<ReceiptCatchUp>)> done);
    void receipts_seen(const Principal& who, std::int64_t at, std::function<void()> done) {
        stores_.receipts->set_receipts_seen(who.user, who.device, at, std::move(done));
    }

    // Whether the device still exists with the principal's token generation:
    // a revocation may have raced the handshake. `done` runs on a pool thread.
    void check_credentials(const Principal& who, std::function<void(bool valid)> done);

    const MessagingStats& stats() const { return stats_; }
    void count_pushes(std::uint64_t n) { stats_.messages_pushed.fetch_add(n, std::memory_order_relaxed); }

private:
    void commit(const Principal& who, SendRequest req, std::string trace_id,
                std::function<void(Result<StoredMessage>)> done);
    void reject(const std::string& trace_id, const Principal& who, const Error& e);

    Stores stores_;
    bool detached_ = false;
    Bus& bus_;
    IdGenerator& ids_;
    const Clock& clock_;
    const Limits& limits_;
    Blocking blocking_;
    KeyedRateLimiter send_limiter_;
    MediaService* media_ = nullptr;
    MessagingStats stats_;
};

}  // namespace natter
