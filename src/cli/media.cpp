#include "media.hpp"

#include <cstdio>

#include "api.hpp"
#include "users.hpp"

namespace natter::cli {

std::string human_size(std::uint64_t bytes) {
    if (bytes < 1000) return std::to_string(bytes) + " B";
    static constexpr const char* kUnits[] = {"KB", "MB", "GB", "TB"};
    double v = double(bytes) / 1000;
    int unit = 0;
    while (v >= 999.5 && unit < 3) {
        v /= 1000;
        ++unit;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, v < 9.95 ? "%.1f %s" : "%.0f %s", v, kUnits[unit]);
    return buf;
}

std::string attachment_text(const json& a) {
    if (!a.is_object()) return "[image]";
    std::string out = "[" + str_field(a, "mime", "image");
    auto w = int_field(a, "width"), h = int_field(a, "height");
    if (w > 0 && h > 0) out += " " + std::to_string(w) + "x" + std::to_string(h);
    if (auto size = int_field(a, "size"); size > 0) out += ", " + human_size(std::uint64_t(size));
    return out + "]";
}

std::string message_text(const json& m, bool how_to_get) {
    auto body = str_field(m, "body");
    auto kind = str_field(m, "kind", "message");
    bool has_attachment = m.is_object() && m.contains("attachment") && m["attachment"].is_object();
    if (kind != "image" && !has_attachment) return body.empty() ? "(" + kind + ")" : body;
    json a = has_attachment ? m["attachment"] : json::object();
    std::string out = attachment_text(a);
    if (!body.empty()) out += " " + body;
    auto id = str_field(a, "media_id");
    if (how_to_get && is_id(id)) out += " — natter media get " + id;
    return out;
}

std::string extension_for(const std::string& mime) {
    if (mime == "image/jpeg") return "jpg";
    if (mime == "image/png") return "png";
    if (mime == "image/gif") return "gif";
    if (mime == "image/webp") return "webp";
    return "bin";
}

}  // namespace natter::cli
