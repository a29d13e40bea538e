#pragma once
// EventLoop's insides, for the two Asio translation units (event_loop.cpp,
// ws_client.cpp) only.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <map>
#include <mutex>

#include "event_loop.hpp"

namespace natter::cli {

// Shared with the detached stdin reader thread, which may outlive the loop.
struct LineReaderState {
    std::mutex mutex;
    bool alive = true;
};

struct EventLoop::Impl {
    boost::asio::io_context ioc{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{ioc.get_executor()};
    boost::asio::thread_pool worker{1};
    boost::asio::signal_set signals{ioc};
    std::function<void(int)> signal_handler;
    std::map<TimerId, std::unique_ptr<boost::asio::steady_timer>> timers;
    TimerId next_timer = 1;
    std::shared_ptr<LineReaderState> reader;
};

}  // namespace natter::cli
