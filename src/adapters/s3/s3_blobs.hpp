#pragma once
// The S3 blob store: the bytes live in one bucket of any S3-compatible store
// (AWS S3, MinIO, R2, …). Clients PUT and GET straight to it with SigV4
// pre-signed URLs; natterd itself only makes HEAD, ranged GET and DELETE
// calls, signed with an Authorization header, over HTTP or HTTPS (the
// certificate checked against the system's CAs, or `ca_file`, and the host
// name).
//
// Upload URLs sign Content-Type and Content-Length, so the store takes only
// exactly the announced type and size. PresignedRequest.headers lists
// Content-Type (and If-None-Match, below) but not Content-Length: every HTTP
// client sends it by itself from the body, and browsers forbid scripts to set
// it (fetch drops it, XMLHttpRequest refuses it), so listing it would only ask
// clients for something they cannot or need not do. A client that streams its
// upload chunked (no Content-Length) is refused by the store.
//
// Download URLs carry response-content-type, so the object is served with
// the media's type whatever the uploader's request said.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "adapters/s3/sigv4.hpp"
#include "ports/blobs.hpp"

namespace natter::s3 {

struct S3BlobsConfig {
    Bucket bucket;
    Credentials credentials;
    // Upload URLs also sign "If-None-Match: *": the store then refuses a
    // second PUT to the same key (412), so a URL cannot swap bytes that were
    // already checked and sent (the local store refuses it too). AWS S3,
    // MinIO and R2 honour it; turn it off for a store that answers 501.
    bool no_overwrite = true;
    std::string ca_file{};  // PEM CA certificates to trust for HTTPS; "": the system's
    // Connecting, the TLS handshake, sending, and reading the answer may
    // each take this long. Name resolution is bounded by the system resolver.
    std::chrono::milliseconds timeout{10'000};
    // The time natterd's own requests are signed with, in Unix seconds. S3
    // refuses a request 15 minutes off its own clock, so this is real time,
    // never a test's clock. Default: the system clock.
    std::function<std::int64_t()> now_s{};
};

class S3Blobs final : public BlobStore {
public:
    // Throws std::invalid_argument saying what to fix for a bad bucket or
    // bad credentials, and std::runtime_error for a CA file it cannot load.
    explicit S3Blobs(S3BlobsConfig config);
    ~S3Blobs() override;

    PresignedRequest presign_upload(const std::string& key, const std::string& mime, std::uint64_t size,
                                    std::int64_t now_ms, std::int64_t ttl_s) override;
    PresignedRequest presign_download(const std::string& key, const std::string& mime, std::int64_t now_ms,
                                      std::int64_t ttl_s) override;
    // A HEAD for the size, then a ranged GET for the first bytes (none when
    // head_bytes is 0). Throws when the store fails, refuses, or the bucket
    // is missing (a 404 from a missing bucket is not a missing object).
    std::optional<BlobInfo> stat(const std::string& key, std::size_t head_bytes) override;
    // A DELETE; S3 answers the same whether or not the object was there.
    bool remove(const std::string& key) override;

    // "" when the bucket answers a signed HEAD; otherwise why not. Blocking.
    std::string check_reachable();

private:
    // The request signed for an Authorization header, now.
    Signed sign(const std::string& method, const std::string& key, std::vector<Header> headers) const;
    // Whether the bucket is there; nullopt when the store does not say.
    std::optional<bool> bucket_exists();

    struct Tls;
    S3BlobsConfig config_;
    std::unique_ptr<Tls> tls_;  // for an https endpoint
};

}  // namespace natter::s3
