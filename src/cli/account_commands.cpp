// register, login, logout, devices, devices remove, account delete.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "errors.hpp"
#include "password.hpp"
#include "text_format.hpp"
#include "users.hpp"

namespace natter::cli {

namespace {

json parse_body(const HttpResponse& r) {
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_object()) throw CliError(kExitRefused, "unexpected answer from the server: " + server_error_text(r));
    return j;
}

std::string default_device_name() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || !host[0]) return "natter cli";
    return shorten(std::string("natter on ") + host, 50);
}

}  // namespace

int run_register(const Globals& g, const RegisterOptions& o) {
    auto api = Api::anonymous(g);
    json body = {{"username", o.username}, {"password", read_password(o.password_stdin, true)}};
    if (!o.display_name.empty()) body["display_name"] = o.display_name;
    auto r = api.call_public("POST", "/v1/accounts", body);
    if (r.status != 201) throw CliError(kExitRefused, server_error_text(r));
    auto j = parse_body(r);
    // The next command as it must be typed: this profile, this server.
    std::string next = "natter";
    if (g.profile != "default") next += " --profile " + g.profile;
    if (api.server().url != kDefaultServer) next += " --server " + api.server().url;
    if (!g.ca_file.empty()) next += " --ca-file " + g.ca_file;
    std::cout << "registered " << o.username << " (user id " << str_field(j, "user_id", "?") << ") on " << api.server().url
              << "\nnext: " << next << " login " << o.username << "\n";
    return kExitOk;
}

int run_login(const Globals& g, const LoginOptions& o) {
    auto api = Api::anonymous(g);
    auto& old = api.creds();
    json body = {{"username", o.username},
                 {"password", read_password(o.password_stdin, false)},
                 {"device_name", o.device_name.empty() ? default_device_name() : o.device_name}};
    // The same user on the same server: resume the device, and its inbox.
    bool resume = old.username == o.username && old.server == api.server().url && is_id(old.device_id);
    if (resume) body["device_id"] = old.device_id;
    auto r = api.call_public("POST", "/v1/sessions", body);
    if (r.status == 401) throw CliError(kExitAuth, server_error_text(r));
    if (r.status != 200) throw CliError(kExitRefused, server_error_text(r));
    auto j = parse_body(r);
    Credentials c;
    c.server = api.server().url;
    c.username = o.username;
    c.user_id = str_field(j, "user_id");
    c.device_id = str_field(j, "device_id");
    c.access_token = str_field(j, "access_token");
    c.refresh_token = str_field(j, "refresh_token");
    c.access_expires_at_ms = now_ms() + int_field(j, "expires_in") * 1000;
    if (!is_id(c.user_id) || !c.logged_in()) throw CliError(kExitRefused, "unexpected answer from the server: " + r.body);
    {
        auto lock = api.store().lock();
        api.store().save(c);
    }
    bool resumed = resume && c.device_id == old.device_id;
    std::cout << "logged in as " << c.username << " on " << c.server << " (" << (resumed ? "device " : "new device ")
              << c.device_id << ")\n";
    return kExitOk;
}

int run_logout(const Globals& g) {
    auto api = Api::signed_in(g);
    try {
        api.call("DELETE", "/v1/sessions/current");
    } catch (const CliError& e) {
        if (e.exit_code() != kExitAuth) throw;  // already signed out on the server: forget it here too
    }
    auto c = api.creds();
    c.forget_tokens();
    {
        auto lock = api.store().lock();
        api.store().save(c);
    }
    std::cout << "logged out " << c.username << " (device " << c.device_id << " kept: `natter login " << c.username
              << "` resumes it)\n";
    return kExitOk;
}

int run_devices(const Globals& g) {
    auto api = Api::signed_in(g);
    auto j = api.call("GET", "/v1/devices");
    const auto& mine = api.creds().device_id;
    std::printf("  %-20s  %-30s  %s\n", "DEVICE", "NAME", "LAST SEEN");
    for (const auto& d : j.is_object() ? j.value("devices", json::array()) : json::array()) {
        std::string id = str_field(d, "device_id");
        bool current = d.contains("current") && d["current"].is_boolean() ? d["current"].get<bool>() : id == mine;
        auto seen = int_field(d, "last_seen");
        std::printf("%s %-20s  %-30s  %s\n", current ? "*" : " ", id.c_str(),
                    printable(str_field(d, "device_name"), " ").c_str(), seen ? date_time(seen).c_str() : "-");
    }
    return kExitOk;
}

int run_devices_remove(const Globals& g, const std::string& device_id) {
    if (!is_id(device_id)) throw CliError(kExitUsage, "\"" + device_id + "\" is not a device id (see `natter devices`)");
    auto api = Api::signed_in(g);
    api.call("DELETE", "/v1/devices/" + device_id);
    if (device_id != api.creds().device_id) {
        std::cout << "removed device " << device_id << "\n";
        return kExitOk;
    }
    // This device is gone, with its inbox: nothing left to resume.
    auto c = api.creds();
    c.forget_tokens();
    c.device_id.clear();
    {
        auto lock = api.store().lock();
        api.store().save(c);
    }
    std::cout << "removed device " << device_id << ", this one: logged out\n";
    return kExitOk;
}

int run_account_delete(const Globals& g, const AccountDeleteOptions& o) {
    if (!o.yes)
        throw CliError(kExitUsage, "this deletes your account for good (devices, media, profile, username, groups): "
                                   "add --yes to go on");
    auto api = Api::signed_in(g);
    json body = {{"password", read_password(o.password_stdin, false)}};
    // Once, without the silent refresh-and-retry of Api::call: a 401 here is
    // most likely the password, and a retry would count a second guess.
    auto r = http_request(api.server(), {"DELETE", "/v1/accounts/me", body.dump(), api.access_token()});
    if (r.status == 401) throw CliError(kExitAuth, server_error_text(r));
    if (r.status != 204) throw CliError(kExitRefused, server_error_text(r));
    auto c = api.creds();
    std::cout << "deleted account " << c.username << " (user id " << c.user_id << ") on " << c.server << "\n";
    c.forget_tokens();
    c.device_id.clear();
    {
        auto lock = api.store().lock();
        api.store().save(c);
    }
    return kExitOk;
}

}  // namespace natter::cli
