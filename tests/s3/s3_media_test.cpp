// Image messages with natterd's blobs in S3: natterd in the test process,
// configured for a bucket of its own on a real s3rver; clients PUT and GET
// the bytes straight to s3rver with the URLs natterd hands out.
#include <gtest/gtest.h>

#include "s3rver_process.hpp"
#include "support/test_server.hpp"
#include "url_client.hpp"

namespace natter::test {
namespace {

using s3test::fetch;
using s3test::S3rverProcess;

std::string png_bytes(std::size_t n) {
    std::string b = "\x89PNG\r\n\x1A\n";
    for (std::size_t i = b.size(); i < n; ++i) b += char(i * 31 % 251);
    return b;
}

// natterd's settings for `bucket` on the shared s3rver.
std::function<void(Config&)> with_bucket(const std::string& bucket) {
    return [bucket](Config& c) {
        c.blobs_adapter = "s3";
        c.s3.endpoint = S3rverProcess::shared().endpoint();
        c.s3.bucket = bucket;
        c.s3.access_key_id = s3test::kS3rverCredentials.access_key_id;
        c.s3.secret_access_key = s3test::kS3rverCredentials.secret_access_key;
    };
}

// A bucket of its own on the shared s3rver.
std::string new_bucket() {
    auto bucket = s3test::fresh_bucket("media");
    S3rverProcess::shared().create_bucket(bucket);
    return bucket;
}

std::vector<std::pair<std::string, std::string>> headers_of(const json& upload) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& [k, v] : upload["headers"].items()) out.emplace_back(k, v.get<std::string>());
    return out;
}

// POST /v1/media, then the PUT to s3rver; the media id.
std::string upload(std::uint16_t port, const Account& a, const std::string& mime, const std::string& bytes) {
    auto m = http(port, "POST", "/v1/media", {{"mime", mime}, {"size", bytes.size()}}, a.access_token);
    EXPECT_EQ(m.status, 201) << m.raw;
    auto put = fetch(m.body["upload"]["method"], m.body["upload"]["url"], bytes, headers_of(m.body["upload"]));
    EXPECT_EQ(put.status, 200) << put.body << put.error;
    return m.body["media_id"];
}

json image_frame(const std::string& to_user, const std::string& media_id, std::size_t size, const std::string& id) {
    json f = send_frame(to_user, "", "", id);
    f.erase("body");
    f["attachment"] = {{"media_id", media_id}, {"mime", "image/png"}, {"size", size}, {"width", 64}, {"height", 48}};
    return f;
}

// Whether the bucket holds natterd's object for `media_id`, asked with a URL of the test's own.
int object_status(const std::string& bucket, const std::string& media_id) {
    const s3::Bucket b{S3rverProcess::shared().endpoint(), "us-east-1", bucket, s3::UrlStyle::path};
    auto get = s3::presign(b, s3test::kS3rverCredentials, {"GET", "m/" + media_id, {}, {}}, SystemClock().now_ms() / 1000, 60);
    return get ? fetch("GET", get->url).status : -1;
}

TEST(S3Media, APhotoGoesThroughTheBucketByteIdentical) {
    TestServer s(with_bucket(new_bucket()));
    auto d = Duo::start(s);
    auto bytes = png_bytes(200000);
    auto m = http(s.port(), "POST", "/v1/media", {{"mime", "image/png"}, {"size", bytes.size()}}, d.alice.access_token);
    ASSERT_EQ(m.status, 201) << m.raw;
    const auto& up = m.body["upload"];
    EXPECT_EQ(up["method"], "PUT");
    EXPECT_EQ(up["url"].get<std::string>().rfind(S3rverProcess::shared().endpoint() + "/", 0), 0u) << up;
    EXPECT_EQ(up["headers"], (json{{"Content-Type", "image/png"}, {"If-None-Match", "*"}}));
    auto put = fetch("PUT", up["url"], bytes, headers_of(up));
    ASSERT_EQ(put.status, 200) << put.body << put.error;

    d.a->send(image_frame(d.bob.user_id, m.body["media_id"], bytes.size(), "img"));
    auto sent = d.a->expect("sent");
    EXPECT_EQ(sent["id"], "img");
    auto got = next_message(*d.b);
    ASSERT_FALSE(got.is_null());
    EXPECT_EQ(got["kind"], "image");
    EXPECT_EQ(got["attachment"]["media_id"], m.body["media_id"]);
    EXPECT_EQ(got["attachment"]["size"], bytes.size());

    auto dl = http(s.port(), "GET", "/v1/media/" + m.body["media_id"].get<std::string>(), nullptr, d.bob.access_token);
    ASSERT_EQ(dl.status, 200) << dl.raw;
    auto file = fetch("GET", dl.body["download_url"]);
    ASSERT_EQ(file.status, 200) << file.body << file.error;
    EXPECT_TRUE(file.body == bytes) << "byte-identical";
    EXPECT_EQ(file.headers["content-type"], "image/png");

    // natterd serves no blobs of its own with S3.
    auto url = up["url"].get<std::string>();
    auto local = http_raw(s.port(), "GET", "/v1/blobs/m/" + m.body["media_id"].get<std::string>() + url.substr(url.find('?')));
    EXPECT_EQ(local.status, 404) << local.raw;
}

TEST(S3Media, AFakeImageOrAMissingUploadIsRefusedAtSend) {
    TestServer s(with_bucket(new_bucket()));
    auto d = Duo::start(s);
    auto text = upload(s.port(), d.alice, "image/png", std::string(500, 'x'));
    d.a->send(image_frame(d.bob.user_id, text, 500, "fake"));
    auto e = d.a->expect("error");
    EXPECT_EQ(e["code"], "invalid") << e;
    EXPECT_EQ(e["id"], "fake");
    EXPECT_NE(e["message"].get<std::string>().find("not image/png"), std::string::npos) << e;

    auto never = http(s.port(), "POST", "/v1/media", {{"mime", "image/png"}, {"size", 100}}, d.alice.access_token);
    d.a->send(image_frame(d.bob.user_id, never.body["media_id"], 100, "never"));
    e = d.a->expect("error");
    EXPECT_EQ(e["code"], "invalid") << e;
    EXPECT_NE(e["message"].get<std::string>().find("not been uploaded"), std::string::npos) << e;
}

TEST(S3Media, TheSweeperDeletesAnUnusedObjectFromTheBucket) {
    ManualClock clock(SystemClock().now_ms());
    auto bucket = new_bucket();
    TestServer s("", with_bucket(bucket), &clock);
    auto d = Duo::start(s);
    auto unused = upload(s.port(), d.alice, "image/png", png_bytes(100));
    auto used = upload(s.port(), d.alice, "image/png", png_bytes(100));
    d.a->send(image_frame(d.bob.user_id, used, 100, "used"));
    d.a->expect("sent");
    ASSERT_EQ(object_status(bucket, unused), 200);
    EXPECT_EQ(s.app().sweep_now().media, 0u) << "within the grace period";
    clock.advance_ms(25 * 3600 * 1000);
    EXPECT_EQ(s.app().sweep_now().media, 1u);
    EXPECT_EQ(object_status(bucket, unused), 404) << "gone from the bucket";
    EXPECT_EQ(object_status(bucket, used), 200);
}

TEST(S3Media, ABucketThatIsDownMakesMediaUnavailableNotInvalid) {
    TestServer s([](Config& c) {
        c.blobs_adapter = "s3";
        c.s3.endpoint = "http://127.0.0.1:1";  // nothing listens there
        c.s3.bucket = "natter-media";
        c.s3.access_key_id = "natter";
        c.s3.secret_access_key = "natter-secret";
    });
    auto d = Duo::start(s);  // natterd starts, and text still works
    auto m = http(s.port(), "POST", "/v1/media", {{"mime", "image/png"}, {"size", 100}}, d.alice.access_token);
    ASSERT_EQ(m.status, 201) << "pre-signing needs no bucket: " << m.raw;
    d.a->send(image_frame(d.bob.user_id, m.body["media_id"], 100, "down"));
    auto e = d.a->expect("error");
    EXPECT_EQ(e["code"], "unavailable") << e;
    d.a->send(send_frame(d.bob.user_id, "text still goes", "", "text"));
    EXPECT_EQ(d.a->expect("sent")["id"], "text");
}

}  // namespace
}  // namespace natter::test
