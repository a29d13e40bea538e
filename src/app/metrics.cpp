#include "app/metrics.hpp"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

namespace natter {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily one(const std::string& name, const std::string& help, MetricType type, double value) {
    ClientMetric m;
    if (type == MetricType::Counter) m.counter.value = value;
    else m.gauge.value = value;
    return MetricFamily{name, help, type, {m}};
}

std::uint64_t rss_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::uint64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * std::uint64_t(::sysconf(_SC_PAGESIZE));
}

std::size_t open_fds() {
    std::size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (auto* e = ::readdir(d))
            if (e->d_name[0] != '.') ++n;
        ::closedir(d);
    }
    return n ? n - 1 : 0;  // not the directory handle itself
}

}  // namespace

std::string render_metrics(const MetricsInputs& in) {
    const auto& s = *in.messaging;
    std::vector<MetricFamily> f;
    f.push_back(one("natter_connections", "Open WebSockets.", MetricType::Gauge, double(in.connections)));
    f.push_back(one("natter_frames_in_total", "WebSocket frames received.", MetricType::Counter, double(in.frames_in)));
    f.push_back(one("natter_frames_out_total", "WebSocket frames written.", MetricType::Counter, double(in.frames_out)));
    f.push_back(one("natter_http_requests_total", "HTTP requests read (WebSocket handshakes included).",
                    MetricType::Counter, double(in.http_requests)));
    f.push_back(one("natter_connections_refused_total",
                    "TCP connections answered 429 and closed at accept: over limits.max_connections_per_address.",
                    MetricType::Counter, double(in.refused_per_address)));

    MetricFamily sends{"natter_sends_total", "Sends by result: accepted, duplicate (a retry), or the error code.",
                       MetricType::Counter, {}};
    auto add = [&](const std::string& result, std::uint64_t v) {
        ClientMetric m;
        m.label = {{"result", result}};
        m.counter.value = double(v);
        sends.metric.push_back(m);
    };
    add("accepted", s.sends_accepted.load());
    add("duplicate", s.sends_duplicate.load());
    for (std::size_t c = 0; c < kCodeCount; ++c) add(code_name(Code(c)), s.rejected_by_code[c].load());
    f.push_back(sends);

    f.push_back(one("natter_messages_delivered_total", "Message frames pushed to devices (a re-push counts again).",
                    MetricType::Counter, double(s.messages_pushed.load())));
    f.push_back(one("natter_messages_acked_total", "Inbox rows removed by acks.", MetricType::Counter,
                    double(s.acks_removed.load())));
    f.push_back(one("natter_acks_ignored_total", "Acked ids that were not in the device's inbox.", MetricType::Counter,
                    double(s.acks_ignored.load())));
    f.push_back(one("natter_inbox_depth", "Inbox rows waiting for an ack, over all devices.", MetricType::Gauge,
                    double(in.inbox_rows)));
    f.push_back(one("natter_outbox_backlog",
                    "Writes the store owes. SQLite: sends handed to the writer, not yet committed. PostgreSQL: outbox "
                    "rows, fan-outs committed on a home shard and not yet written to a recipient's shard.",
                    MetricType::Gauge, double(in.outbox_backlog)));
    if (!in.shards.empty()) {
        MetricFamily up{"natter_store_shard_up", "PostgreSQL shards: 1 when the shard answered its last probe (every 5 s).",
                        MetricType::Gauge, {}};
        for (const auto& [name, answered] : in.shards) {
            ClientMetric m;
            m.label = {{"shard", name}};
            m.gauge.value = answered ? 1 : 0;
            up.metric.push_back(m);
        }
        f.push_back(up);
    }

    if (in.redis) {
        const auto& r = *in.redis;
        f.push_back(one("natter_redis_instances", "Redis instances configured for the bus and presence.",
                        MetricType::Gauge, double(r.instances)));
        f.push_back(one("natter_redis_connected_instances", "Redis instances with both connections up.",
                        MetricType::Gauge, double(r.connected)));
        f.push_back(one("natter_redis_reconnects_total", "Redis connections re-established after a loss.",
                        MetricType::Counter, double(r.reconnects)));
        f.push_back(one("natter_bus_publishes_total", "Events published on the Redis bus.", MetricType::Counter,
                        double(r.publishes)));
        f.push_back(one("natter_bus_dropped_publishes_total",
                        "Events not published (instance down or stalled); the store has them, readers resync.",
                        MetricType::Counter, double(r.dropped_publishes)));
        f.push_back(one("natter_bus_resyncs_total", "Resubscribed channels whose sockets re-read the store.",
                        MetricType::Counter, double(r.resyncs)));
        f.push_back(one("natter_bus_malformed_total", "Bus payloads that did not decode (dropped).",
                        MetricType::Counter, double(r.malformed)));
    }

    f.push_back(one("natter_receipts_published_total", "Receipt notices published, one per user told.",
                    MetricType::Counter, double(s.receipts_published.load())));
    f.push_back(one("natter_presence_changes_total", "Users going online or offline, as announced.", MetricType::Counter,
                    double(in.presence_changes)));
    f.push_back(one("natter_typing_relayed_total", "Typing notices published, one per user told.", MetricType::Counter,
                    double(in.typing_relayed)));
    f.push_back(one("natter_presence_watched_users", "Users whose presence this node's sockets watch.",
                    MetricType::Gauge, double(in.watched_users)));

    if (in.media) {
        f.push_back(one("natter_media_uploads_total", "Uploads announced (POST /v1/media).", MetricType::Counter,
                        double(in.media->uploads_announced.load())));
        MetricFamily checks{"natter_media_checks_total", "First uses of a media by result: passed, or failed (not uploaded, another size, not the declared image).",
                            MetricType::Counter, {}};
        for (auto [result, v] : {std::pair{"passed", in.media->checks_passed.load()}, std::pair{"failed", in.media->checks_failed.load()}}) {
            ClientMetric m;
            m.label = {{"result", result}};
            m.counter.value = double(v);
            checks.metric.push_back(m);
        }
        f.push_back(checks);
        f.push_back(one("natter_media_swept_total", "Media deleted by the sweeper (their blobs follow through the trash).",
                        MetricType::Counter, double(in.media->swept.load())));
    }

    auto h = s.store_latency.snapshot();
    ClientMetric hm;
    hm.histogram.sample_count = h.count;
    hm.histogram.sample_sum = h.sum;
    for (std::size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i)
        hm.histogram.bucket.push_back({h.cumulative[i], LatencyHistogram::kBounds[i]});
    hm.histogram.bucket.push_back({h.count, std::numeric_limits<double>::infinity()});
    f.push_back(MetricFamily{"natter_store_commit_seconds", "Time from handing a send to the store to its commit.",
                             MetricType::Histogram, {hm}});

    f.push_back(one("process_resident_memory_bytes", "Resident memory.", MetricType::Gauge, double(rss_bytes())));
    f.push_back(one("process_open_fds", "Open file descriptors.", MetricType::Gauge, double(open_fds())));
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, f);
    return out.str();
}

}  // namespace natter
