#include "obs/trace.hpp"

#include <random>

namespace natter {

std::string new_trace_id() {
    // Not a secret: a fast per-thread generator seeded once from the OS.
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(32, '0');
    for (int half = 0; half < 2; ++half) {
        auto v = rng();
        for (int i = 0; i < 16; ++i) out[half * 16 + i] = kHex[(v >> (i * 4)) & 15];
    }
    return out;
}

}  // namespace natter
