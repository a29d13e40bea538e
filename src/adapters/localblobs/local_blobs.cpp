#include "adapters/localblobs/local_blobs.hpp"

#include <unistd.h>

#include <cerrno>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "core/crypto.hpp"
#include "core/url.hpp"

namespace natter::localblobs {

namespace fs = std::filesystem;

namespace {
constexpr std::size_t kMaxKeyChars = 128;
constexpr std::string_view kPrefix = "/v1/blobs/";

std::optional<std::int64_t> to_int(const std::string& s) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < 0) return std::nullopt;
    return v;
}
}  // namespace

LocalBlobs::LocalBlobs(LocalBlobsConfig config) : config_(std::move(config)) {
    if (config_.secret.size() < 32) throw std::runtime_error("the blob signing key must be at least 32 bytes");
    fs::create_directories(fs::path(config_.dir) / "tmp");
    // Uploads cut off by a crash are of no use: start clean.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(config_.dir) / "tmp", ec)) fs::remove(e.path(), ec);
}

bool LocalBlobs::valid_key(const std::string& key) {
    if (key.empty() || key.size() > kMaxKeyChars || key.front() == '/' || key.back() == '/') return false;
    char prev = '/';
    for (char c : key) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/';
        if (!ok || (c == '/' && prev == '/')) return false;  // no "//", no "..", nothing outside the set
        prev = c;
    }
    return true;
}

std::string LocalBlobs::signature(const std::string& method, const std::string& key, std::int64_t expires_s,
                                  std::uint64_t size, const std::string& mime) const {
    std::string data = method + '\n' + key + '\n' + std::to_string(expires_s) + '\n' + std::to_string(size) + '\n' + mime;
    return hex(hmac_sha256(config_.secret, data));
}

std::string LocalBlobs::url(const std::string& key, const std::string& query) const {
    return config_.public_url + std::string(kPrefix) + key + "?" + query;
}

std::string LocalBlobs::path_of(const std::string& key) const { return (fs::path(config_.dir) / key).string(); }

PresignedRequest LocalBlobs::presign_upload(const std::string& key, const std::string& mime, std::uint64_t size,
                                            std::int64_t now_ms, std::int64_t ttl_s) {
    if (!valid_key(key)) throw std::invalid_argument("bad blob key: " + key);
    auto expires = now_ms / 1000 + ttl_s;
    auto query = "exp=" + std::to_string(expires) + "&size=" + std::to_string(size) + "&type=" + url_encode(mime) +
                 "&sig=" + signature("PUT", key, expires, size, mime);
    return PresignedRequest{"PUT", url(key, query), {{"Content-Type", mime}}, expires * 1000};
}

PresignedRequest LocalBlobs::presign_download(const std::string& key, const std::string& mime, std::int64_t now_ms,
                                              std::int64_t ttl_s) {
    if (!valid_key(key)) throw std::invalid_argument("bad blob key: " + key);
    auto expires = now_ms / 1000 + ttl_s;
    auto query = "exp=" + std::to_string(expires) + "&type=" + url_encode(mime) + "&sig=" +
                 signature("GET", key, expires, 0, mime);
    return PresignedRequest{"GET", url(key, query), {}, expires * 1000};
}

std::optional<BlobInfo> LocalBlobs::stat(const std::string& key, std::size_t head_bytes) {
    if (!valid_key(key)) return std::nullopt;
    std::ifstream in(path_of(key), std::ios::binary);
    if (!in) return std::nullopt;
    BlobInfo info;
    std::error_code ec;
    info.size = fs::file_size(path_of(key), ec);
    if (ec) return std::nullopt;
    info.head.resize(head_bytes);
    in.read(info.head.data(), std::streamsize(head_bytes));
    info.head.resize(std::size_t(in.gcount()));
    return info;
}

bool LocalBlobs::remove(const std::string& key) {
    if (!valid_key(key)) return false;
    std::error_code ec;
    return fs::remove(path_of(key), ec);
}

Result<BlobGrant> LocalBlobs::authorize(const std::string& method, const std::string& target_path,
                                        const std::string& query, std::int64_t now_ms) const {
    if (target_path.rfind(kPrefix, 0) != 0) return err(Code::not_found, "no such blob");
    BlobGrant g;
    g.key = target_path.substr(kPrefix.size());
    if (!valid_key(g.key)) return err(Code::not_found, "no such blob");
    if (method != "PUT" && method != "GET")
        return err(Code::invalid, "a blob URL takes PUT (upload) or GET (download)");
    auto q = parse_query(query);
    auto exp = to_int(q["exp"]);
    auto sig = q["sig"];
    if (!exp || sig.empty()) return err(Code::forbidden, "the URL is not signed");
    g.upload = method == "PUT";
    g.mime = q["type"];
    if (g.upload) {
        auto size = to_int(q["size"]);
        if (!size) return err(Code::forbidden, "the URL is not signed for an upload");
        g.size = std::uint64_t(*size);
    }
    // Check the signature before anything else the URL says is believed.
    auto want = signature(g.upload ? "PUT" : "GET", g.key, *exp, g.size, g.mime);
    if (!constant_time_equal(want, sig)) return err(Code::forbidden, "the URL's signature does not match");
    if (*exp * 1000 <= now_ms) return err(Code::forbidden, "the URL has expired");
    g.path = path_of(g.key);
    return g;
}

std::string LocalBlobs::temp_path() const {
    return (fs::path(config_.dir) / "tmp" /
            (std::to_string(::getpid()) + "-" + std::to_string(temp_counter_.fetch_add(1)) + "-" + hex(random_bytes(6))))
        .string();
}

Result<Ok> LocalBlobs::commit_upload(const BlobGrant& grant, const std::string& temp) {
    std::error_code ec;
    fs::create_directories(fs::path(grant.path).parent_path(), ec);
    // link() never replaces: a blob, once there (and maybe checked and sent),
    // cannot be swapped for other bytes with the same URL.
    int rc = ::link(temp.c_str(), grant.path.c_str());
    int error = errno;
    fs::remove(temp, ec);
    if (rc == 0) return Ok{};
    if (error == EEXIST) return err(Code::conflict, "this media was uploaded already");
    return err(Code::unavailable, "could not store the upload; retry");
}

}  // namespace natter::localblobs
