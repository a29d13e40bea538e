#pragma once
// Time as the service sees it; tests inject a ManualClock.
#include <atomic>
#include <chrono>
#include <cstdint>

namespace natter {

class Clock {
public:
    virtual ~Clock() = default;
    virtual std::int64_t now_ms() const = 0;  // ms since the Unix epoch
};

class SystemClock final : public Clock {
public:
    std::int64_t now_ms() const override {
        using namespace std::chrono;
        return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    }
};

class ManualClock final : public Clock {
public:
    explicit ManualClock(std::int64_t start_ms) : now_(start_ms) {}
    std::int64_t now_ms() const override { return now_.load(); }
    void advance_ms(std::int64_t d) { now_ += d; }

private:
    std::atomic<std::int64_t> now_;
};

}  // namespace natter
