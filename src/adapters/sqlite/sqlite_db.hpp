#pragma once
// A thin RAII layer over one sqlite3 connection with a statement cache.
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace natter::sqlite {

struct SqliteError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Stmt {
public:
    explicit Stmt(sqlite3_stmt* s) : s_(s) {}
    Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    ~Stmt();  // resets, so no read stays open past its use
    Stmt& bind(int i, std::int64_t v);
    Stmt& bind(int i, std::uint64_t v) { return bind(i, std::int64_t(v)); }
    Stmt& bind(int i, int v) { return bind(i, std::int64_t(v)); }
    Stmt& bind(int i, std::string_view v);
    Stmt& bind_null(int i);
    bool step();  // true while a row is available
    void run();   // steps to completion
    std::int64_t i64(int col) const;
    std::uint64_t u64(int col) const { return std::uint64_t(i64(col)); }
    std::string text(int col) const;
    bool is_null(int col) const;

private:
    friend class Db;
    sqlite3_stmt* s_;
};

class Db {
public:
    Db(const std::string& path, bool readonly);
    ~Db();
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;

    // A cached statement, reset and unbound, ready to bind.
    Stmt prepare(const char* sql);
    void exec(const char* sql);
    std::int64_t last_insert_rowid() const;
    int changes() const;
    sqlite3* raw() { return db_; }

private:
    sqlite3* db_ = nullptr;
    std::map<const char*, sqlite3_stmt*> cache_;
};

}  // namespace natter::sqlite
