#pragma once
// Every bound natterd enforces, in one place. Defaults follow PROTOCOL.md;
// all are configurable (see docs/PROTOCOL.md, "Limits").
#include <cstddef>
#include <cstdint>
#include <string>

namespace natter {

struct Limits {
    std::size_t max_frame_bytes = 64 * 1024;       // larger frame: close 1009
    std::size_t max_http_body_bytes = 64 * 1024;   // larger body: 413 too_large
    std::size_t max_body_chars = 500;              // code points in a text body
    std::size_t max_devices = 10;                  // devices per user
    std::size_t push_window = 256;                 // unacked pushes per socket
    std::size_t outbound_queue_bytes = 4 << 20;    // queued bytes per socket: close 4008
    std::size_t max_ack_ids = 1024;                // ids in one ack frame
    std::size_t max_request_id_chars = 64;         // the client-chosen `id`
    double send_rate_per_s = 50;                   // sends per user per second
    double send_burst = 200;                       //   and the bucket's depth
    double frame_rate_per_s = 500;                 // frames per socket per second
    double frame_burst = 1000;                     //   past this: close 1008
    double login_rate_per_s = 0.2;                 // sign-ins per username per second
    double login_burst = 10;                       //   and the bucket's depth
    double login_rate_per_address_per_s = 1;       // sign-ins and registrations per client address per second
    double login_burst_per_address = 30;           //   and the bucket's depth (core/address.hpp: who is exempt)
    std::int64_t access_ttl_s = 900;               // access token lifetime
    std::int64_t refresh_ttl_s = 30 * 24 * 3600;   // refresh token lifetime
    std::int64_t ticket_ttl_s = 30;                // WebSocket ticket lifetime
    std::size_t max_connections = 19000;           // WebSockets per process: past this 503
    std::size_t max_connections_per_address = 256;  // TCP connections per IPv4 address or IPv6 /64 (0: no limit): past this 429, closed
    std::string per_address_exempt = "127.0.0.0/8,::1";  // addresses and prefixes the line above does not count (a proxy in front)
    std::int64_t http_timeout_ms = 30000;          // to read a whole request (from accept or the last answer on), or write an answer
    std::size_t max_pending_requests = 1024;       // HTTP requests and upgrades being worked on: past this 503
    std::size_t max_pending_writes = 100000;       // sends queued for the store: past this `unavailable`
    std::size_t max_group_members = 200;           // members per group, the creator included: past this 409
    std::size_t max_group_name_chars = 100;        // code points in a group's name
    double group_changes_per_min = 60;             // creates, adds, removes per user (and the burst): past this 429
    std::size_t max_presence_users = 500;          // users one socket watches
    std::int64_t presence_ttl_ms = 60000;          // a silent socket is offline (and closed) after this
    std::size_t max_sync_receipts = 2000;          // member watermarks a device catches up on per sync

    // The largest `message` frame a text body can make: every code point
    // escaped as \uXXXX, plus the envelope.
    std::size_t max_message_frame_bytes() const { return max_body_chars * 6 + 1024; }
};

// Empty when the limits make sense together; otherwise what to fix.
std::string check_limits(const Limits& l);

}  // namespace natter
