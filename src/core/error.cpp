#include "core/error.hpp"

namespace natter {

const char* code_name(Code c) {
    switch (c) {
        case Code::invalid: return "invalid";
        case Code::unauthorized: return "unauthorized";
        case Code::forbidden: return "forbidden";
        case Code::not_found: return "not_found";
        case Code::conflict: return "conflict";
        case Code::too_large: return "too_large";
        case Code::rate_limited: return "rate_limited";
        case Code::unavailable: return "unavailable";
    }
    return "unavailable";
}

int http_status(Code c) {
    switch (c) {
        case Code::invalid: return 400;
        case Code::unauthorized: return 401;
        case Code::forbidden: return 403;
        case Code::not_found: return 404;
        case Code::conflict: return 409;
        case Code::too_large: return 413;
        case Code::rate_limited: return 429;
        case Code::unavailable: return 503;
    }
    return 500;
}

}  // namespace natter
