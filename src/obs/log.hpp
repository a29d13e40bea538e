#pragma once
// Observability, callable from every layer. Structured logs to stderr through spdlog: one JSON object per line (or
// `event key=value` text), each with time, level and event name.
#include <string>

#include <nlohmann/json.hpp>

namespace natter {

enum class LogLevel { debug, info, warn, error };

void init_logging(const std::string& format, const std::string& level);
bool log_enabled(LogLevel level);
void log_event(LogLevel level, const char* event, const nlohmann::json& fields);

}  // namespace natter
