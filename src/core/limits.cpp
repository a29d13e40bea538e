#include "core/limits.hpp"

#include "core/address.hpp"

namespace natter {

std::string check_limits(const Limits& l) {
    auto n = [](std::size_t v) { return std::to_string(v); };
    if (l.max_frame_bytes < 1024 || l.max_frame_bytes > (16u << 20)) return "max_frame_bytes must be 1 KiB..16 MiB";
    if (l.max_http_body_bytes < 1024 || l.max_http_body_bytes > (16u << 20)) return "max_http_body_bytes must be 1 KiB..16 MiB";
    if (l.max_body_chars < 1 || l.max_body_chars * 4 + 1024 > l.max_frame_bytes)
        return "max_body_chars must be at least 1, and a body of 4-byte characters must fit in max_frame_bytes (" +
               n(l.max_frame_bytes) + ")";
    if (l.max_devices < 1 || l.max_devices > 1000) return "max_devices must be 1..1000";
    if (l.push_window < 1 || l.push_window > 100000) return "push_window must be 1..100000";
    if (l.outbound_queue_bytes < l.push_window * l.max_message_frame_bytes())
        return "outbound_queue_bytes must hold a full push window: at least push_window x (max_body_chars x 6 + 1024) = " +
               n(l.push_window * l.max_message_frame_bytes());
    if (l.max_ack_ids < 1) return "max_ack_ids must be at least 1";
    if (!(l.send_rate_per_s > 0) || !(l.send_burst >= 1)) return "send_rate must be > 0 and send_burst >= 1";
    if (!(l.frame_rate_per_s > 0) || !(l.frame_burst >= 1)) return "frame_rate must be > 0 and frame_burst >= 1";
    if (!(l.login_rate_per_s > 0) || !(l.login_burst >= 1)) return "login_rate must be > 0 and login_burst >= 1";
    if (!(l.login_rate_per_address_per_s > 0) || !(l.login_burst_per_address >= 1))
        return "login_rate_per_address must be > 0 and login_burst_per_address >= 1";
    if (l.access_ttl_s < 30 || l.access_ttl_s > 86400) return "access_ttl must be 30..86400 seconds";
    if (l.refresh_ttl_s < l.access_ttl_s) return "refresh_ttl must be at least access_ttl";
    if (l.ticket_ttl_s < 1 || l.ticket_ttl_s > 600) return "ticket_ttl must be 1..600 seconds";
    if (l.max_connections < 1) return "max_connections must be at least 1";
    if (auto exempt = parse_prefixes(l.per_address_exempt); !exempt)
        return "per_address_exempt: " + exempt.error().message;
    if (l.http_timeout_ms < 100 || l.http_timeout_ms > 3600 * 1000) return "http_timeout_ms must be 100..3600000";
    if (l.max_pending_requests < 1 || l.max_pending_writes < 1) return "max_pending_requests and max_pending_writes must be at least 1";
    if (l.max_group_members < 2 || l.max_group_members > 100000) return "max_group_members must be 2..100000";
    if (!(l.group_changes_per_min > 0)) return "group_changes_per_min must be > 0";
    if (l.max_group_name_chars < 1 || l.max_group_name_chars > 1000) return "max_group_name_chars must be 1..1000";
    if (l.max_presence_users < 1 || l.max_presence_users > 10000) return "max_presence_users must be 1..10000";
    if (l.presence_ttl_ms < 1000 || l.presence_ttl_ms > 3600 * 1000) return "presence_ttl_ms must be 1000..3600000";
    if (l.max_sync_receipts < 1) return "max_sync_receipts must be at least 1";
    return "";
}

}  // namespace natter
