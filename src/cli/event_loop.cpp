#include "event_loop.hpp"

#include <unistd.h>

#include <boost/asio/post.hpp>

#include <cerrno>
#include <csignal>
#include <thread>
#include <utility>

#include "event_loop_impl.hpp"

namespace natter::cli {

namespace net = boost::asio;

namespace {

void wait_signal(EventLoop::Impl& impl) {
    impl.signals.async_wait([&impl](boost::system::error_code ec, int sig) {
        if (ec) return;
        impl.signal_handler(sig);
        wait_signal(impl);
    });
}

}  // namespace

EventLoop::EventLoop() : impl_(std::make_unique<Impl>()) {}

EventLoop::~EventLoop() {
    if (impl_->reader) {
        std::lock_guard lock(impl_->reader->mutex);
        impl_->reader->alive = false;
    }
    impl_->worker.join();  // a job in progress finishes (HTTP calls have deadlines)
}

void EventLoop::run() {
    impl_->ioc.restart();
    impl_->ioc.run();
}

void EventLoop::stop() { impl_->ioc.stop(); }

void EventLoop::post(std::function<void()> fn) { net::post(impl_->ioc, std::move(fn)); }

void EventLoop::offload(std::function<void()> work, std::function<void(std::exception_ptr)> then) {
    auto* ioc = &impl_->ioc;
    net::post(impl_->worker, [ioc, work = std::move(work), then = std::move(then)]() mutable {
        std::exception_ptr failure;
        try {
            work();
        } catch (...) {
            failure = std::current_exception();
        }
        net::post(*ioc, [then = std::move(then), failure] { then(failure); });
    });
}

EventLoop::TimerId EventLoop::after(std::chrono::milliseconds delay, std::function<void()> fn) {
    auto id = impl_->next_timer++;
    auto timer = std::make_unique<net::steady_timer>(impl_->ioc, delay);
    timer->async_wait([this, id, fn = std::move(fn)](boost::system::error_code ec) {
        // Cancelled, or cancelled after it fired but before this ran.
        if (ec || impl_->timers.erase(id) == 0) return;
        fn();
    });
    impl_->timers.emplace(id, std::move(timer));
    return id;
}

void EventLoop::cancel(TimerId id) { impl_->timers.erase(id); }

void EventLoop::on_signal(std::function<void(int)> fn) {
    boost::system::error_code ignored;
    impl_->signal_handler = std::move(fn);
    impl_->signals.add(SIGINT, ignored);
    impl_->signals.add(SIGTERM, ignored);
    wait_signal(*impl_);
}

namespace {

// A detached thread reading `fd`: each chunk to `on_chunk`, then nullopt at
// end of file. A read() on a terminal cannot be interrupted portably; the
// thread ends with the process, and posts nothing once the loop is gone.
void start_reader(EventLoop::Impl& impl, int fd, std::function<void(std::optional<std::string>)> on_chunk) {
    auto state = std::make_shared<LineReaderState>();
    impl.reader = state;
    auto* ioc = &impl.ioc;
    std::thread([fd, state, ioc, on_chunk = std::move(on_chunk)] {
        auto deliver = [&](std::optional<std::string> chunk) {
            std::lock_guard lock(state->mutex);
            if (state->alive) net::post(*ioc, [on_chunk, chunk = std::move(chunk)] { on_chunk(chunk); });
        };
        char buf[4096];
        for (;;) {
            auto n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            deliver(std::string(buf, std::size_t(n)));
        }
        deliver(std::nullopt);
    }).detach();
}

}  // namespace

void EventLoop::read_lines(int fd, std::function<void(std::optional<std::string>)> on_line) {
    // Split on the loop: the reader thread only moves bytes.
    auto pending = std::make_shared<std::string>();
    start_reader(*impl_, fd, [pending, on_line = std::move(on_line)](std::optional<std::string> chunk) {
        if (!chunk) {
            if (!pending->empty()) on_line(std::exchange(*pending, std::string()));
            return on_line(std::nullopt);
        }
        pending->append(*chunk);
        for (auto nl = pending->find('\n'); nl != std::string::npos; nl = pending->find('\n')) {
            std::string line = pending->substr(0, nl);
            pending->erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            on_line(std::move(line));
        }
    });
}

void EventLoop::read_bytes(int fd, std::function<void(std::optional<std::string>)> on_bytes) {
    start_reader(*impl_, fd, std::move(on_bytes));
}

}  // namespace natter::cli
