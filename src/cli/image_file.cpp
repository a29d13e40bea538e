#include "image_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.hpp"
#include "media.hpp"

#include "core/image.hpp"

namespace natter::cli {

namespace {

constexpr std::size_t kHeadBytes = 64;
constexpr std::uint32_t kMaxDimension = 100000;  // natterd refuses larger width/height
constexpr int kMaxJpegSegments = 512;

std::uint32_t be16(std::string_view s, std::size_t at) {
    return std::uint32_t(std::uint8_t(s[at])) << 8 | std::uint8_t(s[at + 1]);
}
std::uint32_t be32(std::string_view s, std::size_t at) { return be16(s, at) << 16 | be16(s, at + 2); }
std::uint32_t le16(std::string_view s, std::size_t at) {
    return std::uint32_t(std::uint8_t(s[at + 1])) << 8 | std::uint8_t(s[at]);
}
std::uint32_t le24(std::string_view s, std::size_t at) { return le16(s, at) | std::uint32_t(std::uint8_t(s[at + 2])) << 16; }
std::uint32_t le32(std::string_view s, std::size_t at) { return le16(s, at) | le16(s, at + 2) << 16; }

std::optional<Dimensions> checked(std::uint32_t w, std::uint32_t h) {
    if (w < 1 || h < 1 || w > kMaxDimension || h > kMaxDimension) return std::nullopt;
    return Dimensions{w, h};
}

bool is_sof(std::uint8_t m) { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC; }

// "16 MiB (16777216 bytes)".
std::string max_size_text(std::uint64_t max) {
    std::string exact = std::to_string(max) + " bytes";
    if (max % (1u << 20) == 0) return std::to_string(max >> 20) + " MiB (" + exact + ")";
    return exact;
}

std::string lower_first(std::string s) {
    if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = char(s[0] - 'A' + 'a');
    return s;
}

}  // namespace

std::optional<Dimensions> header_dimensions(std::string_view h, const std::string& mime) {
    if (mime == "image/png") {
        if (h.size() < 24 || h.substr(12, 4) != "IHDR") return std::nullopt;
        return checked(be32(h, 16), be32(h, 20));
    }
    if (mime == "image/gif") {
        if (h.size() < 10) return std::nullopt;
        return checked(le16(h, 6), le16(h, 8));
    }
    if (mime == "image/webp") {
        if (h.size() < 30) return std::nullopt;
        auto chunk = h.substr(12, 4);
        if (chunk == "VP8 " && h.substr(23, 3) == "\x9d\x01\x2a")
            return checked(le16(h, 26) & 0x3fff, le16(h, 28) & 0x3fff);
        if (chunk == "VP8L" && std::uint8_t(h[20]) == 0x2f) {
            auto bits = le32(h, 21);
            return checked((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
        }
        if (chunk == "VP8X") return checked(le24(h, 24) + 1, le24(h, 27) + 1);
    }
    return std::nullopt;
}

std::string base_name(const std::string& path) {
    auto slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

ImageFile ImageFile::open(const std::string& path, std::uint64_t max_bytes) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw CliError(kExitUsage, "cannot read " + path + ": " + lower_first(std::strerror(errno)));
    ImageFile f(path, fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw CliError(kExitUsage, "cannot read " + path + ": " + lower_first(std::strerror(errno)));
    if (!S_ISREG(st.st_mode)) throw CliError(kExitUsage, path + " is not a regular file");
    f.size_ = std::uint64_t(st.st_size);
    if (f.size_ == 0) throw CliError(kExitUsage, path + " is empty: not an image");
    char head[kHeadBytes];
    auto n = ::pread(fd, head, sizeof head, 0);
    if (n < 0) throw CliError(kExitUsage, "cannot read " + path + ": " + lower_first(std::strerror(errno)));
    std::string_view h(head, std::size_t(n));
    f.mime_ = sniff_image(h);
    if (f.mime_.empty())
        throw CliError(kExitUsage, path + " is not a JPEG, PNG, WebP or GIF image (judged by its first bytes), "
                                          "the only kinds natter sends");
    if (f.size_ > max_bytes)
        throw CliError(kExitUsage, path + " is " + human_size(f.size_) + " (" + std::to_string(f.size_) +
                                       " bytes): an image may be at most " + max_size_text(max_bytes));
    f.dims_ = f.mime_ == "image/jpeg" ? f.jpeg_dimensions() : header_dimensions(h, f.mime_);
    return f;
}

ImageFile::ImageFile(ImageFile&& o) noexcept
    : path_(std::move(o.path_)), fd_(o.fd_), size_(o.size_), mime_(std::move(o.mime_)), dims_(o.dims_) {
    o.fd_ = -1;
}

ImageFile::~ImageFile() {
    if (fd_ >= 0) ::close(fd_);
}

// Walks the markers from the start to the first SOFn (frame header), whose
// segment holds the height and width; stops at the scan data (SOS).
std::optional<Dimensions> ImageFile::jpeg_dimensions() const {
    std::uint64_t at = 2;  // after SOI
    for (int i = 0; i < kMaxJpegSegments && at + 4 <= size_; ++i) {
        char b[9];
        auto n = ::pread(fd_, b, sizeof b, off_t(at));
        if (n < 4) return std::nullopt;
        std::string_view s(b, std::size_t(n));
        if (std::uint8_t(s[0]) != 0xFF) return std::nullopt;
        std::uint8_t marker = std::uint8_t(s[1]);
        if (marker == 0xFF) {  // fill byte
            ++at;
            continue;
        }
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {  // no length
            at += 2;
            continue;
        }
        if (marker == 0xD9 || marker == 0xDA) return std::nullopt;  // end, or scan data before any frame header
        auto length = be16(s, 2);
        if (length < 2) return std::nullopt;
        if (is_sof(marker)) {
            if (n < 9) return std::nullopt;
            return checked(be16(s, 7), be16(s, 5));  // precision, height, width
        }
        at += 2 + length;
    }
    return std::nullopt;
}

}  // namespace natter::cli
