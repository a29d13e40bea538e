// What a GET of a path serves from the web client's directory, and what it never does.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../common/temp_dir.hpp"
#include "transport/static_files.hpp"

namespace {

using namespace natter;
namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = dir_.path() / "dist";
        fs::create_directories(root_ / "assets");
        write(root_ / "index.html", "<!doctype html><title>natter</title>");
        write(root_ / "assets" / "app-3f2a.js", "console.log(1)");
        write(root_ / "favicon.svg", "<svg/>");
        write(dir_.path() / "secret.txt", "outside");
        fs::create_symlink(dir_.path() / "secret.txt", root_ / "leak.txt");
    }
    static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
    testutil::TempDir dir_;
    fs::path root_;
};

TEST_F(StaticFilesTest, ServesFilesWithTheirTypesAndCaching) {
    StaticFiles web(root_.string());
    ASSERT_TRUE(web.enabled());
    auto index = web.resolve("/");
    ASSERT_TRUE(index);
    EXPECT_EQ(fs::path(index->path).filename(), "index.html");
    EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
    EXPECT_EQ(index->cache_control, "no-cache");
    auto js = web.resolve("/assets/app-3f2a.js");
    ASSERT_TRUE(js);
    EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
    EXPECT_EQ(js->cache_control, "public, max-age=31536000, immutable");
    EXPECT_EQ(web.resolve("/favicon.svg")->content_type, "image/svg+xml");
}

TEST_F(StaticFilesTest, TheAppsOwnRoutesGetIndexMissingFilesDoNot) {
    StaticFiles web(root_.string());
    EXPECT_EQ(fs::path(web.resolve("/chat/123")->path).filename(), "index.html");
    EXPECT_EQ(fs::path(web.resolve("/login")->path).filename(), "index.html");
    EXPECT_FALSE(web.resolve("/assets/missing.js")) << "a missing file is a 404, not the app";
    EXPECT_FALSE(web.resolve("/robots.txt"));
}

TEST_F(StaticFilesTest, NothingOutsideTheRoot) {
    StaticFiles web(root_.string());
    for (std::string evil : {"/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
                             "//etc/passwd", "/assets\\..\\..\\secret.txt", "/leak.txt", "relative", ""}) {
        auto r = web.resolve(evil);
        EXPECT_TRUE(!r || fs::path(r->path).filename() == "index.html") << evil;
        if (r) EXPECT_NE(r->path.find(root_.filename().string()), std::string::npos) << evil;
    }
    EXPECT_FALSE(web.resolve("/leak.txt")) << "a symbolic link out of the root";
    EXPECT_FALSE(web.resolve("/../secret.txt"));
}

TEST_F(StaticFilesTest, AMissingRootServesNothing) {
    StaticFiles none((dir_.path() / "nope").string());
    EXPECT_FALSE(none.enabled());
    EXPECT_FALSE(none.resolve("/"));
    EXPECT_FALSE(StaticFiles("").enabled());
}

TEST(StaticFilesHeaders, AStrictPolicyGoesWithEveryFile) {
    bool csp = false, nosniff = false, frames = false;
    for (const auto& [k, v] : StaticFiles::security_headers()) {
        if (k == "Content-Security-Policy") csp = v.find("frame-ancestors 'none'") != std::string::npos &&
                                                v.find("script-src 'self'") != std::string::npos;
        if (k == "X-Content-Type-Options") nosniff = v == "nosniff";
        if (k == "X-Frame-Options") frames = v == "DENY";
    }
    EXPECT_TRUE(csp && nosniff && frames);
}

}  // namespace
