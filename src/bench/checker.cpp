#include "bench/checker.hpp"

namespace natter::bench {

namespace {
constexpr std::size_t kMaxExamples = 10;

void note(CheckReport& r, std::string what) {
    if (r.examples.size() < kMaxExamples) r.examples.push_back(std::move(what));
}
}  // namespace

void Checker::on_sent(const std::string& recipient_device, const std::string& message_id,
                      const std::string& conversation, std::uint64_t seq) {
    on_sent(std::make_shared<const std::vector<std::string>>(1, recipient_device), message_id, conversation, seq);
}

void Checker::on_sent(Devices recipient_devices, const std::string& message_id, const std::string& conversation,
                      std::uint64_t seq) {
    if (!recipient_devices) recipient_devices = std::make_shared<const std::vector<std::string>>();
    sent_[message_id] = Sent{std::move(recipient_devices), conversation, seq};
}

void Checker::on_message(const std::string& device, const std::string& message_id, const std::string& conversation,
                         std::uint64_t seq, const std::string& prev_message_id) {
    ++received_;
    auto& d = devices_[device];
    auto [it, first] = d.seen.try_emplace(message_id, d.epoch);
    if (!first) {
        // Pushed again after a reconnect is allowed (the client dedupes); twice on one connection is not.
        if (it->second == d.epoch) {
            ++d.duplicates;
            if (d.duplicate_examples.size() < kMaxExamples)
                d.duplicate_examples.push_back("duplicate: message " + message_id + " twice to device " + device);
        } else {
            ++d.redelivered;
        }
        it->second = d.epoch;
        return;
    }
    d.runs[conversation].push_back(Arrival{message_id, prev_message_id, seq});
}

void Checker::on_reconnect(const std::string& device) {
    // A device nothing reached yet has nothing to get again.
    if (auto d = devices_.find(device); d != devices_.end()) ++d->second.epoch;
}

CheckReport Checker::check() const {
    CheckReport r;
    r.sent = sent_.size();
    r.received = received_;
    r.devices = devices_.size();
    for (const auto& [id, s] : sent_) {
        r.expected += s.devices->size();
        for (const auto& device : *s.devices) {
            auto d = devices_.find(device);
            if (d == devices_.end() || !d->second.seen.contains(id)) {
                ++r.lost;
                note(r, "lost: message " + id + " (" + s.conversation + " seq " + std::to_string(s.seq) + ") never reached device " + device);
            }
        }
    }
    for (const auto& [device, d] : devices_) {
        r.duplicates += d.duplicates;
        r.redelivered += d.redelivered;
        for (const auto& e : d.duplicate_examples) note(r, e);
        for (const auto& [conversation, arrivals] : d.runs) {
            ++r.runs;
            // Only this run's messages: one an earlier run left unacked
            // comes first after a connect, legitimately, and is no gap.
            std::vector<Arrival> run;
            for (const auto& a : arrivals)
                if (sent_.contains(a.message_id)) run.push_back(a);
            for (std::size_t i = 0; i < run.size(); ++i) {
                const auto& a = run[i];
                if (auto s = sent_.find(a.message_id); s != sent_.end() &&
                    (s->second.conversation != conversation || s->second.seq != a.seq)) {
                    ++r.mismatched;
                    note(r, "mismatch: message " + a.message_id + " arrived as " + conversation + " seq " + std::to_string(a.seq) +
                                " but was sent as " + s->second.conversation + " seq " + std::to_string(s->second.seq));
                }
                // The run starts wherever the device came in; from there seq climbs by one and links back.
                bool bad = false;
                if (i == 0) bad = a.seq == 1 && a.prev_message_id != "0";
                else bad = a.seq != run[0].seq + i || a.prev_message_id != run[i - 1].message_id;
                if (bad) {
                    ++r.order;
                    note(r, "order: device " + device + " got " + conversation + " seq " + std::to_string(a.seq) +
                                " (message " + a.message_id + ", prev " + a.prev_message_id + ") at position " +
                                std::to_string(i) + " of a run from seq " + std::to_string(run[0].seq));
                }
            }
        }
    }
    return r;
}

}  // namespace natter::bench
