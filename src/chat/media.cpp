#include "chat/media.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/image.hpp"
#include "obs/log.hpp"

namespace natter {

using nlohmann::json;

namespace {
constexpr std::size_t kSniffBytes = 16;
constexpr std::int64_t kMaxDimension = 100000;

std::string blob_key(std::uint64_t media_id) { return "m/" + id_string(media_id); }

bool is_base64(const std::string& s) {
    for (char c : s) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
                  c == '=' || c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

std::optional<std::uint64_t> id_field(const json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return parse_id(it->get_ref<const std::string&>());
}
}  // namespace

MediaService::MediaService(Stores stores, BlobStore& blobs, IdGenerator& ids, const Clock& clock, MediaPolicy policy)
    : stores_(stores),
      blobs_(blobs),
      ids_(ids),
      clock_(clock),
      policy_(std::move(policy)),
      upload_limiter_(policy_.uploads_per_min / 60.0, policy_.upload_burst) {}

Result<MediaUpload> MediaService::create(const Principal& who, const std::string& mime, std::int64_t size) {
    if (std::find(policy_.allowed.begin(), policy_.allowed.end(), mime) == policy_.allowed.end()) {
        std::string list;
        for (const auto& a : policy_.allowed) list += (list.empty() ? "" : ", ") + a;
        return err(Code::invalid, "mime must be one of: " + list);
    }
    if (size < 1) return err(Code::invalid, "size must be a positive number of bytes");
    if (std::uint64_t(size) > policy_.max_bytes)
        return err(Code::too_large, "an upload is at most " + std::to_string(policy_.max_bytes) + " bytes");
    auto now = clock_.now_ms();
    if (auto wait = upload_limiter_.take(who.user, now)) {
        Error e = err(Code::rate_limited, "too many uploads: slow down");
        e.retry_after_ms = wait;
        return e;
    }
    MediaRecord m;
    m.media_id = ids_.next(now);
    m.owner = who.user;
    m.mime = mime;
    m.size = std::uint64_t(size);
    m.key = blob_key(m.media_id);
    m.created_at = now;
    if (auto r = stores_.media->add_media(m, policy_.quota_bytes); !r) return r.error();
    stats_.uploads_announced++;
    return MediaUpload{m.media_id, blobs_.presign_upload(m.key, m.mime, m.size, now, policy_.upload_ttl_s)};
}

Result<MediaDownload> MediaService::download(const Principal& who, std::uint64_t media_id) {
    auto m = stores_.media->media(media_id);
    if (!m) return err(Code::not_found, "no such media");
    if (!stores_.media->may_download(media_id, who.user))
        return err(Code::forbidden,
                   "only the uploader, an avatar's viewers and the members of a conversation with a message using it "
                   "(in a group, a message from their joining on) may download it");
    return MediaDownload{*m, blobs_.presign_download(m->key, m->mime, clock_.now_ms(), policy_.download_ttl_s)};
}

Result<MediaRecord> MediaService::usable(const Principal& who, std::uint64_t media_id) {
    auto m = stores_.media->media(media_id);
    if (!m) return err(Code::not_found, "no such media");
    if (m->owner != who.user) return err(Code::forbidden, "a message or avatar may use only media you uploaded");
    if (m->verified) return *m;
    std::optional<BlobInfo> blob;
    try {
        blob = blobs_.stat(m->key, kSniffBytes);
    } catch (const std::exception& e) {
        log_event(LogLevel::warn, "media.stat_failed", {{"media_id", id_string(media_id)}, {"error", e.what()}});
        return err(Code::unavailable, "the blob store did not answer; retry");
    }
    auto failed = [this](Error e) {
        stats_.checks_failed++;
        return e;
    };
    if (!blob) return failed(err(Code::invalid, "the media has not been uploaded yet"));
    if (blob->size != m->size)
        return failed(err(Code::invalid, "the upload is " + std::to_string(blob->size) + " bytes, not the " +
                                             std::to_string(m->size) + " announced"));
    auto kind = sniff_image(blob->head);
    if (kind != m->mime)
        return failed(err(Code::invalid,
                          "the upload is not " + m->mime + (kind.empty() ? " (nor any image we take)" : " but " + kind)));
    stats_.checks_passed++;
    stores_.media->mark_verified(media_id);
    m->verified = true;
    return *m;
}

Result<CheckedAttachment> MediaService::check_attachment(const Principal& who, const std::string& attachment_json) {
    json a = json::parse(attachment_json, nullptr, false);
    if (a.is_discarded() || !a.is_object()) return err(Code::invalid, "attachment must be an object");
    auto media_id = id_field(a, "media_id");
    if (!media_id) return err(Code::invalid, "attachment.media_id must be a media id string");
    auto mime = a.find("mime");
    if (mime == a.end() || !mime->is_string()) return err(Code::invalid, "attachment.mime must be a string");
    auto size = a.find("size");
    if (size == a.end() || !size->is_number_integer()) return err(Code::invalid, "attachment.size must be an integer");
    json out = {{"media_id", id_string(*media_id)}, {"mime", *mime}, {"size", *size}};
    for (const char* dim : {"width", "height"}) {
        auto d = a.find(dim);
        if (d == a.end() || d->is_null()) continue;
        if (!d->is_number_integer() || d->get<std::int64_t>() < 1 || d->get<std::int64_t>() > kMaxDimension)
            return err(Code::invalid, std::string("attachment.") + dim + " must be an integer 1.." + std::to_string(kMaxDimension));
        out[dim] = *d;
    }
    if (auto t = a.find("thumbnail"); t != a.end() && !t->is_null()) {
        if (!t->is_string() || !is_base64(t->get_ref<const std::string&>()))
            return err(Code::invalid, "attachment.thumbnail must be base64 text");
        const auto& text = t->get_ref<const std::string&>();
        if (text.size() / 4 * 3 > policy_.max_thumbnail_bytes + 2)
            return err(Code::too_large, "attachment.thumbnail is over " + std::to_string(policy_.max_thumbnail_bytes) + " bytes");
        out["thumbnail"] = text;
    }
    auto m = usable(who, *media_id);
    if (!m) return m.error();
    if (m->mime != mime->get<std::string>() || std::int64_t(m->size) != size->get<std::int64_t>())
        return err(Code::invalid, "attachment.mime and size must be those of the media (" + m->mime + ", " +
                                      std::to_string(m->size) + " bytes)");
    return CheckedAttachment{*media_id, out.dump()};
}

Result<Ok> MediaService::set_avatar(const Principal& who, std::optional<std::uint64_t> media_id) {
    if (media_id) {
        auto m = usable(who, *media_id);
        if (!m) return m.error();
    }
    return stores_.media->set_avatar(who.user, media_id, clock_.now_ms());
}

std::size_t MediaService::sweep() {
    constexpr std::size_t kBatch = 200;
    auto now = clock_.now_ms();
    std::size_t n = 0;
    for (;;) {
        auto batch = stores_.media->expire_media(now - policy_.unused_grace_s * 1000, kBatch);
        n += batch.size();
        if (batch.size() < kBatch) break;
    }
    stats_.swept += n;
    empty_trash();
    return n;
}

void MediaService::empty_trash() {
    constexpr std::size_t kBatch = 200;
    for (;;) {
        auto keys = stores_.media->blob_trash(kBatch);
        std::vector<std::string> removed;
        bool failed = false;
        for (const auto& key : keys) {
            try {
                blobs_.remove(key);
                removed.push_back(key);
            } catch (const std::exception& e) {
                log_event(LogLevel::warn, "media.remove_failed", {{"key", key}, {"error", e.what()}});
                failed = true;
                break;
            }
        }
        stores_.media->forget_trash(removed);
        if (failed || keys.size() < kBatch) return;
    }
}

}  // namespace natter
