#pragma once
// An image file to upload: opened once, its type told by its first bytes
// (what natterd checks too), its pixel size read from the header when that
// is cheap. Refused here, before any upload, when it is not an image natterd
// takes or is too large.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace natter::cli {

// natterd's default media.max_bytes.
constexpr std::uint64_t kMaxImageBytes = 16u << 20;

// "image/jpeg", "image/png", "image/gif", "image/webp", or "" for anything else.

// Width and height from the header bytes (PNG IHDR, GIF screen, WebP VP8/VP8L/VP8X);
// nullopt when they are not there. JPEG needs its markers walked: see ImageFile.
struct Dimensions {
    std::uint32_t width = 0;
    std::uint32_t height = 0;
};
std::optional<Dimensions> header_dimensions(std::string_view head, const std::string& mime);

// "photo.png" from "dir/photo.png".
std::string base_name(const std::string& path);

class ImageFile {
public:
    // Throws CliError (usage, exit 2) for a file that cannot be read, is not a
    // regular file, is empty, is over `max_bytes`, or is not an image by its
    // first bytes.
    static ImageFile open(const std::string& path, std::uint64_t max_bytes = kMaxImageBytes);

    ImageFile(ImageFile&& o) noexcept;
    ImageFile& operator=(ImageFile&&) = delete;
    ImageFile(const ImageFile&) = delete;
    ~ImageFile();

    const std::string& path() const { return path_; }
    std::string name() const { return base_name(path_); }
    int fd() const { return fd_; }  // read with pread: the offset stays at 0
    std::uint64_t size() const { return size_; }
    const std::string& mime() const { return mime_; }
    const std::optional<Dimensions>& dimensions() const { return dims_; }

private:
    ImageFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
    std::optional<Dimensions> jpeg_dimensions() const;

    std::string path_;
    int fd_ = -1;
    std::uint64_t size_ = 0;
    std::string mime_;
    std::optional<Dimensions> dims_;
};

}  // namespace natter::cli
