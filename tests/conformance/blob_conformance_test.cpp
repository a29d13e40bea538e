// The blob store conformance suite on the local adapter. Its signed URLs
// are served by natterd; here the test plays natterd's part with the
// adapter's own endpoint checks, so the suite needs no server.
#include "blob_conformance.hpp"

#include <fstream>
#include <sstream>

#include "../common/temp_dir.hpp"
#include "adapters/localblobs/local_blobs.hpp"

namespace natter::blobtest {
namespace {

class LocalUnderTest final : public BlobUnderTest {
public:
    LocalUnderTest() { store = &blobs_; }
    int perform(const PresignedRequest& req, const std::string& body, std::string* response_body) override {
        auto q = req.url.find('?');
        auto grant = blobs_.authorize(req.method, req.url.substr(0, q), q == std::string::npos ? "" : req.url.substr(q + 1),
                                      BlobConformance::now());
        if (!grant) return http_status(grant.error().code);
        if (grant->upload) {
            if (body.size() != grant->size) return 400;
            auto temp = blobs_.temp_path();
            std::ofstream(temp, std::ios::binary) << body;
            auto done = blobs_.commit_upload(*grant, temp);
            return done ? 200 : http_status(done.error().code);
        }
        std::ifstream in(grant->path, std::ios::binary);
        if (!in) return 404;
        std::ostringstream all;
        all << in.rdbuf();
        if (response_body) *response_body = all.str();
        return 200;
    }

private:
    testutil::TempDir dir_;
    localblobs::LocalBlobs blobs_{localblobs::LocalBlobsConfig{dir_.file("blobs"), std::string(32, 'k'), ""}};
};

const BlobFactory kLocal{"local", [] { return std::make_unique<LocalUnderTest>(); }};

INSTANTIATE_TEST_SUITE_P(Blobs, BlobConformance, ::testing::Values(kLocal),
                         [](const ::testing::TestParamInfo<BlobFactory>& info) { return info.param.name; });

}  // namespace
}  // namespace natter::blobtest
