#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "transport/server.hpp"

namespace natter {

struct BlockingPool::Impl {
    explicit Impl(std::size_t n) : pool(n) {}
    boost::asio::thread_pool pool;
};

BlockingPool::BlockingPool(std::size_t threads) : impl_(std::make_unique<Impl>(threads)) {}
BlockingPool::~BlockingPool() { join(); }
void BlockingPool::post(std::function<void()> fn) { boost::asio::post(impl_->pool, std::move(fn)); }
void BlockingPool::join() { impl_->pool.join(); }

}  // namespace natter
