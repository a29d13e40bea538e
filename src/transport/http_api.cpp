#include "transport/http_api.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

#include "chat/frames.hpp"
#include "core/json_input.hpp"
#include "core/url.hpp"

namespace natter {

using nlohmann::json;

namespace {

HttpResponse json_response(int status, const json& j) {
    return HttpResponse{status, j.dump(-1, ' ', false, json::error_handler_t::replace)};
}
HttpResponse no_content() { return HttpResponse{204, ""}; }
HttpResponse method_not_allowed() {
    return HttpResponse{405, json{{"error", {{"code", "invalid"}, {"message", "method not allowed"}}}}.dump()};
}

json user_json(const UserRecord& u) {
    json j = {{"user_id", id_string(u.user_id)},
              {"username", u.username},
              {"display_name", u.display_name},
              {"description", u.description}};
    if (u.avatar_media_id) j["avatar_media_id"] = id_string(*u.avatar_media_id);
    return j;
}

json grant_json(const SessionGrant& g) {
    return {{"user_id", id_string(g.user)},
            {"device_id", id_string(g.device)},
            {"access_token", g.access_token},
            {"expires_in", g.expires_in},
            {"refresh_token", g.refresh_token}};
}

// The request body as a JSON object, or an error response.
std::optional<HttpResponse> parse_body(const HttpRequest& req, json& out) {
    auto parsed = parse_client_json(req.body);
    if (!parsed) return error_response(err(Code::invalid, "body " + parsed.error().message));
    if (!parsed->is_object()) return error_response(err(Code::invalid, "body must be a JSON object"));
    out = std::move(*parsed);
    return std::nullopt;
}

// Reads an optional string field; a present non-string is an error.
std::optional<HttpResponse> field(const json& j, const char* name, std::optional<std::string>& out) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) return error_response(err(Code::invalid, std::string(name) + " must be a string"));
    out = it->get<std::string>();
    return std::nullopt;
}

std::optional<HttpResponse> required(const json& j, const char* name, std::string& out) {
    std::optional<std::string> v;
    if (auto e = field(j, name, v)) return e;
    if (!v) return error_response(err(Code::invalid, std::string(name) + " is required"));
    out = std::move(*v);
    return std::nullopt;
}

template <class T, class Fn>
HttpResponse answer(Result<T> r, Fn&& ok) {
    if (!r) return error_response(r.error());
    return ok(*r);
}

// A non-negative integer query parameter, or an error naming it.
std::optional<Error> int_param(const std::map<std::string, std::string>& q, const char* name,
                               std::optional<std::int64_t>& out) {
    auto it = q.find(name);
    if (it == q.end()) return std::nullopt;
    std::int64_t v = 0;
    const auto& t = it->second;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || end != t.data() + t.size() || v < 0)
        return err(Code::invalid, std::string(name) + " must be a non-negative integer");
    out = v;
    return std::nullopt;
}

std::optional<std::size_t> as_size(std::optional<std::int64_t> v) {
    return v ? std::optional<std::size_t>(std::size_t(*v)) : std::nullopt;
}

}  // namespace

HttpResponse error_response(const Error& e) {
    json inner = {{"code", code_name(e.code)}, {"message", e.message}};
    if (e.code == Code::rate_limited || (e.code == Code::unavailable && e.retry_after_ms > 0))
        inner["retry_after_ms"] = e.retry_after_ms;
    return json_response(http_status(e.code), {{"error", inner}});
}

std::string bearer_token(const std::string& authorization) {
    constexpr std::string_view kPrefix = "Bearer ";
    if (authorization.size() <= kPrefix.size() || authorization.compare(0, kPrefix.size(), kPrefix) != 0) return {};
    return authorization.substr(kPrefix.size());
}

HttpResponse HttpApi::handle(const HttpRequest& req) {
    const std::string& m = req.method;
    const std::string& p = req.path;

    if (p == "/healthz") return m == "GET" ? json_response(200, {{"status", "ok"}}) : method_not_allowed();
    if (p == "/readyz") {
        if (m != "GET") return method_not_allowed();
        return ops_.ready() ? json_response(200, {{"status", "ready"}})
                            : error_response(err(Code::unavailable, "not ready: draining, or the store does not answer"));
    }
    if (p == "/metrics" && ops_.metrics) {
        if (m != "GET") return method_not_allowed();
        return HttpResponse{200, ops_.metrics(), "text/plain; version=0.0.4"};
    }

    if (p == "/v1/ws") return error_response(err(Code::invalid, "this endpoint needs a WebSocket upgrade"));

    // Calls that need no credential.
    if (p == "/v1/accounts") {
        if (m != "POST") return method_not_allowed();
        json body;
        if (auto e = parse_body(req, body)) return *e;
        std::string username, password;
        std::optional<std::string> display_name;
        if (auto e = required(body, "username", username)) return *e;
        if (auto e = required(body, "password", password)) return *e;
        if (auto e = field(body, "display_name", display_name)) return *e;
        if (auto ok = accounts_.attempt_from(req.client); !ok) return error_response(ok.error());
        return answer(accounts_.register_user(username, password, display_name.value_or("")),
                      [](UserId id) { return json_response(201, {{"user_id", id_string(id)}}); });
    }
    if (p == "/v1/sessions") {
        if (m != "POST") return method_not_allowed();
        json body;
        if (auto e = parse_body(req, body)) return *e;
        std::string username, password;
        std::optional<std::string> device_id, device_name;
        if (auto e = required(body, "username", username)) return *e;
        if (auto e = required(body, "password", password)) return *e;
        if (auto e = field(body, "device_id", device_id)) return *e;
        if (auto e = field(body, "device_name", device_name)) return *e;
        if (auto ok = accounts_.attempt_from(req.client); !ok) return error_response(ok.error());
        std::optional<DeviceId> device;
        if (device_id) {
            device = parse_id(*device_id);
            if (!device) return error_response(err(Code::invalid, "device_id must be a device id string"));
        }
        return answer(accounts_.login(username, password, device, device_name.value_or("")),
                      [](const SessionGrant& g) { return json_response(200, grant_json(g)); });
    }
    if (p == "/v1/tokens/refresh") {
        if (m != "POST") return method_not_allowed();
        json body;
        if (auto e = parse_body(req, body)) return *e;
        std::string token;
        if (auto e = required(body, "refresh_token", token)) return *e;
        return answer(accounts_.refresh(token), [](const SessionGrant& g) {
            return json_response(200, {{"access_token", g.access_token},
                                       {"expires_in", g.expires_in},
                                       {"refresh_token", g.refresh_token}});
        });
    }

    // Everything else needs an access token.
    bool known = (deletion_ && p == "/v1/accounts/me") || p == "/v1/sessions/current" || p == "/v1/devices" || p.rfind("/v1/devices/", 0) == 0 ||
                 p == "/v1/ws-tickets" || p == "/v1/users" || p.rfind("/v1/users/", 0) == 0 ||
                 p == "/v1/conversations" || p.rfind("/v1/conversations/", 0) == 0 ||
                 (groups_ && (p == "/v1/groups" || p.rfind("/v1/groups/", 0) == 0)) ||
                 (media_ && (p == "/v1/media" || p.rfind("/v1/media/", 0) == 0));
    if (!known) return error_response(err(Code::not_found, "no such endpoint"));
    auto who = accounts_.authenticate(bearer_token(req.authorization));
    if (!who) return error_response(who.error());

    if (p == "/v1/conversations" || p.rfind("/v1/conversations/", 0) == 0) return conversations(*who, req);
    if (p == "/v1/groups" || p.rfind("/v1/groups/", 0) == 0) return groups(*who, req);
    if (p == "/v1/media" || p.rfind("/v1/media/", 0) == 0) return media(*who, req);
    if (p == "/v1/accounts/me") {
        if (m != "DELETE") return method_not_allowed();
        json body;
        if (auto e = parse_body(req, body)) return *e;
        std::string password;
        if (auto e = required(body, "password", password)) return *e;
        return answer(deletion_->delete_account(*who, password), [](Ok) { return no_content(); });
    }
    if (p == "/v1/sessions/current") {
        if (m != "DELETE") return method_not_allowed();
        return answer(accounts_.logout(*who), [](Ok) { return no_content(); });
    }
    if (p == "/v1/devices") {
        if (m != "GET") return method_not_allowed();
        json list = json::array();
        for (const auto& d : accounts_.devices(*who))
            list.push_back({{"device_id", id_string(d.device_id)},
                            {"device_name", d.device_name},
                            {"last_seen", d.last_seen},
                            {"current", d.device_id == who->device}});
        return json_response(200, {{"devices", list}});
    }
    if (p.rfind("/v1/devices/", 0) == 0) {
        if (m != "DELETE") return method_not_allowed();
        auto device = parse_id(std::string_view(p).substr(12));
        if (!device) return error_response(err(Code::not_found, "no such device"));
        return answer(accounts_.remove_device(*who, *device), [](Ok) { return no_content(); });
    }
    if (p == "/v1/ws-tickets") {
        if (m != "POST") return method_not_allowed();
        return answer(accounts_.issue_ticket(*who), [](const Ticket& t) {
            return json_response(201, {{"ticket", t.ticket}, {"expires_in", t.expires_in}});
        });
    }
    if (p == "/v1/users") {
        if (m != "GET") return method_not_allowed();
        auto q = parse_query(req.query);
        auto it = q.find("username");
        if (it == q.end()) return error_response(err(Code::invalid, "username query parameter is required"));
        return answer(accounts_.user_by_name(it->second), [](const UserRecord& u) { return json_response(200, user_json(u)); });
    }
    if (p == "/v1/users/me") {
        if (m == "GET")
            return answer(accounts_.user(who->user), [](const UserRecord& u) { return json_response(200, user_json(u)); });
        if (m != "PATCH") return method_not_allowed();
        json body;
        if (auto e = parse_body(req, body)) return *e;
        ProfilePatch patch;
        if (auto e = field(body, "display_name", patch.display_name)) return *e;
        if (auto e = field(body, "description", patch.description)) return *e;
        if (body.contains("avatar_media_id")) {
            std::optional<std::string> avatar;
            if (auto e = field(body, "avatar_media_id", avatar)) return *e;
            if (!media_) return error_response(err(Code::invalid, "avatar_media_id needs media support"));
            std::optional<std::uint64_t> id;
            if (avatar) {
                id = parse_id(*avatar);
                if (!id) return error_response(err(Code::invalid, "avatar_media_id must be a media id string or null"));
            }
            // The other fields are checked first, so a bad one changes nothing.
            if (auto ok = accounts_.check_profile(patch); !ok) return error_response(ok.error());
            if (auto r = media_->set_avatar(*who, id); !r) return error_response(r.error());
        }
        return answer(accounts_.update_profile(*who, patch), [](const UserRecord& u) { return json_response(200, user_json(u)); });
    }
    if (p.rfind("/v1/users/", 0) == 0) {
        if (m != "GET") return method_not_allowed();
        auto id = parse_id(std::string_view(p).substr(10));
        if (!id) return error_response(err(Code::not_found, "no such user"));
        auto u = accounts_.user(*id);
        // A deleted account's messages stay in others' history: its id names a tombstone.
        if (!u && u.error().code == Code::not_found && accounts_.deleted(*id))
            return json_response(200, {{"user_id", id_string(*id)}, {"deleted", true}});
        return answer(std::move(u), [](const UserRecord& r) { return json_response(200, user_json(r)); });
    }
    return error_response(err(Code::not_found, "no such endpoint"));
}

HttpResponse HttpApi::conversations(const Principal& who, const HttpRequest& req) {
    if (req.method != "GET") return method_not_allowed();
    auto q = parse_query(req.query);
    std::optional<std::int64_t> limit, before_seq;
    if (auto e = int_param(q, "limit", limit)) return error_response(*e);
    if (req.path == "/v1/conversations") {
        auto list = history_.conversations(who, as_size(limit));
        if (!list) return error_response(list.error());
        std::string body = "{\"conversations\":[";
        for (std::size_t i = 0; i < list->size(); ++i) {
            const auto& c = (*list)[i];
            if (i) body += ',';
            json j = {{"conversation_id", c.conversation_id}, {"last_seq", c.last_seq}, {"unread", c.unread}};
            std::string item = j.dump();
            if (c.last_message) item.insert(item.size() - 1, ",\"last_message\":" + message_object(*c.last_message));
            body += item;
        }
        return HttpResponse{200, body + "]}"};
    }
    // /v1/conversations/{id}/messages and /v1/conversations/{id}/receipts
    std::string_view rest = std::string_view(req.path).substr(std::string_view("/v1/conversations/").size());
    auto ends_with = [&](std::string_view tail) {
        return rest.size() > tail.size() && rest.substr(rest.size() - tail.size()) == tail;
    };
    if (ends_with("/receipts")) {
        auto list = history_.receipts(who, url_decode(rest.substr(0, rest.size() - 9)));
        if (!list) return error_response(list.error());
        json members = json::array();
        for (const auto& r : *list) {
            json m = {{"user_id", id_string(r.user_id)}, {"delivered_seq", r.delivered_seq}, {"read_seq", r.read_seq}};
            if (r.joined_seq > 0) m["joined_seq"] = r.joined_seq;  // a group's member counts from here
            members.push_back(std::move(m));
        }
        return json_response(200, {{"members", members}});
    }
    constexpr std::string_view kMessages = "/messages";
    if (!ends_with(kMessages)) return error_response(err(Code::not_found, "no such endpoint"));
    auto conversation_id = url_decode(rest.substr(0, rest.size() - kMessages.size()));
    if (auto e = int_param(q, "before_seq", before_seq)) return error_response(*e);
    auto page = history_.messages(who, conversation_id, before_seq, as_size(limit));
    if (!page) return error_response(page.error());
    std::string body = "{\"messages\":[";
    for (std::size_t i = 0; i < page->size(); ++i) {
        if (i) body += ',';
        body += message_object((*page)[i]);
    }
    return HttpResponse{200, body + "]}"};
}

HttpResponse HttpApi::groups(const Principal& who, const HttpRequest& req) {
    const std::string& m = req.method;
    if (req.path == "/v1/groups") {
        if (m != "POST") return method_not_allowed();
        json body;
        if (auto e = parse_body(req, body)) return *e;
        std::string name;
        if (auto e = required(body, "name", name)) return *e;
        auto list = body.find("members");
        if (list == body.end() || !list->is_array())
            return error_response(err(Code::invalid, "members must be an array of user ids"));
        std::vector<UserId> members;
        for (const auto& j : *list) {
            auto id = j.is_string() ? parse_id(j.get_ref<const std::string&>()) : std::nullopt;
            if (!id) return error_response(err(Code::invalid, "members must be an array of user ids"));
            members.push_back(*id);
        }
        return answer(groups_->create(who, name, members), [](const CreatedGroup& g) {
            return json_response(201, {{"group_id", id_string(g.group_id)}, {"conversation_id", g.conversation_id}});
        });
    }
    // /v1/groups/{id}, /v1/groups/{id}/members, /v1/groups/{id}/members/{user_id}
    std::string_view rest = std::string_view(req.path).substr(std::string_view("/v1/groups/").size());
    auto slash = rest.find('/');
    auto group_id = parse_id(rest.substr(0, slash));
    if (!group_id) return error_response(err(Code::not_found, "no such group"));
    std::string_view tail = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    if (tail.empty()) {
        if (m != "GET") return method_not_allowed();
        return answer(groups_->get(who, *group_id), [](const GroupRecord& g) {
            json members = json::array();
            for (const auto& mb : g.members)
                members.push_back({{"user_id", id_string(mb.user_id)},
                                   {"role", mb.admin ? "admin" : "member"},
                                   {"joined_seq", mb.joined_seq}});
            return json_response(200, {{"group_id", id_string(g.group_id)},
                                       {"conversation_id", "g:" + id_string(g.group_id)},
                                       {"name", g.name},
                                       {"created_at", g.created_at},
                                       {"members", members}});
        });
    }
    if (tail == "/members") {
        if (m != "POST") return method_not_allowed();
        json body;
        if (auto e = parse_body(req, body)) return *e;
        std::string user;
        if (auto e = required(body, "user_id", user)) return *e;
        auto id = parse_id(user);
        if (!id) return error_response(err(Code::invalid, "user_id must be a user id string"));
        return answer(groups_->add_member(who, *group_id, *id), [](Ok) { return no_content(); });
    }
    if (tail.rfind("/members/", 0) == 0) {
        if (m != "DELETE") return method_not_allowed();
        auto id = parse_id(tail.substr(9));
        if (!id) return error_response(err(Code::not_found, "not a member of this group"));
        return answer(groups_->remove_member(who, *group_id, *id), [](Ok) { return no_content(); });
    }
    return error_response(err(Code::not_found, "no such endpoint"));
}

HttpResponse HttpApi::media(const Principal& who, const HttpRequest& req) {
    if (req.path == "/v1/media") {
        if (req.method != "POST") return method_not_allowed();
        json body;
        if (auto e = parse_body(req, body)) return *e;
        std::string mime;
        if (auto e = required(body, "mime", mime)) return *e;
        auto size = body.find("size");
        if (size == body.end() || !size->is_number_integer())
            return error_response(err(Code::invalid, "size must be an integer number of bytes"));
        return answer(media_->create(who, mime, size->get<std::int64_t>()), [](const MediaUpload& u) {
            json headers = json::object();
            for (const auto& [k, v] : u.upload.headers) headers[k] = v;
            return json_response(201, {{"media_id", id_string(u.media_id)},
                                       {"upload", {{"method", u.upload.method}, {"url", u.upload.url}, {"headers", headers}}},
                                       {"expires_at", u.upload.expires_at}});
        });
    }
    if (req.method != "GET") return method_not_allowed();
    auto id = parse_id(std::string_view(req.path).substr(std::string_view("/v1/media/").size()));
    if (!id) return error_response(err(Code::not_found, "no such media"));
    return answer(media_->download(who, *id), [](const MediaDownload& d) {
        return json_response(200, {{"media_id", id_string(d.media.media_id)},
                                   {"mime", d.media.mime},
                                   {"size", d.media.size},
                                   {"download_url", d.download.url},
                                   {"expires_at", d.download.expires_at}});
    });
}

}  // namespace natter
