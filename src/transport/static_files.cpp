#include "transport/static_files.hpp"

#include <filesystem>

namespace natter {

namespace fs = std::filesystem;

namespace {
std::string type_of(const fs::path& p) {
    static const std::vector<std::pair<std::string, std::string>> types = {
        {".html", "text/html; charset=utf-8"},      {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},              {".webmanifest", "application/manifest+json"},
        {".svg", "image/svg+xml"},                  {".png", "image/png"},
        {".jpg", "image/jpeg"},                     {".webp", "image/webp"},
        {".gif", "image/gif"},                      {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},                   {".txt", "text/plain; charset=utf-8"},
        {".map", "application/json"}};
    auto ext = p.extension().string();
    for (const auto& [e, t] : types)
        if (e == ext) return t;
    return "application/octet-stream";
}
}  // namespace

StaticFiles::StaticFiles(std::string root) {
    std::error_code ec;
    if (root.empty() || !fs::is_directory(root, ec)) return;
    root_ = fs::canonical(root, ec).string();
    if (ec) root_.clear();
}

const std::vector<std::pair<std::string, std::string>>& StaticFiles::security_headers() {
    // Images come from blob stores on other origins (S3) and from blob: URLs
    // the app makes; the WebSocket is same-origin.
    static const std::vector<std::pair<std::string, std::string>> headers = {
        {"Content-Security-Policy",
         "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https: http:; "
         "connect-src 'self' ws: wss: https: http:; font-src 'self'; object-src 'none'; base-uri 'none'; "
         "form-action 'self'; frame-ancestors 'none'"},
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        {"Referrer-Policy", "no-referrer"},
    };
    return headers;
}

std::optional<StaticFile> StaticFiles::file(const std::string& relative) const {
    std::error_code ec;
    auto p = fs::path(root_) / relative;
    if (!fs::is_regular_file(p, ec)) return std::nullopt;
    // A symbolic link may point anywhere: what it resolves to must be inside.
    auto real = fs::canonical(p, ec).string();
    if (ec || real.size() <= root_.size() || real.compare(0, root_.size(), root_) != 0 || real[root_.size()] != '/')
        return std::nullopt;
    bool hashed = relative.rfind("assets/", 0) == 0;  // Vite names them by content
    return StaticFile{real, type_of(p), hashed ? "public, max-age=31536000, immutable" : "no-cache"};
}

std::optional<StaticFile> StaticFiles::resolve(std::string_view target_path) const {
    if (!enabled() || target_path.empty() || target_path.front() != '/') return std::nullopt;
    std::string rel(target_path.substr(1));
    // Plain names only: no encodings, no parent steps, no empty segments.
    for (char c : rel)
        if (c == '%' || c == '\\' || c == '\0' || static_cast<unsigned char>(c) < 0x20) return std::nullopt;
    if (rel.find("..") != std::string::npos || rel.find("//") != std::string::npos || (!rel.empty() && rel.front() == '/'))
        return std::nullopt;
    if (rel.empty()) return file("index.html");
    if (auto f = file(rel)) return f;
    auto last = rel.substr(rel.rfind('/') == std::string::npos ? 0 : rel.rfind('/') + 1);
    if (last.find('.') == std::string::npos) return file("index.html");  // the app's own route
    return std::nullopt;
}

}  // namespace natter
