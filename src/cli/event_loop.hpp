#pragma once
// The one-threaded event loop of the long-running commands (send, listen,
// chat), without Asio in the header: timers, signals, stdin lines from a
// reader thread, and blocking work (HTTP calls) on a background thread.
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace natter::cli {

class EventLoop {
public:
    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // Runs handlers on the calling thread until stop(). An exception from a
    // handler ends run() and propagates.
    void run();
    void stop();

    // Thread-safe: `fn` runs on the loop.
    void post(std::function<void()> fn);
    // `work` runs on the background thread (one job at a time, in order),
    // then `then` on the loop, with the exception `work` threw, if any.
    void offload(std::function<void()> work, std::function<void(std::exception_ptr)> then);

    using TimerId = std::uint64_t;
    TimerId after(std::chrono::milliseconds delay, std::function<void()> fn);
    void cancel(TimerId id);  // no-op for a timer that fired or was cancelled

    // SIGINT and SIGTERM arrive here instead of killing the process. Once.
    void on_signal(std::function<void(int)> fn);
    // A reader thread reads `fd` and posts each line (without '\n'), then
    // nullopt at end of file. Never blocks the loop.
    void read_lines(int fd, std::function<void(std::optional<std::string>)> on_line);
    // The same, but the bytes as read (keys pressed on a raw terminal), then
    // nullopt at end of file. One reader per loop: read_lines or read_bytes.
    void read_bytes(int fd, std::function<void(std::optional<std::string>)> on_bytes);

    struct Impl;
    Impl& impl() { return *impl_; }

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace natter::cli
