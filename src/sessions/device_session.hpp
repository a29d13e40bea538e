#pragma once
// One connected device: parses its frames, runs them through the chat
// service, and pushes its inbox with a window of unacked messages.
//
// Delivery: the inbox is the source of truth. `cursor_` is the highest inbox
// row pushed on this socket. A bus event for a row past the cursor is pushed
// at once while the socket is caught up, has room in its window and has
// pushed the row the event names as the previous one; otherwise (an event
// missed, or overtaken by a later one from another node) the session reads
// the inbox from the cursor when room frees up.
// So nothing written before or during the connect is missed, nothing is
// pushed twice on one socket (unless the client asks with `sync`), and live
// pushes never overtake older inbox rows.
//
// Every method but on_bus runs on the connection's strand.
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json_fwd.hpp>

#include "chat/accounts.hpp"
#include "chat/messaging.hpp"
#include "chat/presence.hpp"
#include "chat/rate_limiter.hpp"
#include "core/limits.hpp"
#include "ports/bus.hpp"
#include "ports/clock.hpp"
#include "sessions/connection.hpp"

namespace natter {

class SessionRegistry;

class DeviceSession : public std::enable_shared_from_this<DeviceSession> {
public:
    // Without `presence`, presence and typing frames are refused.
    DeviceSession(Principal who, std::weak_ptr<Connection> conn, MessagingService& messaging,
                  SessionRegistry& registry, const Limits& limits, const Clock& clock,
                  PresenceService* presence = nullptr);

    const Principal& principal() const { return who_; }
    const std::string& holder() const { return holder_; }  // this socket's presence key
    void start();                           // subscribe (via the registry), then drain the inbox
    void on_text(const std::string& text);  // one text frame from the client
    void on_binary();                       // a binary frame: not part of the protocol
    void on_control();                      // a ping or pong: counts against the frame budget
    void on_closed();                       // the socket is gone
    // From the bus, any thread.
    void on_bus(std::shared_ptr<const BusEvent> ev, InboxRow row);
    // The bus may have lost events of this user: read the inbox; any thread.
    void on_resync();
    // A frame for every socket of the user (receipt, typing); any thread.
    void on_notice(std::shared_ptr<const std::string> frame);
    // A watched user's presence changed (or the bus lost its events for a
    // while: the status is read again); any thread.
    void on_presence(UserId user, std::shared_ptr<const BusEvent> ev);
    void close(int code, std::string reason);  // any thread
    // For tests and metrics, on the strand: pushed-but-unacked messages, and
    // acked ids still kept out of reads.
    std::size_t in_flight() const { return in_flight_.size(); }
    std::size_t acks_in_doubt() const { return deleting_.size(); }

private:
    void dispatch(const std::string& text);
    void handle_send(const std::string& request_id, const nlohmann::json& frame);
    void pump_sends();
    void handle_ack(const std::string& request_id, const nlohmann::json& frame);
    void handle_read(const std::string& request_id, const nlohmann::json& frame);
    void handle_typing(const std::string& request_id, const nlohmann::json& frame);
    void handle_presence(const std::string& request_id, const nlohmann::json& frame);
    void show_presence(const PresenceStatus& s, std::shared_ptr<const std::string> frame);
    // Reads the users' statuses and shows them (unless a newer watch list came).
    void read_presence(std::vector<UserId> users);
    void maybe_finish_sync();  // once drained: catch up on receipts, then sync_done
    void finish_sync();
    // Errors of fire-and-forget requests come back on any thread.
    std::function<void(Result<Ok>)> error_reply(const std::string& request_id);
    void deliver(std::shared_ptr<const BusEvent> ev, InboxRow row);
    void maybe_pull();
    void on_pulled(std::uint64_t generation, std::uint64_t pull_no, std::size_t asked,
                   Result<MessagingService::InboxPage> page);
    void push(std::shared_ptr<const std::string> frame);
    void reply_error(const std::string& request_id, Error e);
    template <class Fn>
    void on_strand(Fn&& fn);

    Principal who_;
    std::weak_ptr<Connection> conn_;
    MessagingService& messaging_;
    SessionRegistry& registry_;
    const Limits& limits_;
    const Clock& clock_;
    PresenceService* presence_;
    std::string holder_;
    TokenBucket frame_bucket_;
    TokenBucket typing_bucket_;
    bool closed_ = false;
    // Sends not yet handed to the store, in the socket's order.
    struct QueuedSend {
        std::string request_id;
        SendCommand cmd;
    };
    static constexpr std::size_t kMaxQueuedSends = 256;
    std::deque<QueuedSend> send_queue_;
    bool send_busy_ = false;  // a send waits for its media check
    // Presence: the users watched and the newest change shown for each.
    std::unordered_map<UserId, std::int64_t> watching_;
    std::uint64_t watch_generation_ = 0;       // bumped by each `presence` frame

    InboxId cursor_ = 0;                       // highest inbox row pushed on this socket
    std::unordered_set<MessageId> in_flight_;  // pushed, not yet acked
    // Acked ids whose rows a read may still return: kPending until the
    // delete commits, then the number of the read outstanding at that moment
    // (dropped once it completes; dropped at once when none was). Bounded by
    // the acks of one delete's round trip.
    std::unordered_map<MessageId, std::uint64_t> deleting_;
    static constexpr std::uint64_t kPending = ~std::uint64_t(0);
    std::uint64_t pulls_started_ = 0;
    bool pulling_ = false;                     // an inbox read is outstanding
    bool dirty_ = false;                       // a bus event came during the read
    bool caught_up_ = false;                   // the last read found no more rows
    bool sync_pending_ = true;                 // send sync_done when caught up
    bool truncated_checked_ = false;           // the device's truncated mark was taken
    bool truncated_ = false;                   // tell the next sync_done
    bool receipts_loading_ = false;            // the receipts of this sync are being read
    std::uint64_t pull_generation_ = 0;        // bumped by `sync`, to drop stale reads
};

}  // namespace natter
