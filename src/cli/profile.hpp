#pragma once
// The stored credentials of one profile: <config dir>/<profile>.json, mode 0600.
// The config dir is $NATTER_CONFIG_DIR, else $XDG_CONFIG_HOME/natter, else
// ~/.config/natter.
#include <cstdint>
#include <optional>
#include <string>

namespace natter::cli {

struct Credentials {
    std::string server;          // "http://host:port"
    std::string username;
    std::string user_id;
    std::string device_id;       // kept after logout, so a new login resumes the device
    std::string access_token;    // empty when logged out
    std::int64_t access_expires_at_ms = 0;  // Unix ms
    std::string refresh_token;   // empty when logged out

    bool logged_in() const { return !access_token.empty() && !refresh_token.empty(); }
    void forget_tokens();
};

class ProfileStore {
public:
    // Throws CliError (usage) for a name that is not [A-Za-z0-9_.-]+.
    explicit ProfileStore(const std::string& name);

    const std::string& name() const { return name_; }
    std::string path() const;

    // nullopt when the file does not exist; throws CliError when unreadable.
    std::optional<Credentials> load() const;
    // Atomically (a temp file renamed over), mode 0600.
    void save(const Credentials& c) const;

    // An exclusive lock on the profile across processes, so two natter
    // commands never spend the same refresh token.
    class Lock {
    public:
        explicit Lock(int fd) : fd_(fd) {}
        Lock(Lock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
        Lock(const Lock&) = delete;
        Lock& operator=(const Lock&) = delete;
        ~Lock();

    private:
        int fd_;
    };
    Lock lock() const;

private:
    std::string dir_;
    std::string name_;
};

// The config directory, from the environment (not created).
std::string config_dir();

}  // namespace natter::cli
