#pragma once
// Showing messages on a terminal: local times, and text made safe to print.
#include <cstdint>
#include <string>

namespace natter::cli {

std::string clock_time(std::int64_t unix_ms);  // "14:05", local time
std::string date_time(std::int64_t unix_ms);   // "2025-06-01 14:05", local time

// Control characters (escape sequences included) shown as \xNN, so a
// message cannot drive the terminal; newlines become "\n" + indent.
std::string printable(const std::string& text, const std::string& indent = "  ");

// At most `max` code points, with "…" when cut.
std::string shorten(const std::string& text, std::size_t max);

// A random version 4 UUID, lower case 8-4-4-4-12.

}  // namespace natter::cli
