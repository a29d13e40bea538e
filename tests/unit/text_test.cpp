// Text checks on hostile input: UTF-8 code point counting, UUIDs, usernames.
#include <gtest/gtest.h>

#include <string>

#include "core/text.hpp"

namespace {

using natter::is_username;
using natter::is_uuid;
using natter::utf8_length;

// Builds a byte string from raw byte values, so invalid sequences are explicit.
std::string bytes(std::initializer_list<unsigned> values) {
    std::string s;
    for (unsigned v : values) s += static_cast<char>(v);
    return s;
}

TEST(Utf8Length, CountsAscii) {
    EXPECT_EQ(utf8_length(""), 0u);
    EXPECT_EQ(utf8_length("hello"), 5u);
    EXPECT_EQ(utf8_length(std::string("a\0b", 3)), 3u);  // NUL is a code point too
    EXPECT_EQ(utf8_length(bytes({0x7F})), 1u);
}

TEST(Utf8Length, CountsMultiByteCodePointsAsOne) {
    EXPECT_EQ(utf8_length(bytes({0xC3, 0xA9})), 1u);              // U+00E9 é
    EXPECT_EQ(utf8_length(bytes({0xC2, 0x80})), 1u);              // U+0080, smallest 2-byte
    EXPECT_EQ(utf8_length(bytes({0xE2, 0x82, 0xAC})), 1u);        // U+20AC €
    EXPECT_EQ(utf8_length(bytes({0xE0, 0xA0, 0x80})), 1u);        // U+0800, smallest 3-byte
    EXPECT_EQ(utf8_length(bytes({0xEF, 0xBF, 0xBF})), 1u);        // U+FFFF
    EXPECT_EQ(utf8_length(bytes({0xF0, 0x9F, 0x98, 0x80})), 1u);  // U+1F600 😀
    EXPECT_EQ(utf8_length(bytes({0xF4, 0x8F, 0xBF, 0xBF})), 1u);  // U+10FFFF, the last
    EXPECT_EQ(utf8_length("h\xC3\xA9llo \xF0\x9F\x98\x80"), 7u);
}

TEST(Utf8Length, RejectsOverlongEncodings) {
    EXPECT_EQ(utf8_length(bytes({0xC0, 0xAF})), std::nullopt);              // '/' in 2 bytes
    EXPECT_EQ(utf8_length(bytes({0xC1, 0xBF})), std::nullopt);              // U+007F in 2 bytes
    EXPECT_EQ(utf8_length(bytes({0xE0, 0x80, 0xAF})), std::nullopt);        // '/' in 3 bytes
    EXPECT_EQ(utf8_length(bytes({0xE0, 0x9F, 0xBF})), std::nullopt);        // U+07FF in 3 bytes
    EXPECT_EQ(utf8_length(bytes({0xF0, 0x80, 0x80, 0xAF})), std::nullopt);  // '/' in 4 bytes
    EXPECT_EQ(utf8_length(bytes({0xF0, 0x8F, 0xBF, 0xBF})), std::nullopt);  // U+FFFF in 4 bytes
}

TEST(Utf8Length, RejectsEncodedSurrogates) {
    EXPECT_EQ(utf8_length(bytes({0xED, 0xA0, 0x80})), std::nullopt);  // U+D800
    EXPECT_EQ(utf8_length(bytes({0xED, 0xAF, 0xBF})), std::nullopt);  // U+DBFF
    EXPECT_EQ(utf8_length(bytes({0xED, 0xB0, 0x80})), std::nullopt);  // U+DC00
    EXPECT_EQ(utf8_length(bytes({0xED, 0xBF, 0xBF})), std::nullopt);  // U+DFFF
    // The neighbours of the surrogate range are fine.
    EXPECT_EQ(utf8_length(bytes({0xED, 0x9F, 0xBF})), 1u);  // U+D7FF
    EXPECT_EQ(utf8_length(bytes({0xEE, 0x80, 0x80})), 1u);  // U+E000
}

TEST(Utf8Length, RejectsValuesPastTheLastCodePoint) {
    EXPECT_EQ(utf8_length(bytes({0xF4, 0x90, 0x80, 0x80})), std::nullopt);  // U+110000
    EXPECT_EQ(utf8_length(bytes({0xF7, 0xBF, 0xBF, 0xBF})), std::nullopt);  // U+1FFFFF
    EXPECT_EQ(utf8_length(bytes({0xF8, 0x88, 0x80, 0x80, 0x80})), std::nullopt);  // old 5-byte form
    EXPECT_EQ(utf8_length(bytes({0xFC, 0x84, 0x80, 0x80, 0x80, 0x80})), std::nullopt);
    EXPECT_EQ(utf8_length(bytes({0xFE})), std::nullopt);
    EXPECT_EQ(utf8_length(bytes({0xFF})), std::nullopt);
}

TEST(Utf8Length, RejectsTruncatedSequences) {
    EXPECT_EQ(utf8_length(bytes({0xC3})), std::nullopt);
    EXPECT_EQ(utf8_length(bytes({0xE2, 0x82})), std::nullopt);
    EXPECT_EQ(utf8_length(bytes({0xF0, 0x9F, 0x98})), std::nullopt);
    EXPECT_EQ(utf8_length("abc" + bytes({0xF0, 0x9F})), std::nullopt);  // cut at the end of a longer text
    // A lead byte followed by ASCII instead of continuation bytes.
    EXPECT_EQ(utf8_length(bytes({0xE2, 0x82, 'a'})), std::nullopt);
    EXPECT_EQ(utf8_length(bytes({0xC3, 'a', 'b'})), std::nullopt);
}

TEST(Utf8Length, StopsAtTheEndOfTheViewNotOfTheBuffer) {
    // The bytes that would complete the sequence lie just past the view.
    const std::string buffer = "x\xF0\x9F\x98\x80";
    const std::string_view whole(buffer);
    EXPECT_EQ(utf8_length(whole), 2u);
    for (std::size_t cut = 2; cut < buffer.size(); ++cut)
        EXPECT_EQ(utf8_length(whole.substr(0, cut)), std::nullopt) << "cut after " << cut << " bytes";
}

TEST(Utf8Length, RejectsStrayContinuationBytes) {
    EXPECT_EQ(utf8_length(bytes({0x80})), std::nullopt);
    EXPECT_EQ(utf8_length(bytes({0xBF})), std::nullopt);
    EXPECT_EQ(utf8_length("ok" + bytes({0x80}) + "ok"), std::nullopt);
    EXPECT_EQ(utf8_length(bytes({0xC3, 0xA9, 0xA9})), std::nullopt);  // one continuation too many
}

TEST(IsUuid, AcceptsCanonicalFormInEitherCase) {
    EXPECT_TRUE(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
    EXPECT_TRUE(is_uuid("123E4567-E89B-12D3-A456-426614174000"));
    EXPECT_TRUE(is_uuid("00000000-0000-0000-0000-000000000000"));
    EXPECT_TRUE(is_uuid("ffffffff-FFFF-ffff-FFFF-ffffffffffff"));
}

TEST(IsUuid, RejectsEverythingElse) {
    EXPECT_FALSE(is_uuid(""));
    EXPECT_FALSE(is_uuid("123e4567e89b12d3a456426614174000"));         // no dashes
    EXPECT_FALSE(is_uuid("{123e4567-e89b-12d3-a456-426614174000}"));   // braces
    EXPECT_FALSE(is_uuid("123e4567-e89b-12d3-a456-42661417400"));      // one short
    EXPECT_FALSE(is_uuid("123e4567-e89b-12d3-a456-4266141740000"));    // one long
    EXPECT_FALSE(is_uuid("123e4567-e89b-12d3-a456-42661417400g"));     // not hex
    EXPECT_FALSE(is_uuid("123e4567-e89b-12d3-a456_426614174000"));     // wrong separator
    EXPECT_FALSE(is_uuid("123e456-7e89b-12d3-a456-426614174000"));     // dash misplaced
    EXPECT_FALSE(is_uuid(std::string("123e4567-e89b-12d3-a456-42661417400\0", 36)));
}

TEST(IsUsername, AcceptsThreeToThirtyTwoAllowedCharacters) {
    EXPECT_TRUE(is_username("bob"));
    EXPECT_TRUE(is_username("alice_01.x"));
    EXPECT_TRUE(is_username("..."));
    EXPECT_TRUE(is_username(std::string(32, 'a')));
}

TEST(IsUsername, RejectsWrongLengthOrCharacters) {
    EXPECT_FALSE(is_username(""));
    EXPECT_FALSE(is_username("ab"));
    EXPECT_FALSE(is_username(std::string(33, 'a')));
    EXPECT_FALSE(is_username("Alice"));        // upper case
    EXPECT_FALSE(is_username("al ice"));
    EXPECT_FALSE(is_username("al-ice"));
    EXPECT_FALSE(is_username("alice@x"));
    EXPECT_FALSE(is_username("al/../ce"));
    EXPECT_FALSE(is_username("\xC3\xA9t\xC3\xA9"));  // "été": non-ASCII letters
    EXPECT_FALSE(is_username(std::string("bob\0", 4)));
}

}  // namespace
