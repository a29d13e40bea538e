#pragma once
// Internal to the SQLite adapter: the writer and reader helpers shared by
// its source files.
#include <future>
#include <memory>
#include <optional>

#include "adapters/sqlite/sqlite_db.hpp"
#include "adapters/sqlite/sqlite_store.hpp"

namespace natter::sqlite {

template <class T>
T SqliteStore::write_sync(std::function<T(Db&)> body, T on_failure) {
    auto result = std::make_shared<std::optional<T>>();
    std::promise<void> done;
    auto fut = done.get_future();
    enqueue(Job{[body, result](Db& db) {
                    *result = body(db);
                    return true;
                },
                [&done, result](bool committed) {
                    if (!committed) result->reset();  // rolled back: report the failure, not the body's answer
                    done.set_value();
                }});
    fut.wait();
    if (!*result) return on_failure;
    return std::move(**result);
}

template <class Fn>
auto SqliteStore::read(Fn&& fn) {
    std::unique_ptr<Db> db;
    {
        std::unique_lock lock(readers_mu_);
        readers_cv_.wait(lock, [&] { return !readers_.empty(); });
        db = std::move(readers_.back());
        readers_.pop_back();
    }
    struct Return {
        SqliteStore* self;
        std::unique_ptr<Db>& db;
        ~Return() {
            {
                std::lock_guard lock(self->readers_mu_);
                self->readers_.push_back(std::move(db));
            }
            self->readers_cv_.notify_one();
        }
    } give_back{this, db};
    return fn(*db);
}

}  // namespace natter::sqlite
