#include "adapters/sqlite/sqlite_db.hpp"

#include <sqlite3.h>

namespace natter::sqlite {

namespace {
[[noreturn]] void fail(sqlite3* db, const char* what) {
    throw SqliteError(std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}
}  // namespace

Stmt::~Stmt() {
    if (s_) sqlite3_reset(s_);
}

Stmt& Stmt::bind(int i, std::int64_t v) {
    if (sqlite3_bind_int64(s_, i, v) != SQLITE_OK) fail(sqlite3_db_handle(s_), "bind");
    return *this;
}

Stmt& Stmt::bind(int i, std::string_view v) {
    if (sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
        fail(sqlite3_db_handle(s_), "bind");
    return *this;
}

Stmt& Stmt::bind_null(int i) {
    if (sqlite3_bind_null(s_, i) != SQLITE_OK) fail(sqlite3_db_handle(s_), "bind");
    return *this;
}

bool Stmt::step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(sqlite3_db_handle(s_), "step");
}

void Stmt::run() {
    while (step()) {
    }
}

std::int64_t Stmt::i64(int col) const { return sqlite3_column_int64(s_, col); }

std::string Stmt::text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, std::size_t(sqlite3_column_bytes(s_, col))) : std::string();
}

bool Stmt::is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

Db::Db(const std::string& path, bool readonly) {
    int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        throw SqliteError("cannot open " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 5000);
}

Db::~Db() {
    for (auto& [sql, st] : cache_) sqlite3_finalize(st);
    sqlite3_close(db_);
}

Stmt Db::prepare(const char* sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK)
            fail(db_, "prepare");
        it = cache_.emplace(sql, st).first;
    }
    sqlite3_reset(it->second);
    sqlite3_clear_bindings(it->second);
    return Stmt(it->second);
}

void Db::exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
        std::string m = msg ? msg : "unknown error";
        sqlite3_free(msg);
        throw SqliteError(std::string("exec: ") + m);
    }
}

std::int64_t Db::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
int Db::changes() const { return sqlite3_changes(db_); }

}  // namespace natter::sqlite
