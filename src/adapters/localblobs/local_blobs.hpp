#pragma once
// The embedded blob store: one file per key under DATA/blobs, served by
// natterd at /v1/blobs/<key> to whoever holds a signed URL. The signature
// is HMAC-SHA256 over method, key, expiry, size and type, so a URL cannot be
// turned into another (a download into an upload, a small upload into a
// large one, one key into another) and stops working when it expires.
#include <atomic>
#include <string>

#include "ports/blobs.hpp"

namespace natter::localblobs {

struct LocalBlobsConfig {
    std::string dir;         // where the files go; created if missing
    std::string secret;      // the signing key, 32+ bytes
    std::string public_url;  // prefix of the URLs handed out; "" -> a path on natterd ("/v1/blobs/…")
};

class LocalBlobs final : public BlobStore, public BlobEndpoint {
public:
    explicit LocalBlobs(LocalBlobsConfig config);

    PresignedRequest presign_upload(const std::string& key, const std::string& mime, std::uint64_t size,
                                    std::int64_t now_ms, std::int64_t ttl_s) override;
    PresignedRequest presign_download(const std::string& key, const std::string& mime, std::int64_t now_ms,
                                      std::int64_t ttl_s) override;
    std::optional<BlobInfo> stat(const std::string& key, std::size_t head_bytes) override;
    bool remove(const std::string& key) override;

    Result<BlobGrant> authorize(const std::string& method, const std::string& target_path, const std::string& query,
                                std::int64_t now_ms) const override;
    std::string temp_path() const override;
    Result<Ok> commit_upload(const BlobGrant& grant, const std::string& temp) override;

    // Keys are ours: lower-case letters, digits and single '/' between parts.
    static bool valid_key(const std::string& key);

private:
    std::string signature(const std::string& method, const std::string& key, std::int64_t expires_s,
                          std::uint64_t size, const std::string& mime) const;
    std::string url(const std::string& key, const std::string& query) const;
    std::string path_of(const std::string& key) const;

    LocalBlobsConfig config_;
    mutable std::atomic<std::uint64_t> temp_counter_{0};
};

}  // namespace natter::localblobs
