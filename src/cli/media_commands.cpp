// Images: the upload that `send --image` and `profile avatar` share,
// `media get` (download to a file or stdout), and `profile show`/`avatar`.
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>

#include "core/crypto.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "image_file.hpp"
#include "media.hpp"
#include "media_upload.hpp"
#include "progress.hpp"
#include "text_format.hpp"
#include "transfer.hpp"
#include "users.hpp"

namespace natter::cli {

namespace {

std::string why(int error) {
    std::string s = std::strerror(error);
    if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = char(s[0] - 'A' + 'a');
    return s;
}

// Where a download goes. A regular file (or a new one) is written under a
// temporary name next to it and renamed over it only when every byte is in,
// so a failed download leaves no half file behind; stdout, a device or a
// pipe are written directly.
class Output {
public:
    explicit Output(const std::string& path) : path_(path) {
        if (path == "-") {
            if (::isatty(STDOUT_FILENO))
                throw CliError(kExitUsage, "not writing image bytes to a terminal: redirect stdout, or use -o FILE");
            fd_ = STDOUT_FILENO;
            return;
        }
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0) {
            if (S_ISDIR(st.st_mode)) throw CliError(kExitUsage, path + " is a directory: give a file name to -o");
            if (!S_ISREG(st.st_mode)) {  // /dev/null, a FIFO: write through
                fd_ = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
                if (fd_ < 0) throw CliError(kExitRefused, "cannot write " + path + ": " + why(errno));
                owned_ = true;
                return;
            }
        }
        auto slash = path.find_last_of('/');
        std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
        temp_ = dir + "." + base_name(path) + ".part-" + random_uuid().substr(0, 8);
        fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd_ < 0) {
            temp_.clear();
            throw CliError(kExitRefused, "cannot write " + path + ": " + why(errno));
        }
        owned_ = true;
    }
    Output(const Output&) = delete;
    Output& operator=(const Output&) = delete;

    ~Output() {
        if (owned_ && fd_ >= 0) ::close(fd_);
        if (!temp_.empty()) ::unlink(temp_.c_str());  // not committed
    }

    bool is_stdout() const { return path_ == "-"; }

    void write(const char* data, std::size_t size) {
        while (size > 0) {
            auto n = ::write(fd_, data, size);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw CliError(kExitRefused, "cannot write " + shown() + ": " + why(errno));
            data += n;
            size -= std::size_t(n);
        }
    }

    void commit() {
        if (owned_) {
            int rc = ::close(fd_);
            fd_ = -1;
            if (rc != 0) throw CliError(kExitRefused, "cannot write " + shown() + ": " + why(errno));
        }
        if (temp_.empty()) return;
        if (::rename(temp_.c_str(), path_.c_str()) != 0)
            throw CliError(kExitRefused, "cannot write " + path_ + ": " + why(errno));
        temp_.clear();
    }

private:
    std::string shown() const { return is_stdout() ? "to stdout" : path_; }

    std::string path_;
    std::string temp_;  // while not committed
    int fd_ = -1;
    bool owned_ = false;
};

void print_profile(const json& p, bool json_out) {
    if (json_out) {
        std::cout << p.dump() << "\n";
        return;
    }
    auto line = [](const char* label, const std::string& value) {
        std::cout << label << printable(value, "              ") << "\n";
    };
    if (is_tombstone(p)) {
        line("user id:      ", str_field(p, "user_id"));
        std::cout << kDeletedAccount << "\n";
        return;
    }
    line("username:     ", str_field(p, "username"));
    line("user id:      ", str_field(p, "user_id"));
    line("display name: ", str_field(p, "display_name"));
    if (auto d = str_field(p, "description"); !d.empty()) line("description:  ", d);
    auto avatar = str_field(p, "avatar_media_id");
    if (is_id(avatar)) line("avatar:       ", avatar + " — natter media get " + avatar);
    else line("avatar:       ", "(none)");
}

}  // namespace

std::string upload_image(Api& api, const ImageFile& image) {
    auto j = api.call("POST", "/v1/media", {{"mime", image.mime()}, {"size", image.size()}});
    auto media_id = str_field(j, "media_id");
    auto upload = j.is_object() && j.contains("upload") ? j["upload"] : json();
    auto url = str_field(upload, "url");
    if (!is_id(media_id) || url.empty())
        throw CliError(kExitRefused, "unexpected answer from the server to POST /v1/media: " + j.dump().substr(0, 200));
    Headers headers;
    bool typed = false;
    if (upload.contains("headers") && upload["headers"].is_object()) {
        for (const auto& [name, value] : upload["headers"].items()) {
            if (!value.is_string()) continue;
            headers.emplace_back(name, value.get<std::string>());
            if (strcasecmp(name.c_str(), "Content-Type") == 0) typed = true;
        }
    }
    if (!typed) headers.emplace_back("Content-Type", image.mime());
    auto target = resolve_blob_url(api.server(), url);
    Progress progress("uploading", "uploaded", image.name(), image.size());
    auto r = upload_file(target, str_field(upload, "method", "PUT"), headers, image.fd(), image.size(),
                         [&](std::uint64_t bytes) { progress.update(bytes); });
    if (r.status < 200 || r.status >= 300) throw CliError(kExitRefused, "upload refused: " + server_error_text(r));
    progress.finish(image.size());
    return media_id;
}

json attachment_for(const ImageFile& image, const std::string& media_id) {
    json a = {{"media_id", media_id}, {"mime", image.mime()}, {"size", image.size()}};
    if (const auto& d = image.dimensions()) {
        a["width"] = d->width;
        a["height"] = d->height;
    }
    return a;
}

int run_media_get(const Globals& g, const MediaGetOptions& o) {
    if (!is_id(o.media_id))
        throw CliError(kExitUsage, "\"" + o.media_id + "\" is not a media id (the digits after `natter media get` in a message)");
    if (o.output == "-" && ::isatty(STDOUT_FILENO))
        throw CliError(kExitUsage, "not writing image bytes to a terminal: redirect stdout, or use -o FILE");
    auto api = Api::signed_in(g);
    auto j = api.call("GET", "/v1/media/" + o.media_id);
    auto mime = str_field(j, "mime");
    auto size = int_field(j, "size", -1);
    auto url = str_field(j, "download_url");
    if (size < 0 || url.empty())
        throw CliError(kExitRefused, "unexpected answer from the server to GET /v1/media: " + j.dump().substr(0, 200));
    auto path = o.output.empty() ? o.media_id + "." + extension_for(mime) : o.output;
    auto target = resolve_blob_url(api.server(), url);

    Output out(path);
    Progress progress("downloading", "downloaded", out.is_stdout() ? "media " + o.media_id : base_name(path),
                      std::uint64_t(size));
    std::uint64_t received = 0;
    auto r = download_to(
        target, std::uint64_t(size),
        [&](const char* data, std::size_t n) {
            out.write(data, n);
            received += n;
        },
        [&](std::uint64_t bytes) { progress.update(bytes); });
    if (r.status != 200) throw CliError(kExitRefused, "download refused: " + server_error_text(r));
    if (received != std::uint64_t(size))
        throw CliError(kExitRefused, "the download has " + std::to_string(received) + " bytes, not the " +
                                         std::to_string(size) + " announced");
    out.commit();
    progress.finish(received);
    if (!out.is_stdout())
        std::cout << "saved " << printable(path, "") << " (" << printable(mime, "") << ", " << human_size(received)
                  << ")\n";
    return kExitOk;
}

int run_profile_show(const Globals& g, const ProfileOptions& o) {
    auto api = Api::signed_in(g);
    if (o.user.empty()) {
        print_profile(api.call("GET", "/v1/users/me"), o.json);
    } else {
        auto user = resolve_user(api, o.user);
        print_profile(api.call("GET", "/v1/users/" + user.id), o.json);
    }
    return kExitOk;
}

int run_profile_avatar(const Globals& g, const ProfileOptions& o) {
    if (o.clear == !o.file.empty())
        throw CliError(kExitUsage, "give an image FILE, or --clear: natter profile avatar FILE | --clear");
    std::optional<ImageFile> image;
    if (!o.clear) image.emplace(ImageFile::open(o.file));
    auto api = Api::signed_in(g);
    if (o.clear) {
        api.call("PATCH", "/v1/users/me", {{"avatar_media_id", nullptr}});
        std::cout << "avatar cleared\n";
        return kExitOk;
    }
    auto media_id = upload_image(api, *image);
    api.call("PATCH", "/v1/users/me", {{"avatar_media_id", media_id}});
    std::cout << "avatar set: media " << media_id << " " << attachment_text(attachment_for(*image, media_id)) << "\n";
    return kExitOk;
}

}  // namespace natter::cli
