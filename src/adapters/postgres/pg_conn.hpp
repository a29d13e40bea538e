#pragma once
// A thin layer over libpq: one connection, its results, its errors. No Asio:
// every call blocks the calling thread (the store runs on the blocking pool).
//
// Choices, for whoever writes SQL on top of it:
// - Text format both ways. Parameters are sent as text (`Param`), results read
//   as text and parsed (`Rows::i64` …). Unambiguous, easy to debug in psql, and
//   the parse cost is noise beside a round trip.
// - Ids. natter ids are uint64 (snowflakes); they are stored in `bigint`
//   columns holding the same 64 bits (`to_db`/`from_db`, two's complement).
//   Every snowflake stays below 2^63 until ~2093, so for all real ids the
//   mapping is the identity: psql shows the real id and ORDER BY / range scans
//   on the bigint follow id order. Only ids >= 2^63 come out negative (and sort
//   first). Bind ids with `Param::id`, read them with `Rows::id`; `Param::u64`
//   and `Rows::u64` are plain decimals (for numeric/text columns or counts),
//   and the server rejects a u64 above 2^63-1 bound to a bigint: loud, not
//   silent.
// - Round trips. `exec` is one statement, one round trip (extended protocol,
//   PQsendQueryParams). `pipeline` sends several statements and one Sync in a
//   single write and reads all results after (libpq pipeline mode): one round
//   trip for all of them, and, without an explicit BEGIN, they run as one
//   implicit transaction: if one fails, those before it are rolled back too
//   and those after it are not run. `script` runs a multi-statement text
//   (schema) through the simple protocol.
// - Timeouts. Connect: libpq `connect_timeout` (seconds, libpq's minimum is
//   2). Statements: the server's `statement_timeout` (set in the startup
//   packet, no extra round trip); on top of it the client waits at most
//   statement_timeout + answer_grace for an answer on the socket, so a hung or
//   unreachable server (which never times anything out) still makes the call
//   fail, as a connection error, and the connection is broken. TCP keepalives
//   and tcp_user_timeout catch a dead peer on an idle or writing socket.
// - Errors. Everything throws `pg::Error`. Kind `connection` means the server
//   is gone, unreachable or shutting down (also SQLSTATE classes 08 and 57P0x):
//   the connection is `broken()` and useless, the work may be retried on
//   another connection or later. unique_violation is 23505; serialization is
//   40001 and 40P01 (retry the transaction); everything else is `other`.
//   A statement error (not `connection`) leaves the connection usable.
// - Server notices (e.g. "already exists, skipping") go to the debug log.
// - A Connection is for one thread at a time; Pool (pg_pool.hpp) shares them.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

struct pg_conn;    // libpq's PGconn
struct pg_result;  // libpq's PGresult

namespace natter::pg {

enum class ErrorKind {
    connection,        // server gone, unreachable, shutting down, or no answer in time: retry elsewhere/later
    unique_violation,  // 23505
    serialization,     // 40001 serialization_failure, 40P01 deadlock_detected: retry the transaction
    other,
};
const char* kind_name(ErrorKind kind);

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, std::string sqlstate, std::string message);
    ErrorKind kind;
    std::string sqlstate;  // empty for errors libpq or this layer made up
    std::string message;   // the server's primary message, or libpq's
};

// The ids' mapping to bigint: the same 64 bits (see the top of this file).
constexpr std::int64_t to_db(std::uint64_t id) { return static_cast<std::int64_t>(id); }
constexpr std::uint64_t from_db(std::int64_t v) { return static_cast<std::uint64_t>(v); }

// One query parameter in text format; nullopt is SQL NULL.
struct Param {
    std::optional<std::string> value;

    static Param null() { return {}; }
    static Param text(std::string_view s) { return {std::string(s)}; }
    static Param i64(std::int64_t v) { return {std::to_string(v)}; }
    static Param u64(std::uint64_t v) { return {std::to_string(v)}; }  // a plain decimal
    static Param id(std::uint64_t v) { return i64(to_db(v)); }         // for a bigint id column
    static Param boolean(bool v) { return {v ? "t" : "f"}; }
};

struct Statement {
    std::string sql;
    std::vector<Param> params;
};

// The result of one statement; owns its PGresult. Row and column indexes
// start at 0; reading past the end, a NULL as a number, or text that is not
// the number asked for throws Error(other).
class Rows {
public:
    Rows() = default;
    explicit Rows(pg_result* result);

    int size() const;
    bool empty() const { return size() == 0; }
    int columns() const;
    int column(std::string_view name) const;  // its index; throws when there is none

    bool is_null(int row, int col) const;
    std::string_view text(int row, int col) const;  // "" for NULL; valid while the Rows lives
    std::int64_t i64(int row, int col) const;
    std::uint64_t u64(int row, int col) const;  // a plain decimal, no sign
    std::uint64_t id(int row, int col) const { return from_db(i64(row, col)); }
    bool boolean(int row, int col) const;

    // The count in the command tag: rows an INSERT/UPDATE/DELETE touched, or
    // a SELECT returned; 0 when the tag has none (CREATE, BEGIN…).
    std::int64_t affected() const;
    // The command tag: "INSERT 0 1", "COMMIT", "ROLLBACK"…
    std::string_view status() const;

private:
    const char* cell(int row, int col) const;

    struct Clear {
        void operator()(pg_result* r) const;
    };
    std::unique_ptr<pg_result, Clear> result_;
};

enum class Isolation { read_committed, repeatable_read, serializable };

struct ConnectOptions {
    // Server side, per statement; 0 turns it off (and the client deadline with it).
    std::chrono::milliseconds statement_timeout{10'000};
    // How much longer than statement_timeout the client waits for an answer.
    std::chrono::milliseconds answer_grace{2'000};
    // Kills a session left idle inside a transaction (and its locks).
    std::chrono::milliseconds idle_in_transaction_timeout{60'000};
    // Defaults; the same keys in the conninfo win.
    int connect_timeout_s = 5;
    int keepalive_idle_s = 5, keepalive_interval_s = 2, keepalive_count = 3;
    std::chrono::milliseconds tcp_user_timeout{10'000};
    std::string application_name = "natter";
};

class Connection {
public:
    // Connects (blocking, up to connect_timeout); throws Error(connection)
    // when the server cannot be reached or refuses.
    explicit Connection(const std::string& conninfo, const ConnectOptions& options = {});
    ~Connection();
    Connection(Connection&& other) noexcept;
    Connection& operator=(Connection&& other) noexcept;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // One statement ($1, $2… for params), one round trip.
    Rows exec(std::string_view sql, const std::vector<Param>& params = {});
    // Several statements in one text, no params (schema); simple protocol.
    void script(std::string_view sql);
    // All statements in one round trip (one implicit transaction unless they
    // hold their own BEGIN/COMMIT); a result per statement, in order. Throws
    // the first statement's error; the connection stays usable after one.
    std::vector<Rows> pipeline(const std::vector<Statement>& statements);

    // BEGIN; fn(*this); COMMIT — or ROLLBACK when fn throws, and rethrows.
    // Returns what fn returns. Throws Error(other) when called inside a
    // transaction, or when COMMIT finds the transaction aborted (fn caught a
    // statement's error and went on: the server rolled it all back).
    template <class F>
    auto transaction(F&& fn, Isolation isolation = Isolation::read_committed) -> decltype(fn(*this));

    // True after a connection error: drop it and open another.
    bool broken() const;
    // Not inside a transaction (and not broken).
    bool idle() const;
    // Without a round trip: reads what the server sent while the connection
    // sat unused (a shutdown notice, EOF) and says whether it is still usable.
    bool check_alive();
    // The server's backend process id (for tests and logs).
    int backend_pid() const;
    // libpq's handle, for what this layer lacks (tests use PQtrace).
    pg_conn* raw() { return conn_; }

private:
    void begin(Isolation isolation);
    void commit();
    void rollback_quietly() noexcept;

    void ensure_usable();
    void send_params(std::string_view sql, const std::vector<Param>& params);
    void flush(std::chrono::steady_clock::time_point until);
    short wait_socket(short events, std::chrono::steady_clock::time_point until);
    pg_result* next_result(std::chrono::steady_clock::time_point until);
    Rows collect();
    std::chrono::steady_clock::time_point deadline() const;
    [[noreturn]] void fail_connection(const std::string& what);
    [[noreturn]] void fail_result(pg_result* result);  // takes it

    pg_conn* conn_ = nullptr;
    std::chrono::milliseconds answer_timeout_{0};  // 0: wait as long as it takes
    bool broken_ = false;
};

template <class F>
auto Connection::transaction(F&& fn, Isolation isolation) -> decltype(fn(*this)) {
    begin(isolation);
    try {
        if constexpr (std::is_void_v<decltype(fn(*this))>) {
            fn(*this);
            commit();
        } else {
            auto result = fn(*this);
            commit();
            return result;
        }
    } catch (...) {
        rollback_quietly();
        throw;
    }
}

}  // namespace natter::pg
