#include "bench/users.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace natter::bench {

std::vector<BenchUser> read_users(std::istream& in) {
    std::vector<BenchUser> users;
    std::string line;
    for (std::size_t n = 1; std::getline(in, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        auto j = nlohmann::json::parse(line, nullptr, false);
        auto str = [&](const char* k) -> std::string {
            if (!j.is_object() || !j.contains(k) || !j[k].is_string())
                throw std::runtime_error("users line " + std::to_string(n) + ": missing string \"" + k + "\"");
            return j[k].get<std::string>();
        };
        users.push_back(BenchUser{str("username"), str("user_id"), str("device_id"), str("access_token")});
    }
    return users;
}

std::vector<BenchUser> read_users_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read users file " + path);
    return read_users(in);
}

}  // namespace natter::bench
