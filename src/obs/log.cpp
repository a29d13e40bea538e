#include "obs/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>

namespace natter {

namespace {
std::atomic<bool> g_json{true};

spdlog::level::level_enum to_spd(LogLevel l) {
    switch (l) {
        case LogLevel::debug: return spdlog::level::debug;
        case LogLevel::info: return spdlog::level::info;
        case LogLevel::warn: return spdlog::level::warn;
        case LogLevel::error: return spdlog::level::err;
    }
    return spdlog::level::info;
}

const char* level_name(LogLevel l) {
    switch (l) {
        case LogLevel::debug: return "debug";
        case LogLevel::info: return "info";
        case LogLevel::warn: return "warn";
        case LogLevel::error: return "error";
    }
    return "info";
}
}  // namespace

void init_logging(const std::string& format, const std::string& level) {
    g_json = format != "text";
    auto logger = spdlog::stderr_logger_mt("natter");
    // The JSON line is built by log_event; text lines get a time and level prefix.
    logger->set_pattern(g_json ? "%v" : "%Y-%m-%dT%H:%M:%S.%e %l %v");
    logger->set_level(spdlog::level::from_str(level == "warn" ? "warning" : level));
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(logger);
}

bool log_enabled(LogLevel level) { return spdlog::default_logger_raw()->should_log(to_spd(level)); }

void log_event(LogLevel level, const char* event, const nlohmann::json& fields) {
    if (!log_enabled(level)) return;
    std::string line;
    if (g_json) {
        using namespace std::chrono;
        nlohmann::json j = {{"ts", duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count()},
                            {"level", level_name(level)},
                            {"event", event}};
        if (fields.is_object()) j.update(fields);
        line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
        line = event;
        if (fields.is_object())
            for (const auto& [k, v] : fields.items())
                line += " " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    }
    spdlog::default_logger_raw()->log(to_spd(level), line);
}

}  // namespace natter
