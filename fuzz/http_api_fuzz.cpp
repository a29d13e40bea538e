// The HTTP API's request parsers (register, sign in, refresh, profile, group
// create and add, media upload, the history queries), through HttpApi::handle
// as natterd's listener calls it, on a real SQLite store.
//
// Input: the first byte picks the endpoint; the rest is its body (or, for the
// GET endpoints, its query). Past the table, the rest is "METHOD\nPATH\nQUERY\nBODY",
// any request at all. Authenticated calls carry a live token of alice's.
//
// Besides the sanitizers: every answer is a status of 200..599 and JSON
// (the errors {"error": {"code", "message"}}), or an empty 204.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_world.hpp"
#include "transport/http_api.hpp"

namespace natter::fuzz {
namespace {

struct Route {
    const char* method;
    std::string path;
    bool auth;
    bool query;  // the input is the query, not the body
};

struct Api {
    Api() {
        World& w = world();
        api = std::make_unique<HttpApi>(*w.accounts, *w.history, w.groups.get(), HttpOperations{}, w.media.get());
        std::string group = std::to_string(w.group_id);
        std::string conversation = "g:" + group;
        routes = {
            {"POST", "/v1/accounts", false, false},
            {"POST", "/v1/sessions", false, false},
            {"POST", "/v1/tokens/refresh", false, false},
            {"PATCH", "/v1/users/me", true, false},
            {"POST", "/v1/groups", true, false},
            {"POST", "/v1/groups/" + group + "/members", true, false},
            {"POST", "/v1/media", true, false},
            {"GET", "/v1/conversations", true, true},
            {"GET", "/v1/conversations/" + conversation + "/messages", true, true},
            {"GET", "/v1/users", true, true},
        };
    }

    // A token of alice's that still works: the fuzzer may sign the device
    // out (DELETE /v1/sessions/current), and then every authenticated
    // parser would stop at 401.
    struct Credential {
        std::string token;
        std::optional<DeviceId> device;
    };
    const std::string& token(Credential& c, const char* device_name) {
        World& w = world();
        if (!c.token.empty() && w.accounts->authenticate(c.token)) return c.token;
        // The same device again (alice may be at her device limit), or a new
        // one when the fuzzer removed it.
        auto grant = w.accounts->login("alice", kPassword, c.device, device_name);
        if (!grant && c.device) grant = w.accounts->login("alice", kPassword, std::nullopt, device_name);
        if (!grant) fail("alice cannot sign in again: " + grant.error().message);
        c = Credential{grant->access_token, grant->device};
        return c.token;
    }

    std::unique_ptr<HttpApi> api;
    std::vector<Route> routes;
    Credential table_credential, raw_credential;
};

Api& api() {
    static Api* a = new Api();
    return *a;
}

// Splits off the text up to the next '\n'.
std::string take_line(std::string_view& rest) {
    auto nl = rest.find('\n');
    std::string line(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    return line;
}

void check(const HttpRequest& req, const HttpResponse& r) {
    auto where = req.method + " " + req.path + ": ";
    if (r.status < 200 || r.status > 599) fail(where + "status " + std::to_string(r.status));
    if (r.status == 204) {
        if (!r.body.empty()) fail(where + "204 with a body");
        return;
    }
    if (r.content_type != "application/json") return;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) fail(where + "answer is not a JSON object: " + r.body);
    if (r.status < 400) return;
    auto e = j.find("error");
    if (e == j.end() || !e->is_object()) fail(where + "error without an error object: " + r.body);
    auto code = e->find("code"), message = e->find("message");
    if (code == e->end() || !code->is_string() || message == e->end() || !message->is_string() ||
        message->get_ref<const std::string&>().empty())
        fail(where + "error without a code and a message: " + r.body);
}

}  // namespace
}  // namespace natter::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace natter;
    using namespace natter::fuzz;
    if (size < 1) return 0;
    Api& a = api();
    // Larger bodies never reach the API: the listener answers 413.
    if (size - 1 > world().limits.max_http_body_bytes) return -1;
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    HttpRequest req;
    if (data[0] < a.routes.size()) {
        const Route& r = a.routes[data[0]];
        req.method = r.method;
        req.path = r.path;
        (r.query ? req.query : req.body) = std::string(rest);
        if (r.auth) req.authorization = "Bearer " + a.token(a.table_credential, "fuzz table");
    } else {
        req.method = take_line(rest);
        req.path = take_line(rest);
        req.query = take_line(rest);
        req.body = std::string(rest);
        if (data[0] & 1) req.authorization = "Bearer " + a.token(a.raw_credential, "fuzz raw");
    }
    check(req, a.api->handle(req));
    return 0;
}
