#pragma once
// The blob port: where image bytes live. Blobs never go in the database;
// clients upload and download straight to the blob store with pre-signed
// requests, and natterd keeps only a key. Two adapters: the local one (files
// under the data directory, served by natterd itself at HMAC-signed URLs)
// and S3 (any S3-compatible store, SigV4 pre-signed URLs).
//
// Thread-safety: every method may be called from any thread at once.
// `stat` and `remove` may block on disk or network: call them off the I/O
// threads. Pre-signing never blocks.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace natter {

// A request a client makes by itself, as given: method, absolute URL (or,
// for the local store without a public URL, a path on natterd), headers.
struct PresignedRequest {
    std::string method;
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::int64_t expires_at = 0;  // ms
};

struct BlobInfo {
    std::uint64_t size = 0;
    std::string head;  // the first bytes, at most as many as asked
};

class BlobStore {
public:
    virtual ~BlobStore() = default;
    // A PUT of exactly `size` bytes of type `mime` to `key`, valid for ttl_s.
    virtual PresignedRequest presign_upload(const std::string& key, const std::string& mime, std::uint64_t size,
                                            std::int64_t now_ms, std::int64_t ttl_s) = 0;
    // A GET of `key`, answered with Content-Type `mime`, valid for ttl_s.
    virtual PresignedRequest presign_download(const std::string& key, const std::string& mime, std::int64_t now_ms,
                                              std::int64_t ttl_s) = 0;
    // The object's size and first `head_bytes` bytes; nullopt when there is
    // none. Throws on a store failure (unreachable, refused).
    virtual std::optional<BlobInfo> stat(const std::string& key, std::size_t head_bytes) = 0;
    // Deletes the object; true when it was there (or the store cannot tell).
    // Throws on a store failure.
    virtual bool remove(const std::string& key) = 0;
};

// A blob store natterd serves itself (the local one): the transport asks it
// to check each /v1/blobs/<key> request before streaming bytes to or from
// disk, so the listener stays free of the signing rules.
struct BlobGrant {
    bool upload = false;
    std::string key;
    std::string path;        // the file
    std::uint64_t size = 0;  // upload: the exact number of bytes
    std::string mime;        // upload: the Content-Type it must carry; download: the one to answer with
};

class BlobEndpoint {
public:
    virtual ~BlobEndpoint() = default;
    // `target_path` is /v1/blobs/<key>, `query` what follows '?'.
    // forbidden for a missing, wrong, tampered or expired signature;
    // not_found for a key that is not one; invalid for another method.
    virtual Result<BlobGrant> authorize(const std::string& method, const std::string& target_path,
                                        const std::string& query, std::int64_t now_ms) const = 0;
    // Where an upload streams to before it is complete.
    virtual std::string temp_path() const = 0;
    // Puts a complete upload in place (atomically); the temp file is gone after.
    virtual Result<Ok> commit_upload(const BlobGrant& grant, const std::string& temp) = 0;
};

}  // namespace natter
