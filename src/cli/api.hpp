#pragma once
// The HTTP API as a signed-in device sees it: bearer tokens refreshed
// silently (ahead of expiry, and once after a 401), errors turned into
// CliError with the right exit code.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "errors.hpp"
#include "http_client.hpp"
#include "profile.hpp"
#include "server_url.hpp"

namespace natter::cli {

using json = nlohmann::json;

// The options every command takes.
struct Globals {
    std::string server;        // --server, else $NATTER_SERVER; empty when neither
    std::string profile = "default";
    std::string ca_file;       // --ca-file, else $NATTER_CA_FILE: CAs trusted besides the system's
};

constexpr const char* kDefaultServer = "http://127.0.0.1:8080";

// "<code>: <message>" from the server's error body, or "HTTP <status>".
std::string server_error_text(const HttpResponse& r);
// Not logged in (exit 4): what to run.
CliError not_logged_in(const std::string& profile, const std::string& username = "");

class Api {
public:
    // For register and login: --server, else the profile's server, else the default.
    static Api anonymous(const Globals& g);
    // For everything else; throws CliError(kExitAuth) when the profile has no tokens,
    // or holds tokens for another server than --server.
    static Api signed_in(const Globals& g);

    const ServerUrl& server() const { return server_; }
    const ProfileStore& store() const { return store_; }
    // The profile as loaded (empty fields when there is none).
    Credentials& creds() { return creds_; }

    // An authenticated call; the answer body (null when empty) for a 2xx.
    // Throws CliError: kExitAuth, kExitRefused (the server's error), kExitNetwork.
    json call(const std::string& method, const std::string& target, const json& body = nullptr);
    // A call without credential; any status comes back.
    HttpResponse call_public(const std::string& method, const std::string& target, const json& body);

    // An access token good for at least another minute (refreshed if needed).
    std::string access_token();
    // `rejected` got a 401: refresh, unless another natter already did.
    void refresh_after_rejection(const std::string& rejected);

private:
    Api(ServerUrl server, ProfileStore store, Credentials creds);
    void refresh(const std::string& rejected);
    bool expires_soon() const;

    ServerUrl server_;
    ProfileStore store_;
    Credentials creds_;
};

std::int64_t now_ms();

// Tolerant reads of server JSON: the default when absent or of another type.
std::string str_field(const json& j, const char* key, const std::string& fallback = "");
std::int64_t int_field(const json& j, const char* key, std::int64_t fallback = 0);

}  // namespace natter::cli
