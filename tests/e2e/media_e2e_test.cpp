// Images through the CLI: send --image (checked, uploaded, sent), what
// listen, chat and history show, media get (byte-identical, refused to
// strangers), and avatars.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "e2e/e2e_fixture.hpp"

namespace natter::e2e {
namespace {

// A PNG as far as anyone checks without decoding it: the signature, an IHDR
// chunk with the size, then filler up to `n` bytes.
std::string png_bytes(std::uint32_t width, std::uint32_t height, std::size_t n) {
    std::string b = "\x89PNG\r\n\x1A\n";
    b += std::string("\0\0\0\x0d", 4) + "IHDR";
    for (auto v : {width, height})
        for (int shift = 24; shift >= 0; shift -= 8) b += char((v >> shift) & 0xff);
    b += std::string("\x08\x02\0\0\0", 5) + "crc!";
    for (std::size_t i = b.size(); i < n; ++i) b += char(i * 31 % 251);
    return b;
}

std::string le(std::uint32_t v, int bytes) {
    std::string out;
    for (int i = 0; i < bytes; ++i) out += char((v >> (8 * i)) & 0xff);
    return out;
}

std::string padded(std::string b, std::size_t n = 600) {
    for (std::size_t i = b.size(); i < n; ++i) b += char(i * 7 % 253);
    return b;
}

// Headers as the formats lay them out, then filler (natterd checks only the first bytes).
std::string jpeg_bytes(std::uint16_t width, std::uint16_t height) {
    std::string b = "\xFF\xD8";
    b += std::string("\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", 18);  // APP0
    b += std::string("\xFF\xDB\x00\x04\x00\x00", 6);                                           // a (short) DQT
    b += std::string("\xFF\xFF\xC0\x00\x11\x08", 6);                                           // fill byte, SOF0
    b += char(height >> 8);
    b += char(height & 0xff);
    b += char(width >> 8);
    b += char(width & 0xff);
    return padded(b);
}
std::string gif_bytes(std::uint16_t width, std::uint16_t height) { return padded("GIF89a" + le(width, 2) + le(height, 2)); }
std::string webp(const std::string& chunk, const std::string& data) {
    return padded("RIFF" + le(590, 4) + "WEBP" + chunk + le(std::uint32_t(data.size()), 4) + data);
}

class Media : public E2E {
protected:
    std::string file(const std::string& name, const std::string& bytes) {
        auto path = files_.path() + "/" + name;
        std::ofstream(path, std::ios::binary) << bytes;
        return path;
    }
    std::string read(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }
    std::string path(const std::string& name) const { return files_.path() + "/" + name; }

    // "sent: … media_id=ID" → ID.
    static std::string media_id_of(const std::string& out) {
        auto at = out.find("media_id=");
        if (at == std::string::npos) return "";
        auto id = out.substr(at + 9);
        return id.substr(0, id.find_first_not_of("0123456789"));
    }

    test::TempDir files_;
};

TEST_F(Media, AnImageSentIsListenedToAndDownloadedByteIdentical) {
    auto alice = sign_up("alice");
    auto bob = sign_up("bob");
    auto bytes = png_bytes(640, 480, 300000);
    auto photo = file("photo.png", bytes);

    auto r = natter("alice", {"send", "bob", "--image", photo, "the", "view"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto conversation = direct_conversation(alice["user_id"], bob["user_id"]);
    EXPECT_EQ(r.out.rfind("sent: conversation=" + conversation + " seq=1 message_id=", 0), 0u) << r.out;
    auto media_id = media_id_of(r.out);
    ASSERT_FALSE(media_id.empty()) << r.out;
    EXPECT_NE(r.err.find("uploaded photo.png: 300 KB in "), std::string::npos) << "a plain final line: " << r.err;
    EXPECT_EQ(r.err.find('\r'), std::string::npos) << "no progress bar when stderr is not a terminal";

    r = natter("bob", {"listen", "--count", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 1u) << r.out;
    EXPECT_EQ(lines[0]["kind"], "image");
    EXPECT_EQ(lines[0]["body"], "the view");
    EXPECT_EQ(lines[0]["from"]["user"], alice["user_id"]);
    const auto& a = lines[0]["attachment"];
    EXPECT_EQ(a["media_id"], media_id);
    EXPECT_EQ(a["mime"], "image/png");
    EXPECT_EQ(a["size"], bytes.size());
    EXPECT_EQ(a["width"], 640);
    EXPECT_EQ(a["height"], 480);
    EXPECT_FALSE(a.contains("thumbnail"));
    // For the person watching: what it is and how to get it.
    EXPECT_NE(r.err.find("] alice: [image/png 640x480, 300 KB] the view — natter media get " + media_id +
                         " (chat with alice)\n"),
              std::string::npos)
        << r.err;

    r = natter("bob", {"media", "get", media_id, "-o", path("out.png")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "saved " + path("out.png") + " (image/png, 300 KB)\n");
    EXPECT_NE(r.err.find("downloaded out.png: 300 KB in "), std::string::npos) << r.err;
    EXPECT_TRUE(read(path("out.png")) == bytes) << "byte-identical";
    // Nothing left beside it: the download was written under a temporary name, then renamed.
    int entries = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(files_.path())) ++entries;
    EXPECT_EQ(entries, 2);

    // -o -: the bytes on stdout, the rest on stderr.
    r = natter("bob", {"media", "get", media_id, "-o", "-"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(r.out == bytes) << "stdout has " << r.out.size() << " bytes";

    // The uploader may download it too; history shows it.
    r = natter("alice", {"history", "bob"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(" #1 alice: [image/png 640x480, 300 KB] the view — natter media get " + media_id + "\n"),
              std::string::npos)
        << r.out;
}

TEST_F(Media, WidthAndHeightComeFromEachKindsHeader) {
    sign_up("alice");
    sign_up("bob");
    struct Case {
        const char* name;
        std::string bytes;
        const char* mime;
        int width, height;
    };
    std::uint32_t vp8l_bits = (300 - 1) | (200 - 1) << 14;
    std::vector<Case> cases = {
        {"a.jpg", jpeg_bytes(640, 480), "image/jpeg", 640, 480},
        {"b.gif", gif_bytes(33, 17), "image/gif", 33, 17},
        {"c.webp", webp("VP8 ", std::string("\x10\x02\x00\x9d\x01\x2a", 6) + le(120, 2) + le(90, 2)), "image/webp", 120, 90},
        {"d.webp", webp("VP8L", "\x2f" + le(vp8l_bits, 4)), "image/webp", 300, 200},
        {"e.webp", webp("VP8X", std::string(4, '\0') + le(1024 - 1, 3) + le(768 - 1, 3)), "image/webp", 1024, 768},
    };
    for (const auto& c : cases) {
        auto r = natter("alice", {"send", "bob", "--image", file(c.name, c.bytes), c.name});
        ASSERT_EQ(r.exit_code, 0) << c.name << ": " << r.err;
    }
    auto r = natter("bob", {"listen", "--count", std::to_string(cases.size())});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), cases.size()) << r.out;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& a = lines[i]["attachment"];
        EXPECT_EQ(lines[i]["body"], cases[i].name);
        EXPECT_EQ(a["mime"], cases[i].mime) << cases[i].name;
        EXPECT_EQ(a["width"], cases[i].width) << cases[i].name;
        EXPECT_EQ(a["height"], cases[i].height) << cases[i].name;
    }
}

TEST_F(Media, AGroupImageWithoutCaption) {
    sign_up("alice");
    sign_up("bob");
    sign_up("carol");
    auto r = natter("alice", {"group", "create", "Friends", "bob"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto at = r.out.find("group_id=");
    ASSERT_NE(at, std::string::npos) << r.out;
    auto group = r.out.substr(at + 9, r.out.find_first_not_of("0123456789", at + 9) - at - 9);

    auto photo = file("g.png", png_bytes(32, 16, 2000));
    r = natter("alice", {"send", "--group", group, "--image", photo});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto media_id = media_id_of(r.out);
    r = natter("bob", {"listen", "--count", "2"});  // the group's creation, then the image
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 2u) << r.out;
    EXPECT_EQ(lines[1]["kind"], "image");
    EXPECT_FALSE(lines[1].contains("body"));
    EXPECT_EQ(lines[1]["attachment"]["media_id"], media_id);
    EXPECT_EQ(lines[1]["to"]["group"], group);
    EXPECT_NE(r.err.find("] alice: [image/png 32x16, 2.0 KB] — natter media get " + media_id + " (group " + group + ")"),
              std::string::npos)
        << r.err;

    // Not a member: refused before anything is uploaded.
    r = natter("carol", {"send", "--group", group, "--image", photo});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "natter: forbidden: not a member of this group\n");
}

TEST_F(Media, FilesThatAreNotImagesAreRefusedBeforeAnyUpload) {
    sign_up("alice");
    sign_up("bob");
    auto notes = file("notes.txt", "hello, this is text\n");
    auto fake = file("fake.png", "PNG? no: " + std::string(1000, 'x'));
    // Sparse: a PNG signature, then past natterd's 16 MiB.
    auto huge = file("huge.png", png_bytes(10, 10, 100));
    std::filesystem::resize_file(huge, (16u << 20) + 1);
    auto empty = file("empty.png", "");
    // With natterd gone, a refusal that came from the network would exit 3.
    auto natter = [this, where = url()](const std::string& profile, std::vector<std::string> args) {
        args.insert(args.begin(), {"--server", where, "--profile", profile});
        auto p = start_raw(args);
        p->close_stdin();
        p->wait();
        return p->result();
    };
    stop_server();

    auto r = natter("alice", {"send", "bob", "--image", notes, "hi"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.err, "natter: " + notes +
                         " is not a JPEG, PNG, WebP or GIF image (judged by its first bytes), the only kinds natter sends\n");
    EXPECT_EQ(r.out, "");
    r = natter("alice", {"send", "bob", "--image", fake});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("is not a JPEG, PNG, WebP or GIF image"), std::string::npos) << r.err;
    r = natter("alice", {"send", "bob", "--image", huge});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.err, "natter: " + huge + " is 17 MB (16777217 bytes): an image may be at most 16 MiB (16777216 bytes)\n");
    r = natter("alice", {"send", "bob", "--image", empty});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.err, "natter: " + empty + " is empty: not an image\n");
    r = natter("alice", {"send", "bob", "--image", path("missing.png")});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.err, "natter: cannot read " + path("missing.png") + ": no such file or directory\n");
    r = natter("alice", {"profile", "avatar", notes});
    EXPECT_EQ(r.exit_code, 2);
}

TEST_F(Media, AStrangerCannotDownload) {
    sign_up("alice");
    sign_up("bob");
    sign_up("carol");
    auto r = natter("alice", {"send", "bob", "--image", file("p.png", png_bytes(8, 8, 500)), "for bob"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto media_id = media_id_of(r.out);

    r = natter("carol", {"media", "get", media_id, "-o", path("stolen.png")});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("natter: forbidden: ", 0), 0u) << r.err;
    EXPECT_FALSE(std::filesystem::exists(path("stolen.png")));
    EXPECT_EQ(r.out, "");

    r = natter("carol", {"media", "get", "12345", "-o", path("none.png")});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "natter: not_found: no such media\n");
    r = natter("carol", {"media", "get", "not-an-id"});
    EXPECT_EQ(r.exit_code, 2);
    r = natter("bob", {"media", "get", media_id, "-o", files_.path()});
    EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST_F(Media, ChatShowsAnImageLine) {
    sign_up("alice");
    sign_up("bob");
    auto r = natter("alice", {"send", "bob", "--image", file("c.png", png_bytes(64, 32, 5000)), "look"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto media_id = media_id_of(r.out);
    auto chat = start("bob", {"chat", "alice"});
    ASSERT_TRUE(chat->wait_stdout("] alice: [image/png 64x32, 5.0 KB] look — natter media get " + media_id + "\n"))
        << chat->describe();
    chat->write("/quit\n");
    EXPECT_EQ(chat->wait(), 0) << chat->describe();
    expect_inbox_empty(port(), account("bob"));

    // conversations: the last message, without the command.
    r = natter("bob", {"conversations"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(" alice: [image/png 64x32, 5.0 KB] look\n"), std::string::npos) << r.out;
}

TEST_F(Media, AvatarSetShownDownloadedAndCleared) {
    sign_up("alice");
    sign_up("carol");
    auto bytes = png_bytes(96, 96, 4000);
    auto r = natter("alice", {"profile", "avatar", file("me.png", bytes)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("avatar set: media ", 0), 0u) << r.out;

    r = natter("carol", {"profile", "show", "alice", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto profile = json::parse(r.out, nullptr, false);
    ASSERT_TRUE(profile.contains("avatar_media_id")) << r.out;
    std::string avatar = profile["avatar_media_id"];
    r = natter("carol", {"profile", "show", "alice"});
    EXPECT_NE(r.out.find("avatar:       " + avatar + " — natter media get " + avatar + "\n"), std::string::npos) << r.out;
    // Anyone may download an avatar.
    r = natter("carol", {"media", "get", avatar, "-o", path("alice.png")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(read(path("alice.png")) == bytes);

    r = natter("alice", {"profile", "avatar", "--clear"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "avatar cleared\n");
    r = natter("alice", {"profile", "show"});
    EXPECT_NE(r.out.find("avatar:       (none)\n"), std::string::npos) << r.out;
    r = natter("alice", {"profile", "avatar"});
    EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace natter::e2e
