#pragma once
// The blob store conformance suite: what the media service relies on from a
// BlobStore. Included by each test binary that has a blob adapter to check
// (the local one here; S3 against a real S3 server in tests/s3), which
// instantiates it with its factories.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "ports/blobs.hpp"

namespace natter::blobtest {

// A blob store under test, with what a client does with its URLs.
struct BlobUnderTest {
    virtual ~BlobUnderTest() = default;
    BlobStore* store = nullptr;
    // Performs a pre-signed request as a client would; the HTTP status (0: no answer).
    virtual int perform(const PresignedRequest& req, const std::string& body, std::string* response_body = nullptr) = 0;
};

struct BlobFactory {
    std::string name;
    std::function<std::unique_ptr<BlobUnderTest>()> make;
};

inline void PrintTo(const BlobFactory& f, std::ostream* os) { *os << f.name; }

constexpr std::int64_t kNowMs = 1'795'000'000'000;

class BlobConformance : public ::testing::TestWithParam<BlobFactory> {
public:
    // The real time: a store with a clock of its own (S3) checks expiry against it.
    static std::int64_t now() {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    }

protected:
    void SetUp() override {
        sut_ = GetParam().make();
        blobs_ = sut_->store;
    }
    // Uploads through a pre-signed PUT, as a client; the status.
    int upload(const std::string& key, const std::string& mime, const std::string& bytes) {
        return sut_->perform(blobs_->presign_upload(key, mime, bytes.size(), now(), 300), bytes);
    }
    std::unique_ptr<BlobUnderTest> sut_;
    BlobStore* blobs_ = nullptr;
};

inline std::string sample(std::size_t n) {
    std::string b = "\x89PNG\r\n\x1A\n";
    for (std::size_t i = b.size(); i < n; ++i) b += char('a' + i % 26);
    return b;
}

TEST_P(BlobConformance, AnUploadIsSeenWithItsSizeAndFirstBytes) {
    auto bytes = sample(70000);
    ASSERT_EQ(upload("m/101", "image/png", bytes), 200);
    auto info = blobs_->stat("m/101", 16);
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->size, bytes.size());
    EXPECT_EQ(info->head, bytes.substr(0, 16));
    auto whole = blobs_->stat("m/101", 1 << 20);
    ASSERT_TRUE(whole.has_value());
    EXPECT_EQ(whole->head.size(), bytes.size()) << "never more than there is";
}

TEST_P(BlobConformance, ADownloadUrlGivesTheBytesBack) {
    auto bytes = sample(5000);
    ASSERT_EQ(upload("m/102", "image/png", bytes), 200);
    auto get = blobs_->presign_download("m/102", "image/png", now(), 300);
    EXPECT_EQ(get.method, "GET");
    EXPECT_GT(get.expires_at, now());
    std::string body;
    ASSERT_EQ(sut_->perform(get, "", &body), 200);
    EXPECT_EQ(body, bytes);
}

TEST_P(BlobConformance, AnUploadUrlSaysWhatToSend) {
    auto put = blobs_->presign_upload("m/103", "image/jpeg", 1234, kNowMs, 300);
    EXPECT_EQ(put.method, "PUT");
    EXPECT_EQ(put.expires_at, kNowMs + 300 * 1000);
    bool has_type = false;
    for (const auto& [k, v] : put.headers) has_type |= (k == "Content-Type" && v == "image/jpeg");
    EXPECT_TRUE(has_type) << "the client must send the type it was signed for";
    EXPECT_FALSE(put.url.empty());
}

TEST_P(BlobConformance, MissingBlobsAreNotThere) {
    EXPECT_FALSE(blobs_->stat("m/404", 16).has_value());
    std::string body;
    EXPECT_EQ(sut_->perform(blobs_->presign_download("m/404", "image/png", now(), 300), "", &body), 404);
}

TEST_P(BlobConformance, RemoveDeletesTheBlob) {
    ASSERT_EQ(upload("m/105", "image/png", sample(100)), 200);
    EXPECT_TRUE(blobs_->remove("m/105"));
    EXPECT_FALSE(blobs_->stat("m/105", 16).has_value());
    std::string body;
    EXPECT_EQ(sut_->perform(blobs_->presign_download("m/105", "image/png", now(), 300), "", &body), 404);
    blobs_->remove("m/105");  // a second remove is harmless
}

TEST_P(BlobConformance, KeysAreApart) {
    ASSERT_EQ(upload("m/106", "image/png", sample(100)), 200);
    ASSERT_EQ(upload("m/107", "image/png", sample(200)), 200);
    EXPECT_EQ(blobs_->stat("m/106", 0)->size, 100u);
    EXPECT_EQ(blobs_->stat("m/107", 0)->size, 200u);
}

}  // namespace natter::blobtest
