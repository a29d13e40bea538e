#pragma once
// The users a run connects as: the JSON lines of `natterd admin seed-users`.

#include <istream>
#include <string>
#include <vector>

namespace natter::bench {

struct BenchUser {
    std::string username, user_id, device_id, access_token;
};

// One user per non-empty line; throws std::runtime_error naming the bad line.
std::vector<BenchUser> read_users(std::istream& in);
std::vector<BenchUser> read_users_file(const std::string& path);

}  // namespace natter::bench
