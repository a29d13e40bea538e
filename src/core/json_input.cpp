#include "core/json_input.hpp"

namespace natter {

std::size_t json_depth(std::string_view text, std::size_t stop_above) {
    std::size_t depth = 0, deepest = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') ++i;  // the escaped character cannot end the string
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest && (deepest = depth) > stop_above) return deepest;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

Result<nlohmann::json> parse_client_json(std::string_view text) {
    if (json_depth(text) > kMaxJsonDepth)
        return err(Code::invalid, "is nested deeper than " + std::to_string(kMaxJsonDepth) + " arrays or objects");
    auto value = nlohmann::json::parse(text, nullptr, false);
    if (value.is_discarded()) return err(Code::invalid, "is not valid JSON (or not UTF-8)");
    return value;
}

}  // namespace natter
