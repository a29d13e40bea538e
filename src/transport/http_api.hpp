#pragma once
// The HTTP API of PROTOCOL.md as plain functions of a request: no sockets
// here, so it is tested directly and Beast stays in the listener. handle()
// may block (store, argon2): the listener calls it off the I/O threads.
#include <functional>
#include <map>
#include <string>

#include "chat/account_deletion.hpp"
#include "chat/accounts.hpp"
#include "chat/groups.hpp"
#include "chat/history.hpp"
#include "chat/media.hpp"
#include "core/url.hpp"  // parse_query, for the listener

namespace natter {

struct HttpRequest {
    std::string method;         // "GET", "POST", ...
    std::string path;           // without the query
    std::string query;          // after '?', undecoded
    std::string authorization;  // the Authorization header
    std::string body;
    std::string client;         // the client address's limit key (core/address.hpp); empty: exempt
};

struct HttpResponse {
    int status = 200;
    std::string body;  // JSON, or empty for 204
    std::string content_type = "application/json";
};

HttpResponse error_response(const Error& e);
std::string bearer_token(const std::string& authorization);

// Operations endpoints: /readyz asks `ready`, /metrics renders `metrics`.
struct HttpOperations {
    std::function<bool()> ready = [] { return true; };
    std::function<std::string()> metrics;
};

class HttpApi {
public:
    using Operations = HttpOperations;
    // Without `groups`, the group endpoints answer 404; without `deletion`, DELETE /v1/accounts/me does.
    HttpApi(AccountService& accounts, HistoryService& history, GroupService* groups = nullptr, Operations ops = {},
            MediaService* media = nullptr, AccountDeletion* deletion = nullptr)
        : accounts_(accounts), history_(history), groups_(groups), media_(media), deletion_(deletion), ops_(std::move(ops)) {}
    HttpResponse handle(const HttpRequest& req);

private:
    HttpResponse conversations(const Principal& who, const HttpRequest& req);
    HttpResponse groups(const Principal& who, const HttpRequest& req);
    HttpResponse media(const Principal& who, const HttpRequest& req);
    AccountService& accounts_;
    HistoryService& history_;
    GroupService* groups_;
    MediaService* media_;
    AccountDeletion* deletion_;
    Operations ops_;
};

}  // namespace natter
