#pragma once
// Media: image uploads and downloads through pre-signed blob requests, and
// the checks that make an upload usable in a message or as an avatar. The
// database keeps keys; the bytes go straight between the client and the
// blob store. Some calls block on the blob store (a HEAD and a short read):
// run them off the I/O threads.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "chat/accounts.hpp"
#include "chat/rate_limiter.hpp"
#include "core/error.hpp"
#include "core/image.hpp"  // sniff_image
#include "ports/blobs.hpp"
#include "ports/clock.hpp"
#include "ports/store.hpp"

namespace natter {

struct MediaPolicy {
    std::vector<std::string> allowed = {"image/jpeg", "image/png", "image/webp", "image/gif"};
    std::uint64_t max_bytes = 16u << 20;        // per upload
    std::uint64_t quota_bytes = 1ull << 30;     // per user, all media kept
    double uploads_per_min = 30;                // per user
    double upload_burst = 30;
    std::int64_t upload_ttl_s = 300;            // how long an upload URL works
    std::int64_t download_ttl_s = 300;          // how long a download URL works
    std::int64_t unused_grace_s = 24 * 3600;    // media never used is deleted after this
    std::size_t max_thumbnail_bytes = 8 * 1024;  // inline in the message, decoded
};

struct MediaUpload {
    std::uint64_t media_id = 0;
    PresignedRequest upload;
};

struct MediaDownload {
    MediaRecord media;
    PresignedRequest download;
};

// An attachment as it goes into the message: checked, and re-serialized
// with only the protocol's fields.
struct CheckedAttachment {
    std::uint64_t media_id = 0;
    std::string json;
};

class MediaService {
public:
    MediaService(Stores stores, BlobStore& blobs, IdGenerator& ids, const Clock& clock, MediaPolicy policy);

    Result<MediaUpload> create(const Principal& who, const std::string& mime, std::int64_t size);
    Result<MediaDownload> download(const Principal& who, std::uint64_t media_id);
    // The `attachment` object of a send (JSON text). Blocking.
    Result<CheckedAttachment> check_attachment(const Principal& who, const std::string& attachment_json);
    // Sets (or clears) the caller's avatar. Blocking.
    Result<Ok> set_avatar(const Principal& who, std::optional<std::uint64_t> media_id);
    // Deletes media never used within the grace period and media no message
    // or avatar uses any more, then their blobs (a failed blob removal is
    // retried by the next sweep). Returns how many media. Blocking.
    std::size_t sweep();
    // Removes the blobs whose media are gone (the blob trash); a blob store
    // that fails keeps the rest for the next sweep. Blocking.
    void empty_trash();

    const MediaPolicy& policy() const { return policy_; }

    struct Stats {
        std::atomic<std::uint64_t> uploads_announced{0};
        std::atomic<std::uint64_t> checks_passed{0};  // first uses whose blob matched
        std::atomic<std::uint64_t> checks_failed{0};  // not uploaded, another size, not the declared image
        std::atomic<std::uint64_t> swept{0};          // media deleted by the sweeper
    };
    const Stats& stats() const { return stats_; }

private:
    // The media of `who`, its blob checked (size, magic bytes) once.
    Result<MediaRecord> usable(const Principal& who, std::uint64_t media_id);

    Stores stores_;
    BlobStore& blobs_;
    IdGenerator& ids_;
    const Clock& clock_;
    MediaPolicy policy_;
    KeyedRateLimiter upload_limiter_;
    Stats stats_;
};


}  // namespace natter
