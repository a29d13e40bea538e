// Image messages on the local blob store: pre-signed upload and download
// through natterd, the checks that make an upload usable (owner, size, magic
// bytes), who may download, hostile URLs, limits, and the sweeper.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/test_server.hpp"

namespace natter::test {
namespace {

// A PNG's signature and enough bytes after it: what the server checks is the start.
std::string png_bytes(std::size_t n) {
    std::string b = "\x89PNG\r\n\x1A\n";
    for (std::size_t i = b.size(); i < n; ++i) b += char(i * 31 % 251);
    return b;
}

std::string jpeg_bytes(std::size_t n) {
    std::string b = "\xFF\xD8\xFF\xE0";
    b.resize(n, 'j');
    return b;
}

// POST /v1/media; the 201 body.
json announce(std::uint16_t port, const Account& a, const std::string& mime, std::size_t size, int want = 201) {
    auto r = http(port, "POST", "/v1/media", {{"mime", mime}, {"size", size}}, a.access_token);
    EXPECT_EQ(r.status, want) << r.raw;
    return r.body;
}

// PUTs the bytes as the upload instruction says.
HttpResult put(std::uint16_t port, const json& upload, const std::string& bytes,
               std::vector<std::pair<std::string, std::string>> extra = {}) {
    std::vector<std::pair<std::string, std::string>> headers;
    for (auto& [k, v] : upload["headers"].items()) headers.emplace_back(k, v.get<std::string>());
    for (auto& h : extra) headers.push_back(h);
    return http_raw(port, upload["method"], upload["url"], bytes, headers);
}

// Announces and uploads; the media id.
std::string upload(std::uint16_t port, const Account& a, const std::string& mime, const std::string& bytes) {
    auto m = announce(port, a, mime, bytes.size());
    auto r = put(port, m["upload"], bytes);
    EXPECT_EQ(r.status, 200) << r.raw;
    return m["media_id"];
}

json image_frame(const std::string& to_user, const std::string& media_id, const std::string& mime, std::size_t size,
                 const std::string& id = "") {
    json f = send_frame(to_user, "", "", id);
    f.erase("body");
    f["attachment"] = {{"media_id", media_id}, {"mime", mime}, {"size", size}, {"width", 640}, {"height", 480},
                       {"thumbnail", "aGVsbG8="}};
    return f;
}

TEST(Media, APhotoSentIsReceivedAndDownloadedByteIdentical) {
    TestServer s;
    auto d = Duo::start(s);
    auto bytes = png_bytes(300000);
    auto m = announce(s.port(), d.alice, "image/png", bytes.size());
    ASSERT_TRUE(m.contains("media_id"));
    EXPECT_EQ(m["upload"]["method"], "PUT");
    EXPECT_EQ(m["upload"]["headers"]["Content-Type"], "image/png");
    EXPECT_GT(m["expires_at"].get<std::int64_t>(), SystemClock().now_ms());
    ASSERT_EQ(put(s.port(), m["upload"], bytes).status, 200);

    auto frame = image_frame(d.bob.user_id, m["media_id"], "image/png", bytes.size(), "img");
    frame["body"] = "the view from here";
    frame["attachment"]["extra"] = "dropped";
    d.a->send(frame);
    auto sent = d.a->expect("sent");
    EXPECT_EQ(sent["id"], "img");

    auto got = next_message(*d.b);
    ASSERT_FALSE(got.is_null());
    EXPECT_EQ(got["kind"], "image");
    EXPECT_EQ(got["body"], "the view from here");
    EXPECT_EQ(got["attachment"]["media_id"], m["media_id"]);
    EXPECT_EQ(got["attachment"]["mime"], "image/png");
    EXPECT_EQ(got["attachment"]["size"], bytes.size());
    EXPECT_EQ(got["attachment"]["width"], 640);
    EXPECT_EQ(got["attachment"]["thumbnail"], "aGVsbG8=");
    EXPECT_FALSE(got["attachment"].contains("extra")) << "only the protocol's fields are kept";

    auto dl = http(s.port(), "GET", "/v1/media/" + m["media_id"].get<std::string>(), nullptr, d.bob.access_token);
    ASSERT_EQ(dl.status, 200) << dl.raw;
    EXPECT_EQ(dl.body["mime"], "image/png");
    EXPECT_EQ(dl.body["size"], bytes.size());
    auto file = http_raw(s.port(), "GET", dl.body["download_url"]);
    ASSERT_EQ(file.status, 200);
    EXPECT_EQ(file.raw, bytes) << "byte-identical";
    EXPECT_EQ(file.headers["Content-Type"], "image/png");

    // History keeps the attachment, and the media stays downloadable.
    auto page = http(s.port(), "GET", "/v1/conversations/" + sent["conversation_id"].get<std::string>() + "/messages",
                     nullptr, d.bob.access_token);
    EXPECT_EQ(page.body["messages"][0]["attachment"]["media_id"], m["media_id"]);
}

TEST(Media, OnlyTheUploaderAndTheConversationMayDownload) {
    TestServer s;
    auto d = Duo::start(s);
    auto carol = signup(s.port(), "carol");
    auto id = upload(s.port(), d.alice, "image/jpeg", jpeg_bytes(2000));
    auto get = [&](const Account& a) { return http(s.port(), "GET", "/v1/media/" + id, nullptr, a.access_token); };
    EXPECT_EQ(get(d.alice).status, 200) << "the uploader";
    EXPECT_EQ(get(d.bob).status, 403) << "not used in a conversation with bob yet";
    d.a->send(image_frame(d.bob.user_id, id, "image/jpeg", 2000));
    d.a->expect("sent");
    EXPECT_EQ(get(d.bob).status, 200);
    auto refused = get(carol);
    EXPECT_EQ(refused.status, 403);
    EXPECT_EQ(refused.raw.find("download_url"), std::string::npos);
    EXPECT_EQ(http(s.port(), "GET", "/v1/media/12345", nullptr, carol.access_token).status, 404);

    // Nobody may send someone else's media.
    auto c = connect_synced(s.port(), carol);
    c->send(image_frame(d.alice.user_id, id, "image/jpeg", 2000, "steal"));
    auto e = c->expect("error");
    EXPECT_EQ(e["code"], "forbidden");
    EXPECT_EQ(e["id"], "steal");
}

TEST(Media, FakeImagesAndMismatchesAreRefused) {
    TestServer s;
    auto d = Duo::start(s);
    auto send_expect = [&](const json& frame, const std::string& code) {
        d.a->send(frame);
        auto e = d.a->expect("error");
        EXPECT_EQ(e["code"], code) << frame.dump() << " -> " << e.dump();
        return e;
    };
    auto text = upload(s.port(), d.alice, "image/png", std::string(500, 'x'));
    auto e = send_expect(image_frame(d.bob.user_id, text, "image/png", 500), "invalid");
    EXPECT_NE(e["message"].get<std::string>().find("not image/png"), std::string::npos) << e.dump();
    auto jpeg_as_png = upload(s.port(), d.alice, "image/png", jpeg_bytes(500));
    e = send_expect(image_frame(d.bob.user_id, jpeg_as_png, "image/png", 500), "invalid");
    EXPECT_NE(e["message"].get<std::string>().find("image/jpeg"), std::string::npos) << e.dump();
    auto never = announce(s.port(), d.alice, "image/png", 100)["media_id"].get<std::string>();
    send_expect(image_frame(d.bob.user_id, never, "image/png", 100), "invalid");
    auto good = upload(s.port(), d.alice, "image/png", png_bytes(100));
    send_expect(image_frame(d.bob.user_id, good, "image/png", 99), "invalid");
    send_expect(image_frame(d.bob.user_id, good, "image/gif", 100), "invalid");
    auto bad = image_frame(d.bob.user_id, good, "image/png", 100);
    bad["attachment"]["thumbnail"] = std::string(12000, 'A');
    send_expect(bad, "too_large");
    bad["attachment"]["thumbnail"] = "not base64!";
    send_expect(bad, "invalid");
    bad = image_frame(d.bob.user_id, good, "image/png", 100);
    bad["attachment"]["width"] = -3;
    send_expect(bad, "invalid");
    send_expect(image_frame(d.bob.user_id, "999", "image/png", 100), "not_found");
    // Nothing reached bob; the good one still works.
    d.a->send(image_frame(d.bob.user_id, good, "image/png", 100));
    d.a->expect("sent");
    EXPECT_EQ(next_message(*d.b)["attachment"]["media_id"], good);
    auto metrics = http(s.port(), "GET", "/metrics").raw;
    EXPECT_NE(metrics.find("natter_media_checks_total{result=\"failed\"} 3"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("natter_media_checks_total{result=\"passed\"} 1"), std::string::npos) << metrics;

    // Announcements that cannot be.
    announce(s.port(), d.alice, "image/svg+xml", 100, 400);
    announce(s.port(), d.alice, "image/png", 0, 400);
    announce(s.port(), d.alice, "image/png", (16 << 20) + 1, 413);
    EXPECT_EQ(http(s.port(), "POST", "/v1/media", {{"mime", "image/png"}}, d.alice.access_token).status, 400);
}

TEST(Media, SignedUrlsCannotBeBentTamperedOrReused) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto bytes = png_bytes(1000);
    auto m = announce(s.port(), alice, "image/png", bytes.size());
    std::string url = m["upload"]["url"];
    auto with = [&](std::string u, const std::string& from, const std::string& to) {
        auto at = u.find(from);
        EXPECT_NE(at, std::string::npos) << u;
        return u.replace(at, from.size(), to);
    };
    auto headers = std::vector<std::pair<std::string, std::string>>{{"Content-Type", "image/png"}};
    // A tampered signature, size or expiry: 403.
    auto sig_at = url.find("sig=") + 4;
    auto tampered = url;
    tampered[sig_at] = tampered[sig_at] == 'a' ? 'b' : 'a';
    EXPECT_EQ(http_raw(s.port(), "PUT", tampered, bytes, headers).status, 403);
    EXPECT_EQ(http_raw(s.port(), "PUT", with(url, "size=1000", "size=2000"), std::string(2000, 'x'), headers).status, 403);
    auto exp_at = url.find("exp=") + 4;
    auto later = url;
    later[exp_at + 2] = later[exp_at + 2] == '9' ? '8' : '9';
    EXPECT_EQ(http_raw(s.port(), "PUT", later, bytes, headers).status, 403);
    EXPECT_EQ(http_raw(s.port(), "PUT", url.substr(0, url.find('?')), bytes, headers).status, 403) << "unsigned";
    // The upload URL does not download, nor another key.
    EXPECT_EQ(http_raw(s.port(), "GET", url).status, 403);
    std::string key_path = url.substr(0, url.find('?'));
    EXPECT_EQ(http_raw(s.port(), "PUT", with(url, key_path, key_path + "0"), bytes, headers).status, 403);
    // Keys cannot leave the blob directory.
    for (std::string evil : {"/v1/blobs/../natter.db", "/v1/blobs/m/../../natter.db", "/v1/blobs/%2e%2e/natter.db",
                             "/v1/blobs//etc/passwd", "/v1/blobs/M/1", "/v1/blobs/"}) {
        auto r = http_raw(s.port(), "GET", evil + url.substr(url.find('?')));
        EXPECT_EQ(r.status, 404) << evil << " -> " << r.raw;
    }
    // The declared size and type are what the upload must be.
    EXPECT_EQ(http_raw(s.port(), "PUT", url, bytes, {{"Content-Type", "image/gif"}}).status, 400);
    EXPECT_EQ(http_raw(s.port(), "PUT", url, bytes + "more", headers).status, 400);
    // More bytes than the Content-Length said: only the signed size is read
    // (the rest is the connection's next request, garbage, and closes it).
    auto lie = http_raw(s.port(), "PUT", url, bytes + std::string(5000, 'z'),
                        {{"Content-Type", "image/png"}, {"Content-Length", "1000"}});
    EXPECT_EQ(lie.status, 200);
    // The same URL cannot swap the bytes after.
    EXPECT_EQ(http_raw(s.port(), "PUT", url, png_bytes(1000).replace(500, 3, "abc"), headers).status, 409);
    auto dl = http(s.port(), "GET", "/v1/media/" + m["media_id"].get<std::string>(), nullptr, alice.access_token);
    EXPECT_EQ(http_raw(s.port(), "GET", dl.body["download_url"]).raw, bytes);
    EXPECT_EQ(http_raw(s.port(), "DELETE", dl.body["download_url"]).status, 400);
}

TEST(Media, UrlsExpire) {
    ManualClock clock(SystemClock().now_ms());
    TestServer s("", {}, &clock);
    auto alice = signup(s.port(), "alice");
    auto m = announce(s.port(), alice, "image/png", 100);
    clock.advance_ms(301 * 1000);  // the upload URL lives 300 s
    auto r = put(s.port(), m["upload"], png_bytes(100));
    EXPECT_EQ(r.status, 403) << r.raw;
    EXPECT_NE(r.raw.find("expired"), std::string::npos) << r.raw;
}

TEST(Media, AvatarsAreSeenByAnySignedInUser) {
    TestServer s;
    auto alice = signup(s.port(), "alice"), stranger = signup(s.port(), "stranger");
    auto id = upload(s.port(), alice, "image/gif", std::string("GIF89a") + std::string(200, '\0'));
    auto r = http(s.port(), "PATCH", "/v1/users/me", {{"avatar_media_id", id}, {"display_name", "Alice"}}, alice.access_token);
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body["avatar_media_id"], id);
    EXPECT_EQ(r.body["display_name"], "Alice");
    auto profile = http(s.port(), "GET", "/v1/users/" + alice.user_id, nullptr, stranger.access_token);
    EXPECT_EQ(profile.body["avatar_media_id"], id);
    EXPECT_EQ(http(s.port(), "GET", "/v1/media/" + id, nullptr, stranger.access_token).status, 200);
    // Someone else's media, or a fake, cannot be an avatar.
    auto theirs = upload(s.port(), stranger, "image/png", png_bytes(100));
    EXPECT_EQ(http(s.port(), "PATCH", "/v1/users/me", {{"avatar_media_id", theirs}}, alice.access_token).status, 403);
    auto fake = upload(s.port(), alice, "image/png", "not a png at all");
    EXPECT_EQ(http(s.port(), "PATCH", "/v1/users/me", {{"avatar_media_id", fake}}, alice.access_token).status, 400);
    // null clears it.
    r = http(s.port(), "PATCH", "/v1/users/me", json::parse(R"({"avatar_media_id":null})"), alice.access_token);
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_FALSE(r.body.contains("avatar_media_id"));
}

TEST(Media, QuotaAndUploadRateHaveClearErrors) {
    TestServer s([](Config& c) {
        c.media.max_bytes = 1000;
        c.media.quota_bytes = 1500;
        c.media.uploads_per_min = 4;  // a refused upload spends its token too
    });
    auto alice = signup(s.port(), "alice");
    announce(s.port(), alice, "image/png", 1000);
    auto over = http(s.port(), "POST", "/v1/media", {{"mime", "image/png"}, {"size", 600}}, alice.access_token);
    EXPECT_EQ(over.status, 413);
    EXPECT_NE(over.raw.find("quota"), std::string::npos) << over.raw;
    announce(s.port(), alice, "image/png", 400);
    announce(s.port(), alice, "image/png", 50);
    auto fast = http(s.port(), "POST", "/v1/media", {{"mime", "image/png"}, {"size", 10}}, alice.access_token);
    EXPECT_EQ(fast.status, 429) << fast.raw;
    EXPECT_GT(fast.body["error"]["retry_after_ms"].get<std::int64_t>(), 0);
}

TEST(Media, TheSweeperDeletesUnusedMediaWithTheirBlobs) {
    ManualClock clock(SystemClock().now_ms());
    TestServer s("", {}, &clock);
    auto d = Duo::start(s);
    auto unused = upload(s.port(), d.alice, "image/png", png_bytes(100));
    auto used = upload(s.port(), d.alice, "image/png", png_bytes(100));
    d.a->send(image_frame(d.bob.user_id, used, "image/png", 100));
    d.a->expect("sent");
    namespace fs = std::filesystem;
    auto blob = [&](const std::string& id) { return fs::path(s.data_dir()) / "blobs" / "m" / id; };
    ASSERT_TRUE(fs::exists(blob(unused)));
    EXPECT_EQ(s.app().sweep_now().media, 0u) << "within the grace period";
    clock.advance_ms(25 * 3600 * 1000);
    EXPECT_EQ(s.app().sweep_now().media, 1u);
    EXPECT_FALSE(fs::exists(blob(unused)));
    EXPECT_TRUE(fs::exists(blob(used)));
    auto bob = login(s.port(), "bob");  // the old access tokens expired meanwhile
    EXPECT_EQ(http(s.port(), "GET", "/v1/media/" + unused, nullptr, bob.access_token).status, 404);
    EXPECT_EQ(http(s.port(), "GET", "/v1/media/" + used, nullptr, bob.access_token).status, 200);
}

TEST(Media, MediaGoesWithTheLastMessageRetentionDeletes) {
    ManualClock clock(SystemClock().now_ms());
    TestServer s("", [](Config& c) { c.retention.history_s = 3600; }, &clock);
    auto d = Duo::start(s);
    auto id = upload(s.port(), d.alice, "image/png", png_bytes(100));
    d.a->send(image_frame(d.bob.user_id, id, "image/png", 100));
    d.a->expect("sent");
    ASSERT_FALSE(next_message(*d.b).is_null());  // acked: no inbox row holds the message
    d.b->send({{"type", "ping"}, {"id", "acked"}});
    EXPECT_EQ(d.b->expect("pong")["id"], "acked");
    namespace fs = std::filesystem;
    auto blob = fs::path(s.data_dir()) / "blobs" / "m" / id;
    EXPECT_EQ(s.app().sweep_now().media, 0u) << "its message is in history";
    clock.advance_ms(2 * 3600 * 1000);
    auto swept = s.app().sweep_now();
    EXPECT_EQ(swept.history, 1u);
    EXPECT_EQ(swept.media, 1u);
    EXPECT_FALSE(fs::exists(blob));
}

TEST(Media, ATextSentAfterAnImageKeepsTheSocketsOrder) {
    TestServer s;
    auto d = Duo::start(s);
    auto id = upload(s.port(), d.alice, "image/png", png_bytes(5000));
    d.a->send(image_frame(d.bob.user_id, id, "image/png", 5000, "1"));
    d.a->send(send_frame(d.bob.user_id, "and a caption after", "", "2"));
    auto first = d.a->expect("sent");
    auto second = d.a->expect("sent");
    EXPECT_EQ(first["id"], "1");
    EXPECT_EQ(second["id"], "2");
    EXPECT_EQ(second["seq"].get<int>(), first["seq"].get<int>() + 1);
}

}  // namespace
}  // namespace natter::test
