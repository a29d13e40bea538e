// The rules that decide what counts as an image and what as a blob key.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "adapters/localblobs/local_blobs.hpp"
#include "chat/media.hpp"

namespace {

using namespace natter;

TEST(SniffImage, KnowsTheFourTypesByTheirFirstBytes) {
    EXPECT_EQ(sniff_image(std::string("\xFF\xD8\xFF\xE0rest", 8)), "image/jpeg");
    EXPECT_EQ(sniff_image(std::string("\x89PNG\r\n\x1A\nIHDR", 12)), "image/png");
    EXPECT_EQ(sniff_image("GIF87a...."), "image/gif");
    EXPECT_EQ(sniff_image("GIF89a...."), "image/gif");
    EXPECT_EQ(sniff_image(std::string("RIFF\x10\0\0\0WEBPVP8 ", 16)), "image/webp");
}

TEST(SniffImage, RefusesLookAlikesAndShortHeads) {
    EXPECT_EQ(sniff_image(""), "");
    EXPECT_EQ(sniff_image("\xFF\xD8"), "") << "two bytes are not a JPEG";
    EXPECT_EQ(sniff_image("\x89PNG"), "");
    EXPECT_EQ(sniff_image("GIF90a"), "");
    EXPECT_EQ(sniff_image(std::string("RIFF\x10\0\0\0WAVEfmt ", 16)), "") << "RIFF but a sound";
    EXPECT_EQ(sniff_image("<svg xmlns="), "");
    EXPECT_EQ(sniff_image("%PDF-1.7"), "");
}

TEST(BlobKeys, OnlyLowerCaseLettersDigitsAndSingleSlashes) {
    using localblobs::LocalBlobs;
    EXPECT_TRUE(LocalBlobs::valid_key("m/123"));
    EXPECT_TRUE(LocalBlobs::valid_key("a"));
    for (const std::string& bad : std::vector<std::string>{"", "/m/1", "m/1/", "m//1", "../x", "m/../x", "m/./x", "M/1", "m/1.png", "m\\1",
                            std::string("m/\0", 3), std::string(129, 'a')})
        EXPECT_FALSE(LocalBlobs::valid_key(bad)) << bad;
}

}  // namespace
