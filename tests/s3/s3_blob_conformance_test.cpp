// The blob store conformance suite on the S3 adapter, against a real s3rver
// (one per test process, a bucket of its own per test). The test plays the
// client: each pre-signed request goes to s3rver as a real HTTP request.
#include "conformance/blob_conformance.hpp"

#include "adapters/s3/s3_blobs.hpp"
#include "s3rver_process.hpp"
#include "url_client.hpp"

namespace natter::blobtest {
namespace {

using s3test::S3rverProcess;

class S3UnderTest final : public BlobUnderTest {
public:
    S3UnderTest() {
        auto& server = S3rverProcess::shared();
        const auto bucket = s3test::fresh_bucket("conformance");
        server.create_bucket(bucket);
        blobs_ = std::make_unique<s3::S3Blobs>(s3::S3BlobsConfig{
            .bucket = {server.endpoint(), "us-east-1", bucket, s3::UrlStyle::path},
            .credentials = s3test::kS3rverCredentials});
        store = blobs_.get();
    }
    int perform(const PresignedRequest& req, const std::string& body, std::string* response_body) override {
        auto r = s3test::fetch(req.method, req.url, body, req.headers);
        if (response_body) *response_body = r.body;
        return r.status;
    }

private:
    std::unique_ptr<s3::S3Blobs> blobs_;
};

const BlobFactory kS3{"s3", [] { return std::make_unique<S3UnderTest>(); }};

INSTANTIATE_TEST_SUITE_P(Blobs, BlobConformance, ::testing::Values(kS3),
                         [](const ::testing::TestParamInfo<BlobFactory>& info) { return info.param.name; });

}  // namespace
}  // namespace natter::blobtest
