// natter-bench: the load generator, its delivery checker, and the raw relay.
//   natter-bench direct --users FILE --target 127.0.0.1:PORT [--window W | --rate R] [--duration S] [--reconnect] [--verify] [--json]
//   natter-bench offline --users FILE --target 127.0.0.1:PORT --count K [--window W] [--json]
//   natter-bench connections --users FILE --target 127.0.0.1:PORT --count N [--server-pid PID] [--hold S] [--json]
//   natter-bench group --users FILE --target 127.0.0.1:PORT [--members M] [--messages N] [--window W | --rate R] [--verify] [--json]
//   natter-bench relay --listen 127.0.0.1:PORT [--threads N]
//   natter-bench ring [--users 1000000] [--max-shards 16] [--vnodes 1,2,4,...,1024] [--shards 3,8,16] [--name-sets 100] [--json]

#include "bench/direct.hpp"
#include "bench/relay.hpp"
#include "bench/report.hpp"
#include "bench/ring_sim.hpp"
#include "bench/scenarios.hpp"
#include "bench/users.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>

namespace {

// "HOST:PORT" -> host, port; throws on anything else.
std::pair<std::string, std::uint16_t> split_address(const std::string& a) {
    auto colon = a.rfind(':');
    if (colon == std::string::npos || colon == 0) throw std::runtime_error("expected HOST:PORT, got \"" + a + "\"");
    unsigned long port = std::stoul(a.substr(colon + 1));
    if (port > 65535) throw std::runtime_error("port out of range in \"" + a + "\"");
    return {a.substr(0, colon), static_cast<std::uint16_t>(port)};
}

bool loopback(const std::string& host) { return host.rfind("127.", 0) == 0; }

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"natter-bench: load generator and raw relay for natter"};
    app.require_subcommand(1);

    natter::bench::DirectOptions d;
    std::string users_file, target = "127.0.0.1:8080";
    bool json = false;
    auto* direct = app.add_subcommand("direct", "pairs of users: user 2k sends 1:1 messages to user 2k+1");
    direct->add_option("--users", users_file, "JSON lines from `natterd admin seed-users`")->required();
    direct->add_option("--target", target, "natterd or relay address, HOST:PORT (loopback only)")->capture_default_str();
    direct->add_option("--pairs", d.pairs, "pairs to use (0: all the users make)")->capture_default_str();
    direct->add_option("--rate", d.rate, "open loop: sends/s over all senders (0: closed loop)")->capture_default_str();
    direct->add_option("--window", d.window, "closed loop: messages in flight per sender")->capture_default_str();
    direct->add_option("--duration", d.duration_s, "measured seconds")->capture_default_str();
    direct->add_option("--drain", d.drain_s, "seconds to wait after the window for every send to land")->capture_default_str();
    direct->add_option("--connect-timeout", d.connect_timeout_s, "seconds for every socket to connect")->capture_default_str();
    direct->add_option("--source-ips", d.source_ips, "distinct 127.x.y.z source addresses (0: one per socket)")->capture_default_str();
    direct->add_option("--ack-batch", d.ack_batch, "ack when this many messages are pending (else every 20 ms)")->capture_default_str();
    direct->add_flag("--verify", d.verify, "check delivery: no loss, no duplicate, gapless seq runs (natterd only)");
    direct->add_flag("--reconnect", d.reconnect,
                     "ride out faults: reopen sockets that end (backoff 50 ms..2 s), resend unanswered sends with the same "
                     "client_msg_id, retry unavailable/rate_limited after retry_after_ms");
    direct->add_flag("--json", json, "print the report as one JSON object instead of a table");
    direct->add_flag("--progress,!--no-progress", d.progress, "the once-a-second progress line on stderr (default on)");

    natter::bench::GroupOptions grp;
    auto* group = app.add_subcommand("group", "user 0 creates a group of M members and sends N messages into it; fan-out rate and latency");
    group->add_option("--users", users_file, "JSON lines from `natterd admin seed-users` (the first M are the members)")->required();
    group->add_option("--target", target, "natterd address, HOST:PORT (loopback only)")->capture_default_str();
    group->add_option("--members", grp.members, "group size, the sender included (natterd's --max-group-members: 200 by default)")->capture_default_str();
    group->add_option("--messages", grp.messages, "messages user 0 sends into the group")->capture_default_str();
    group->add_option("--rate", grp.rate, "open loop: sends/s (0: closed loop)")->capture_default_str();
    group->add_option("--window", grp.window, "closed loop: messages not yet delivered to every member")->capture_default_str();
    group->add_option("--ack-batch", grp.ack_batch, "ack when this many messages are pending (else every 20 ms)")->capture_default_str();
    group->add_option("--connect-timeout", grp.connect_timeout_s, "seconds to create the group and connect and drain every member")->capture_default_str();
    group->add_option("--timeout", grp.timeout_s, "seconds from the first send until every delivery")->capture_default_str();
    group->add_option("--source-ips", grp.source_ips, "distinct 127.x.y.z source addresses (0: one per socket)")->capture_default_str();
    group->add_option("--name", grp.name, "the group's name (the run's tag is appended)")->capture_default_str();
    group->add_flag("--verify", grp.verify, "check that every member got every message once, in the group's seq order");
    group->add_flag("--json", json, "print the report as one JSON object instead of a table");
    group->add_flag("--progress,!--no-progress", grp.progress, "the once-a-second progress line on stderr (default on)");

    natter::bench::OfflineOptions off;
    auto* offline = app.add_subcommand("offline", "queue K messages for an offline device, then connect it and time the drain");
    offline->add_option("--users", users_file, "JSON lines from `natterd admin seed-users` (the first two are used)")->required();
    offline->add_option("--target", target, "natterd address, HOST:PORT (loopback only)")->capture_default_str();
    offline->add_option("--count", off.count, "messages to queue")->capture_default_str();
    offline->add_option("--window", off.window, "sends without a `sent` answer yet")->capture_default_str();
    offline->add_option("--ack-batch", off.ack_batch, "ack when this many messages are pending (else every 20 ms)")->capture_default_str();
    offline->add_option("--timeout", off.timeout_s, "seconds for the whole run")->capture_default_str();
    offline->add_flag("--json", json, "print the report as one JSON object instead of a table");
    offline->add_flag("--progress,!--no-progress", off.progress, "progress lines on stderr (default on)");

    natter::bench::ConnectionsOptions con;
    auto* connections = app.add_subcommand("connections", "hold N idle authenticated WebSockets; connect rate, RSS and socket memory");
    connections->add_option("--users", users_file, "JSON lines from `natterd admin seed-users` (one user per socket)")->required();
    connections->add_option("--target", target, "natterd address, HOST:PORT (loopback only)")->capture_default_str();
    connections->add_option("--count", con.count, "sockets to open")->capture_default_str();
    connections->add_option("--server-pid", con.server_pid, "natterd's pid, for its VmRSS before and after (0: none)")->capture_default_str();
    connections->add_option("--hold", con.hold_s, "seconds to hold the sockets once all are synced")->capture_default_str();
    connections->add_option("--max-connecting", con.max_connecting, "handshakes in progress at once")->capture_default_str();
    connections->add_option("--connect-timeout", con.connect_timeout_s, "seconds for every socket to connect")->capture_default_str();
    connections->add_flag("--json", json, "print the report as one JSON object instead of a table");
    connections->add_flag("--progress,!--no-progress", con.progress, "progress lines on stderr (default on)");

    natter::bench::RelayOptions r;
    std::string listen = "127.0.0.1:9000";
    auto* relay = app.add_subcommand("relay", "the raw relay: the throughput limit natterd is measured against");
    relay->add_option("--listen", listen, "HOST:PORT, port 0 picks a free one")->capture_default_str();
    relay->add_option("--threads", r.threads, "I/O threads")->capture_default_str();

    natter::bench::RingSimOptions rs;
    auto* ring = app.add_subcommand("ring", "simulate the shard ring: users moved on a resize, load balance against vnodes");
    ring->add_option("--users", rs.users, "users placed on the ring")->capture_default_str();
    ring->add_option("--ids", rs.ids, "user ids: snowflake (as natterd makes them) or sequential (1..users)")->capture_default_str();
    ring->add_option("--max-shards", rs.max_shards, "moves table: grow from 1 to this many shards")->capture_default_str();
    ring->add_option("--move-vnodes", rs.move_vnodes, "moves table: vnodes per shard")->capture_default_str();
    ring->add_option("--vnodes", rs.vnodes, "balance table: vnode counts, comma separated")->delimiter(',')->capture_default_str();
    ring->add_option("--shards", rs.shards, "balance table: shard counts, comma separated")->delimiter(',')->capture_default_str();
    ring->add_option("--name-sets", rs.name_sets, "balance table: other shard name sets for the arc mean and worst (0: none)")->capture_default_str();
    ring->add_flag("--json", json, "print the report as one JSON object instead of tables");

    CLI11_PARSE(app, argc, argv);
    try {
        if (ring->parsed()) {
            auto report = natter::bench::run_ring_sim(rs);
            if (json) std::cout << report.dump() << std::endl;
            else std::cout << natter::bench::ring_table(report) << std::flush;
            return report.value("ok", false) ? 0 : 1;
        }
        if (direct->parsed()) {
            std::tie(d.host, d.port) = split_address(target);
            if (!loopback(d.host)) throw std::runtime_error("--target must be a loopback address (127.x.y.z)");
            if (d.duration_s <= 0) throw std::runtime_error("--duration must be positive");
            if (d.ack_batch == 0 || d.ack_batch > 1024) throw std::runtime_error("--ack-batch must be 1..1024");
            d.users = natter::bench::read_users_file(users_file);
            auto result = natter::bench::run_direct(d);
            if (json) std::cout << natter::bench::to_json(result).dump() << std::endl;
            else std::cout << natter::bench::to_table(result) << std::flush;
            return result.ok() ? 0 : 1;
        }
        if (offline->parsed() || connections->parsed() || group->parsed()) {
            std::string host;
            std::uint16_t port = 0;
            std::tie(host, port) = split_address(target);
            if (!loopback(host)) throw std::runtime_error("--target must be a loopback address (127.x.y.z)");
            nlohmann::json report;
            if (group->parsed()) {
                if (grp.ack_batch == 0 || grp.ack_batch > 1024) throw std::runtime_error("--ack-batch must be 1..1024");
                if (grp.rate < 0) throw std::runtime_error("--rate must not be negative");
                grp.host = host;
                grp.port = port;
                grp.users = natter::bench::read_users_file(users_file);
                report = natter::bench::run_group(grp);
            } else if (offline->parsed()) {
                if (off.ack_batch == 0 || off.ack_batch > 1024) throw std::runtime_error("--ack-batch must be 1..1024");
                off.host = host;
                off.port = port;
                off.users = natter::bench::read_users_file(users_file);
                report = natter::bench::run_offline(off);
            } else {
                if (con.max_connecting == 0) throw std::runtime_error("--max-connecting must be at least 1");
                con.host = host;
                con.port = port;
                con.users = natter::bench::read_users_file(users_file);
                report = natter::bench::run_connections(con);
            }
            if (json) std::cout << report.dump() << std::endl;
            else std::cout << natter::bench::scenario_table(report) << std::flush;
            return report.value("ok", false) ? 0 : 1;
        }
        std::tie(r.host, r.port) = split_address(listen);
        if (!loopback(r.host)) throw std::runtime_error("--listen must be a loopback address (127.x.y.z)");
        natter::bench::run_relay(r, [&](std::uint16_t port) {
            std::printf("natter-bench relay: listening on %s:%u\n", r.host.c_str(), static_cast<unsigned>(port));
            std::fflush(stdout);
        });
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "natter-bench: " << e.what() << "\n";
        return 2;
    }
}
