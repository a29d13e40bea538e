#include "api.hpp"

#include <chrono>

#include "errors.hpp"

namespace natter::cli {

namespace {

constexpr std::int64_t kRefreshMarginMs = 60'000;

bool ok_status(int s) { return s >= 200 && s < 300; }

json parse_or_null(const std::string& text) {
    if (text.empty()) return nullptr;
    auto j = json::parse(text, nullptr, false);
    return j.is_discarded() ? json(nullptr) : j;
}

CliError relogin(const std::string& why, const Credentials& c) {
    std::string who = c.username.empty() ? "USERNAME" : c.username;
    return CliError(kExitAuth, why + "; run `natter login " + who + "` again");
}

}  // namespace

std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string str_field(const json& j, const char* key, const std::string& fallback) {
    if (!j.is_object()) return fallback;
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

std::int64_t int_field(const json& j, const char* key, std::int64_t fallback) {
    if (!j.is_object()) return fallback;
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<std::int64_t>() : fallback;
}

std::string server_error_text(const HttpResponse& r) {
    auto j = parse_or_null(r.body);
    if (j.is_object() && j.contains("error") && j["error"].is_object()) {
        const auto& e = j["error"];
        std::string out = str_field(e, "code", "error") + ": " + str_field(e, "message");
        if (e.contains("retry_after_ms") && e["retry_after_ms"].is_number())
            out += " (retry in " + std::to_string(e["retry_after_ms"].get<long long>()) + " ms)";
        return out;
    }
    std::string out = "HTTP " + std::to_string(r.status);
    // An S3-compatible store answers <Error><Code>…</Code><Message>…</Message></Error>.
    auto tag = [&](const std::string& name) {
        auto open = r.body.find("<" + name + ">"), close = r.body.find("</" + name + ">");
        if (open == std::string::npos || close == std::string::npos || close < open) return std::string();
        open += name.size() + 2;
        return r.body.substr(open, std::min<std::size_t>(close - open, 300));
    };
    if (auto code = tag("Code"); !code.empty()) {
        out += " from the blob store: " + code;
        if (auto message = tag("Message"); !message.empty()) out += ": " + message;
        return out;
    }
    if (!r.body.empty() && r.body.size() < 200) out += ": " + r.body;
    return out;
}

CliError not_logged_in(const std::string& profile, const std::string& username) {
    std::string who = username.empty() ? "USERNAME" : username;
    std::string where = profile == "default" ? "" : " --profile " + profile;
    return CliError(kExitAuth, "not logged in: run `natter" + where + " login " + who + "` first");
}

Api::Api(ServerUrl server, ProfileStore store, Credentials creds)
    : server_(std::move(server)), store_(std::move(store)), creds_(std::move(creds)) {}

Api Api::anonymous(const Globals& g) {
    ProfileStore store(g.profile);
    auto creds = store.load().value_or(Credentials{});
    std::string url = !g.server.empty() ? g.server : !creds.server.empty() ? creds.server : kDefaultServer;
    auto server = parse_server_url(url);
    server.ca_file = g.ca_file;
    return Api(std::move(server), std::move(store), std::move(creds));
}

Api Api::signed_in(const Globals& g) {
    ProfileStore store(g.profile);
    auto creds = store.load();
    if (!creds || !creds->logged_in()) throw not_logged_in(g.profile, creds ? creds->username : "");
    auto url = parse_server_url(creds->server.empty() ? kDefaultServer : creds->server);
    if (!g.server.empty() && parse_server_url(g.server).url != url.url)
        throw CliError(kExitAuth, "profile \"" + g.profile + "\" is logged in to " + url.url + ", not " + g.server +
                                      ": log in there, or use another --profile");
    url.ca_file = g.ca_file;
    return Api(std::move(url), std::move(store), std::move(*creds));
}

HttpResponse Api::call_public(const std::string& method, const std::string& target, const json& body) {
    return http_request(server_, {method, target, body.is_null() ? "" : body.dump(), ""});
}

json Api::call(const std::string& method, const std::string& target, const json& body) {
    HttpRequest req{method, target, body.is_null() ? "" : body.dump(), access_token()};
    auto r = http_request(server_, req);
    if (r.status == 401) {
        refresh_after_rejection(req.bearer);
        req.bearer = creds_.access_token;
        r = http_request(server_, req);
    }
    if (ok_status(r.status)) return parse_or_null(r.body);
    if (r.status == 401) throw relogin(server_error_text(r), creds_);
    throw CliError(kExitRefused, server_error_text(r));
}

bool Api::expires_soon() const { return creds_.access_expires_at_ms - now_ms() < kRefreshMarginMs; }

std::string Api::access_token() {
    if (!creds_.logged_in()) throw not_logged_in(store_.name(), creds_.username);
    if (expires_soon()) refresh("");
    return creds_.access_token;
}

void Api::refresh_after_rejection(const std::string& rejected) { refresh(rejected); }

void Api::refresh(const std::string& rejected) {
    auto lock = store_.lock();
    // Another natter with this profile may have refreshed already: its tokens
    // are the live ones, and ours is spent (presenting it would sign us out).
    if (auto disk = store_.load(); disk && disk->logged_in() && disk->device_id == creds_.device_id &&
                                   disk->refresh_token != creds_.refresh_token) {
        creds_ = *disk;
        if (creds_.access_token != rejected && !expires_soon()) return;
    }
    if (!creds_.logged_in()) throw not_logged_in(store_.name(), creds_.username);
    auto r = call_public("POST", "/v1/tokens/refresh", {{"refresh_token", creds_.refresh_token}});
    if (r.status == 401) {
        creds_.forget_tokens();
        store_.save(creds_);
        throw relogin("session expired: " + server_error_text(r), creds_);
    }
    auto j = parse_or_null(r.body);
    if (r.status != 200 || !j.is_object() || !j["access_token"].is_string() || !j["refresh_token"].is_string())
        throw CliError(kExitRefused, "token refresh failed: " + server_error_text(r));
    creds_.access_token = j["access_token"];
    creds_.refresh_token = j["refresh_token"];
    creds_.access_expires_at_ms = now_ms() + int_field(j, "expires_in") * 1000;
    store_.save(creds_);  // at once: the old refresh token is spent
}

}  // namespace natter::cli
