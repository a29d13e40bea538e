#pragma once
// The delivery checker behind `natter-bench --verify`. It records every `sent`
// and every `message` a run sees and proves, per recipient device, the
// delivery invariants of DESIGN.md: no loss, nothing shown twice, and each
// conversation's messages in a gapless seq run linked by prev_message_id.
// A message may be owed to many devices (a group's fan-out): each of them
// must get it once, at the seq its `sent` gave, so every member sees the
// group's one order. Plain data in, a report out: no sockets, no Beast, so
// unit tests drive it.

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace natter::bench {

struct CheckReport {
    std::uint64_t sent = 0;        // `sent` answers recorded
    std::uint64_t expected = 0;    // (message, recipient device) deliveries owed
    std::uint64_t received = 0;    // `message` frames recorded (duplicates included)
    std::uint64_t devices = 0;     // recipient devices seen
    std::uint64_t runs = 0;        // (device, conversation) runs checked
    std::uint64_t lost = 0;        // (message, device) owed and never delivered
    std::uint64_t duplicates = 0;  // same message_id twice to a device on one connection
    std::uint64_t order = 0;       // seq gap, reorder or prev_message_id mismatch
    std::uint64_t mismatched = 0;  // a message whose conversation/seq differs from its `sent`
    std::uint64_t redelivered = 0; // a message again on a later connection of its device (allowed)
    std::vector<std::string> examples;  // the first few violations, for humans

    bool ok() const { return lost == 0 && duplicates == 0 && order == 0 && mismatched == 0; }
};

class Checker {
public:
    using Devices = std::shared_ptr<const std::vector<std::string>>;

    // A `sent` answer: `message_id` got `seq` in `conversation`, and must reach `recipient_device`.
    void on_sent(const std::string& recipient_device, const std::string& message_id,
                 const std::string& conversation, std::uint64_t seq);
    // The same for a message owed to every device in `recipient_devices` (a
    // group's members; one list may be shared by all of a run's messages).
    void on_sent(Devices recipient_devices, const std::string& message_id, const std::string& conversation,
                 std::uint64_t seq);
    // A `message` frame arrived at `device`.
    void on_message(const std::string& device, const std::string& message_id, const std::string& conversation,
                    std::uint64_t seq, const std::string& prev_message_id);
    // `device` connected again: messages it had not acked may legitimately
    // come again (natterd pushes unacked inbox rows on every connection).
    // Call it before the new connection's first frame; extra calls (an
    // attempt that failed) are harmless. A redelivery counts neither as a
    // duplicate nor in the order runs, which hold each message's first
    // arrival: a device's first arrivals must still form gapless seq runs.
    void on_reconnect(const std::string& device);

    CheckReport check() const;

private:
    struct Sent {
        Devices devices;
        std::string conversation;
        std::uint64_t seq;
    };
    struct Arrival {
        std::string message_id, prev_message_id;
        std::uint64_t seq;
    };
    struct Device {
        std::uint64_t epoch = 0;                                         // bumped on reconnect
        std::unordered_map<std::string, std::uint64_t> seen;            // message_id -> epoch of last arrival
        std::unordered_map<std::string, std::vector<Arrival>> runs;     // conversation -> first arrivals, in order
        std::uint64_t duplicates = 0, redelivered = 0;
        std::vector<std::string> duplicate_examples;
    };
    std::unordered_map<std::string, Sent> sent_;  // message_id -> where it must arrive
    std::unordered_map<std::string, Device> devices_;
    std::uint64_t received_ = 0;
};

}  // namespace natter::bench
