#pragma once
// The web client's files, served by natterd from one directory (the Vite
// build): what a GET of a path maps to, and the headers that go with it.
// No Beast here; the listener streams the file.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace natter {

struct StaticFile {
    std::string path;          // on disk
    std::string content_type;
    std::string cache_control;
};

class StaticFiles {
public:
    // `root` "" or not a directory: nothing is served.
    explicit StaticFiles(std::string root);
    bool enabled() const { return !root_.empty(); }
    // The file for a GET of `target_path` (without the query), or nullopt.
    // A path that names no file and has no extension is the app's own
    // route: index.html. Nothing outside the root is ever named, through
    // "..", encodings or symbolic links.
    std::optional<StaticFile> resolve(std::string_view target_path) const;
    // What every served file carries: a strict content security policy,
    // no MIME sniffing, no framing, no referrer.
    static const std::vector<std::pair<std::string, std::string>>& security_headers();

private:
    std::optional<StaticFile> file(const std::string& relative) const;
    std::string root_;  // canonical, without a trailing '/'
};

}  // namespace natter
