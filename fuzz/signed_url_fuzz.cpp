// The verifiers of signed credentials a client presents: the local blob
// store's signed URLs (LocalBlobs::authorize, what natterd checks before
// streaming /v1/blobs/<key> to or from disk) and the access tokens
// (TokenSigner::verify, on every authenticated request).
//
// The first byte picks a mode:
//   0  a raw request, "METHOD\nTARGET" (TARGET = /v1/blobs/<key>?<query>):
//      a grant comes only for what was really signed (the reference URLs);
//   1  a round trip: 8 bytes of size, then "KEY\nMIME": the URLs the store
//      hands out for that key and type work, only for what they say, and
//      not once expired;
//   2  a tampered reference upload URL: (position, byte) pairs overwrite
//      its query; a grant, if any, is still exactly the signed one;
//   3  an access token: claims come only from tokens signed with the key.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include "adapters/localblobs/local_blobs.hpp"
#include "chat/token_signer.hpp"
#include "fuzz_world.hpp"

namespace natter::fuzz {
namespace {

using localblobs::LocalBlobs;

constexpr std::int64_t kTtl = 300;
constexpr std::uint64_t kRefSize = 1234;
const std::string kRefKey = "m/1/2";
const std::string kRefMime = "image/png";

struct Target {
    std::string path, query;
};

Target split(const std::string& url) {
    auto q = url.find('?');
    if (q == std::string::npos) fail("a signed URL without a query: " + url);
    return {url.substr(0, q), url.substr(q + 1)};
}

struct Verifiers {
    Verifiers() {
        upload = split(blobs.presign_upload(kRefKey, kRefMime, kRefSize, kT0, kTtl).url);
        download = split(blobs.presign_download(kRefKey, kRefMime, kT0, kTtl).url);
        ref_token = signer.sign(ref_claims, kT0 / 1000);
    }
    std::string dir = make_work_dir();
    LocalBlobs blobs{localblobs::LocalBlobsConfig{dir + "/blobs", std::string(32, 'k'), ""}};
    Target upload, download;
    TokenSigner signer{std::string(40, 's')};
    AccessClaims ref_claims{12345, 67890, 3, kT0 / 1000 + kTtl};
    std::string ref_token;
};

Verifiers& verifiers() {
    static Verifiers* v = new Verifiers();
    return *v;
}

std::string take_line(std::string_view& rest) {
    auto nl = rest.find('\n');
    std::string line(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    return line;
}

// A grant must be for one of the signed reference URLs, at its own file.
void check_reference(const Result<BlobGrant>& g, const std::string& what) {
    if (!g) return;
    Verifiers& v = verifiers();
    if (g->key != kRefKey || g->mime != kRefMime) fail(what + ": granted key " + g->key + " type " + g->mime);
    if (g->upload && g->size != kRefSize) fail(what + ": granted an upload of " + std::to_string(g->size) + " bytes");
    if (g->path != v.dir + "/blobs/" + kRefKey) fail(what + ": granted the file " + g->path);
}

void raw(std::string_view rest) {
    std::string method = take_line(rest);
    std::string target(rest);
    auto q = target.find('?');
    std::string path = target.substr(0, q), query = q == std::string::npos ? "" : target.substr(q + 1);
    check_reference(verifiers().blobs.authorize(method, path, query, kT0), "a raw request");
}

void round_trip(std::string_view rest) {
    if (rest.size() < 8) return;
    std::uint64_t size = 0;
    std::memcpy(&size, rest.data(), 8);
    size &= (1ull << 40) - 1;  // the service signs uploads of at most media.max_bytes (<= 1 GiB)
    rest.remove_prefix(8);
    std::string key = take_line(rest), mime(rest);
    LocalBlobs& blobs = verifiers().blobs;
    if (!LocalBlobs::valid_key(key)) {
        try {
            blobs.presign_upload(key, mime, size, kT0, kTtl);
        } catch (const std::invalid_argument&) {
            return;
        }
        fail("an upload URL signed for the bad key " + key);
    }
    auto up = split(blobs.presign_upload(key, mime, size, kT0, kTtl).url);
    auto g = blobs.authorize("PUT", up.path, up.query, kT0);
    if (!g) fail("the upload URL of " + key + " is refused: " + g.error().message);
    if (!g->upload || g->key != key || g->mime != mime || g->size != size)
        fail("the upload URL of " + key + " grants something else: " + g->key + " " + g->mime);
    if (blobs.authorize("GET", up.path, up.query, kT0)) fail("an upload URL works as a download");
    if (blobs.authorize("PUT", up.path, up.query, kT0 + kTtl * 1000 + 1000)) fail("an expired upload URL works");

    auto down = split(blobs.presign_download(key, mime, kT0, kTtl).url);
    auto d = blobs.authorize("GET", down.path, down.query, kT0);
    if (!d) fail("the download URL of " + key + " is refused: " + d.error().message);
    if (d->upload || d->key != key || d->mime != mime) fail("the download URL of " + key + " grants something else");
    if (blobs.authorize("PUT", down.path, down.query, kT0)) fail("a download URL works as an upload");
}

void tampered(std::string_view rest) {
    Verifiers& v = verifiers();
    std::string query = v.upload.query;
    for (std::size_t i = 0; i + 1 < rest.size(); i += 2)
        query[static_cast<unsigned char>(rest[i]) % query.size()] = rest[i + 1];
    check_reference(v.blobs.authorize("PUT", v.upload.path, query, kT0), "a tampered upload URL");
}

void token(std::string_view rest) {
    Verifiers& v = verifiers();
    auto claims = v.signer.verify(std::string(rest), kT0 / 1000);
    if (!claims) return;
    const auto& r = v.ref_claims;
    if (claims->user != r.user || claims->device != r.device || claims->generation != r.generation ||
        claims->expires_at_s != r.expires_at_s)
        fail("a token not signed by the key was accepted");
}

}  // namespace
}  // namespace natter::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace natter::fuzz;
    if (size < 1) return 0;
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 4) {
        case 0: raw(rest); break;
        case 1: round_trip(rest); break;
        case 2: tampered(rest); break;
        default: token(rest); break;
    }
    return 0;
}
