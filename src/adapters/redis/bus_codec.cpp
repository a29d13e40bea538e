#include "adapters/redis/bus_codec.hpp"

#include <cstdint>

namespace natter::redis {

namespace {

constexpr unsigned char kLastKind = static_cast<unsigned char>(BusEvent::Kind::resync);

void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(char(v | 0x80));
        v >>= 7;
    }
    out.push_back(char(v));
}

void put_signed(std::string& out, std::int64_t v) {
    put_varint(out, (std::uint64_t(v) << 1) ^ std::uint64_t(v >> 63));
}

// Reads from the front of `in`; every get fails (and stays failed) instead
// of reading past the end.
class Reader {
public:
    explicit Reader(std::string_view in) : in_(in) {}

    bool byte(unsigned char& v) {
        if (in_.empty()) return fail("truncated");
        v = static_cast<unsigned char>(in_.front());
        in_.remove_prefix(1);
        return true;
    }
    bool varint(std::uint64_t& v) {
        v = 0;
        for (unsigned shift = 0; shift < 64; shift += 7) {
            unsigned char b = 0;
            if (!byte(b)) return false;
            // The tenth byte holds bit 63 only.
            if (shift == 63 && b > 1) return fail("varint overflows 64 bits");
            v |= std::uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80)) return shift == 0 || b != 0 ? true : fail("overlong varint");
        }
        return fail("varint longer than 10 bytes");
    }
    bool signed_varint(std::int64_t& v) {
        std::uint64_t u = 0;
        if (!varint(u)) return false;
        v = std::int64_t(u >> 1) ^ -std::int64_t(u & 1);
        return true;
    }
    bool bytes(std::size_t n, std::string_view& v) {
        if (n > in_.size()) return fail("a length runs past the end");
        v = in_.substr(0, n);
        in_.remove_prefix(n);
        return true;
    }
    std::size_t left() const { return in_.size(); }
    bool fail(const char* why) {
        if (error_.empty()) error_ = why;
        return false;
    }
    const std::string& error() const { return error_; }

private:
    std::string_view in_;
    std::string error_;
};

}  // namespace

std::string encode_bus_event(const BusEvent& e) {
    std::string out;
    out.reserve(32 + e.inbox.size() * 12 + (e.frame ? e.frame->size() : 0));
    out.push_back(char(kBusCodecVersion));
    out.push_back(char(static_cast<unsigned char>(e.kind)));
    put_varint(out, e.message_id);
    put_varint(out, e.device);
    put_signed(out, e.changed_at);
    put_varint(out, e.inbox.size());
    for (const auto& row : e.inbox) {
        put_varint(out, row.device);
        put_signed(out, row.id);
        put_signed(out, row.prev);
    }
    out.push_back(e.frame ? 1 : 0);
    if (e.frame) {
        put_varint(out, e.frame->size());
        out += *e.frame;
    }
    return out;
}

std::shared_ptr<BusEvent> decode_bus_event(std::string_view bytes, std::string& error) {
    Reader in(bytes);
    auto e = std::make_shared<BusEvent>();
    auto failed = [&]() -> std::shared_ptr<BusEvent> {
        error = in.error();
        return nullptr;
    };
    unsigned char version = 0, kind = 0, has_frame = 0;
    if (!in.byte(version)) return failed();
    if (version != kBusCodecVersion) {
        in.fail("unknown version");
        return failed();
    }
    if (!in.byte(kind)) return failed();
    if (kind > kLastKind) {
        in.fail("unknown kind");
        return failed();
    }
    e->kind = static_cast<BusEvent::Kind>(kind);
    std::uint64_t rows = 0;
    if (!in.varint(e->message_id) || !in.varint(e->device) || !in.signed_varint(e->changed_at) || !in.varint(rows))
        return failed();
    // Each row takes 3 bytes at least: a count beyond that is a lie, and
    // must not make us reserve memory for it.
    if (rows > in.left() / 3) {
        in.fail("more inbox rows than bytes");
        return failed();
    }
    e->inbox.resize(rows);
    for (auto& row : e->inbox)
        if (!in.varint(row.device) || !in.signed_varint(row.id) || !in.signed_varint(row.prev)) return failed();
    if (!in.byte(has_frame)) return failed();
    if (has_frame > 1) {
        in.fail("bad frame flag");
        return failed();
    }
    if (has_frame) {
        std::uint64_t size = 0;
        std::string_view frame;
        if (!in.varint(size) || !in.bytes(size, frame)) return failed();
        e->frame = std::make_shared<const std::string>(frame);
    }
    if (in.left() != 0) {
        in.fail("bytes after the end");
        return failed();
    }
    return e;
}

}  // namespace natter::redis
