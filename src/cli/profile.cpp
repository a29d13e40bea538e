#include "profile.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "errors.hpp"

namespace natter::cli {

using json = nlohmann::json;

void Credentials::forget_tokens() {
    access_token.clear();
    refresh_token.clear();
    access_expires_at_ms = 0;
}

std::string config_dir() {
    if (const char* d = std::getenv("NATTER_CONFIG_DIR"); d && *d) return d;
    if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::string(x) + "/natter";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.config/natter";
    throw CliError(kExitUsage, "cannot find a config directory: set NATTER_CONFIG_DIR or HOME");
}

namespace {

bool valid_name(const std::string& n) {
    if (n.empty() || n.size() > 64 || n[0] == '.') return false;
    for (unsigned char c : n)
        if (!std::isalnum(c) && c != '_' && c != '-' && c != '.') return false;
    return true;
}

CliError file_error(const std::string& what, const std::string& path) {
    return CliError(kExitUsage, what + " " + path + ": " + std::strerror(errno));
}

void make_dir(const std::string& dir) {
    std::error_code ec;
    if (std::filesystem::is_directory(dir, ec)) return;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw CliError(kExitUsage, "cannot create " + dir + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);  // tokens live here
}

std::string str(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

ProfileStore::ProfileStore(const std::string& name) : name_(name) {
    if (!valid_name(name))
        throw CliError(kExitUsage, "bad profile name \"" + name + "\": use letters, digits, '_', '-' and '.'");
    dir_ = config_dir();
}

std::string ProfileStore::path() const { return dir_ + "/" + name_ + ".json"; }

std::optional<Credentials> ProfileStore::load() const {
    int fd = ::open(path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return std::nullopt;
        throw file_error("cannot read", path());
    }
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, std::size_t(n));
    ::close(fd);
    auto j = json::parse(text, nullptr, false);
    if (!j.is_object()) throw CliError(kExitUsage, path() + " is not valid JSON: remove it and log in again");
    Credentials c;
    c.server = str(j, "server");
    c.username = str(j, "username");
    c.user_id = str(j, "user_id");
    c.device_id = str(j, "device_id");
    c.access_token = str(j, "access_token");
    c.refresh_token = str(j, "refresh_token");
    if (auto it = j.find("access_expires_at"); it != j.end() && it->is_number()) c.access_expires_at_ms = it->get<std::int64_t>();
    return c;
}

void ProfileStore::save(const Credentials& c) const {
    make_dir(dir_);
    json j = {{"server", c.server},     {"username", c.username}, {"user_id", c.user_id},
              {"device_id", c.device_id}};
    if (c.logged_in()) {
        j["access_token"] = c.access_token;
        j["access_expires_at"] = c.access_expires_at_ms;
        j["refresh_token"] = c.refresh_token;
    }
    std::string text = j.dump(2) + "\n";
    std::string tmp = path() + ".tmp." + std::to_string(::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw file_error("cannot write", tmp);
    ::fchmod(fd, 0600);
    bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
    ok = ::close(fd) == 0 && ok;
    if (!ok || ::rename(tmp.c_str(), path().c_str()) != 0) {
        auto e = file_error("cannot write", path());
        ::unlink(tmp.c_str());
        throw e;
    }
}

ProfileStore::Lock ProfileStore::lock() const {
    make_dir(dir_);
    std::string lock_path = dir_ + "/" + name_ + ".lock";
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw file_error("cannot open", lock_path);
    while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
    }
    return Lock(fd);
}

ProfileStore::Lock::~Lock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
}

}  // namespace natter::cli
