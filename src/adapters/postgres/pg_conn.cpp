#include "adapters/postgres/pg_conn.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string>
#include <utility>

#include "obs/log.hpp"

namespace natter::pg {

namespace {

using Clock = std::chrono::steady_clock;

struct ResultClear {
    void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultClear>;

// libpq's messages end in a newline.
std::string trimmed(const char* s) {
    std::string out = s ? s : "";
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

ErrorKind classify(std::string_view state) {
    if (state == "23505") return ErrorKind::unique_violation;
    if (state == "40001" || state == "40P01") return ErrorKind::serialization;
    // 08: connection exception; 57P01-04: admin/crash shutdown, starting up, database dropped.
    if (state.starts_with("08") || state.starts_with("57P")) return ErrorKind::connection;
    return ErrorKind::other;
}

std::string where(PGconn* c) {
    if (!c) return "postgres";
    return std::string("postgres ") + (PQhost(c) ? PQhost(c) : "?") + ":" + (PQport(c) ? PQport(c) : "?");
}

// Notices (e.g. "relation already exists, skipping") are not errors: debug logs only.
void on_notice(void*, const char* message) {
    if (log_enabled(LogLevel::debug)) log_event(LogLevel::debug, "pg_notice", {{"message", trimmed(message)}});
}

std::string ms_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()); }

const char* cell_or_throw(const PGresult* r, int row, int col) {
    if (!r || row < 0 || col < 0 || row >= PQntuples(r) || col >= PQnfields(r))
        throw Error(ErrorKind::other, "", "no cell (" + std::to_string(row) + ", " + std::to_string(col) + ") in the result");
    return PQgetvalue(r, row, col);
}

template <class T>
T parse_number(const PGresult* r, int row, int col, const char* what) {
    if (PQgetisnull(r, row, col)) throw Error(ErrorKind::other, "", std::string("NULL where ") + what + " expected");
    const char* s = PQgetvalue(r, row, col);
    const char* end = s + PQgetlength(r, row, col);
    T v{};
    auto [p, ec] = std::from_chars(s, end, v);
    if (ec != std::errc() || p != end || p == s)
        throw Error(ErrorKind::other, "", std::string("'") + s + "' is not " + what);
    return v;
}

}  // namespace

const char* kind_name(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::connection: return "connection";
        case ErrorKind::unique_violation: return "unique_violation";
        case ErrorKind::serialization: return "serialization";
        case ErrorKind::other: return "other";
    }
    return "?";
}

Error::Error(ErrorKind k, std::string state, std::string msg)
    : std::runtime_error(std::string("postgres ") + kind_name(k) + " error" + (state.empty() ? "" : " " + state) + ": " + msg),
      kind(k),
      sqlstate(std::move(state)),
      message(std::move(msg)) {}

// ---- Rows

void Rows::Clear::operator()(pg_result* r) const { PQclear(r); }

Rows::Rows(pg_result* result) : result_(result) {}

int Rows::size() const { return result_ ? PQntuples(result_.get()) : 0; }
int Rows::columns() const { return result_ ? PQnfields(result_.get()) : 0; }

int Rows::column(std::string_view name) const {
    int c = result_ ? PQfnumber(result_.get(), std::string(name).c_str()) : -1;
    if (c < 0) throw Error(ErrorKind::other, "", "no column '" + std::string(name) + "' in the result");
    return c;
}

const char* Rows::cell(int row, int col) const { return cell_or_throw(result_.get(), row, col); }

bool Rows::is_null(int row, int col) const {
    cell(row, col);
    return PQgetisnull(result_.get(), row, col);
}

std::string_view Rows::text(int row, int col) const {
    const char* s = cell(row, col);
    return {s, std::size_t(PQgetlength(result_.get(), row, col))};
}

std::int64_t Rows::i64(int row, int col) const {
    cell(row, col);
    return parse_number<std::int64_t>(result_.get(), row, col, "a 64-bit integer");
}

std::uint64_t Rows::u64(int row, int col) const {
    cell(row, col);
    return parse_number<std::uint64_t>(result_.get(), row, col, "an unsigned 64-bit integer");
}

bool Rows::boolean(int row, int col) const {
    auto s = text(row, col);
    if (is_null(row, col) || (s != "t" && s != "f")) throw Error(ErrorKind::other, "", "'" + std::string(s) + "' is not a boolean");
    return s == "t";
}

std::int64_t Rows::affected() const {
    const char* s = result_ ? PQcmdTuples(result_.get()) : "";
    std::int64_t n = 0;
    std::from_chars(s, s + std::char_traits<char>::length(s), n);
    return n;
}

std::string_view Rows::status() const { return result_ ? PQcmdStatus(result_.get()) : ""; }

// ---- Connection

Connection::Connection(const std::string& conninfo, const ConnectOptions& o) {
    const std::string options = "-c statement_timeout=" + ms_text(o.statement_timeout) +
                                " -c idle_in_transaction_session_timeout=" + ms_text(o.idle_in_transaction_timeout);
    const std::string values[] = {
        std::to_string(o.connect_timeout_s), "1", std::to_string(o.keepalive_idle_s),
        std::to_string(o.keepalive_interval_s), std::to_string(o.keepalive_count), ms_text(o.tcp_user_timeout),
        o.application_name, "UTF8", options,
        conninfo,  // last: its keys override the defaults before it
    };
    const char* keys[] = {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                          "tcp_user_timeout", "application_name", "client_encoding", "options", "dbname", nullptr};
    const char* vals[std::size(values) + 1];
    for (std::size_t i = 0; i < std::size(values); ++i) vals[i] = values[i].c_str();
    vals[std::size(values)] = nullptr;

    conn_ = PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
    if (!conn_) throw Error(ErrorKind::connection, "", "out of memory");
    if (PQstatus(conn_) != CONNECTION_OK) {
        std::string msg = "cannot connect to " + where(conn_) + ": " + trimmed(PQerrorMessage(conn_));
        PQfinish(conn_);
        conn_ = nullptr;
        throw Error(ErrorKind::connection, "", msg);
    }
    PQsetNoticeProcessor(conn_, on_notice, nullptr);
    // Non-blocking: sends never stall on a full socket (pipeline mode needs
    // that), and every wait is a poll() with a deadline.
    PQsetnonblocking(conn_, 1);
    if (o.statement_timeout.count() > 0) answer_timeout_ = o.statement_timeout + o.answer_grace;
}

Connection::~Connection() {
    if (conn_) PQfinish(conn_);
}

Connection::Connection(Connection&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)), answer_timeout_(other.answer_timeout_), broken_(other.broken_) {}

Connection& Connection::operator=(Connection&& other) noexcept {
    if (this != &other) {
        if (conn_) PQfinish(conn_);
        conn_ = std::exchange(other.conn_, nullptr);
        answer_timeout_ = other.answer_timeout_;
        broken_ = other.broken_;
    }
    return *this;
}

bool Connection::broken() const { return broken_ || !conn_ || PQstatus(conn_) == CONNECTION_BAD; }

bool Connection::idle() const { return !broken() && PQtransactionStatus(conn_) == PQTRANS_IDLE; }

int Connection::backend_pid() const { return conn_ ? PQbackendPID(conn_) : 0; }

bool Connection::check_alive() {
    // Something came while nobody asked: a shutdown's FATAL message (which
    // libpq hands to the notice processor), then EOF, which takes a read of
    // its own. A few rounds, not a loop a chatty server could keep going.
    for (int round = 0; round < 4 && !broken(); ++round) {
        pollfd p{PQsocket(conn_), POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) break;
        if (!PQconsumeInput(conn_)) {
            broken_ = true;
            break;
        }
        PQisBusy(conn_);  // parses what came
    }
    return !broken();
}

std::chrono::steady_clock::time_point Connection::deadline() const {
    return answer_timeout_.count() > 0 ? Clock::now() + answer_timeout_ : Clock::time_point::max();
}

void Connection::fail_connection(const std::string& what) {
    std::string msg = what;
    if (conn_) {
        std::string libpq = trimmed(PQerrorMessage(conn_));
        msg = what + " (" + where(conn_) + (libpq.empty() ? "" : ": " + libpq) + ")";
        // Close now: nothing more will come from it, and a hung server
        // should see the socket go.
        PQfinish(conn_);
        conn_ = nullptr;
    }
    broken_ = true;
    throw Error(ErrorKind::connection, "", msg);
}

void Connection::fail_result(pg_result* raw) {
    ResultPtr r(raw);
    const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    const char* primary = PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY);
    const char* detail = PQresultErrorField(r.get(), PG_DIAG_MESSAGE_DETAIL);
    std::string msg = primary ? primary : trimmed(PQresultErrorMessage(r.get()));
    if (detail) msg += " (" + std::string(detail) + ")";
    std::string sqlstate = state ? state : "";
    ErrorKind kind = classify(sqlstate);
    if (kind == ErrorKind::connection || !conn_ || PQstatus(conn_) == CONNECTION_BAD) {
        broken_ = true;
        if (conn_) PQfinish(conn_);
        conn_ = nullptr;
        throw Error(ErrorKind::connection, sqlstate, msg);
    }
    throw Error(kind, sqlstate, msg);
}

short Connection::wait_socket(short events, std::chrono::steady_clock::time_point until) {
    for (;;) {
        pollfd p{PQsocket(conn_), events, 0};
        if (p.fd < 0) fail_connection("connection lost");
        int ms = -1;
        if (until != Clock::time_point::max()) {
            auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
            ms = int(std::max<std::int64_t>(0, left));
        }
        int n = ::poll(&p, 1, ms);
        if (n > 0) return p.revents;
        if (n == 0) fail_connection("no answer within " + ms_text(answer_timeout_) + " ms");
        if (errno != EINTR) fail_connection("poll failed");
    }
}

void Connection::flush(std::chrono::steady_clock::time_point until) {
    for (;;) {
        int r = PQflush(conn_);
        if (r == 0) return;
        if (r < 0) fail_connection("cannot send");
        // Read while waiting to write, so a server blocked on sending us
        // results (a long pipeline) never deadlocks with us.
        if (wait_socket(POLLIN | POLLOUT, until) & (POLLIN | POLLERR | POLLHUP)) {
            if (!PQconsumeInput(conn_)) fail_connection("connection lost");
        }
    }
}

pg_result* Connection::next_result(std::chrono::steady_clock::time_point until) {
    while (PQisBusy(conn_)) {
        wait_socket(POLLIN, until);
        // On failure libpq has marked the connection bad and PQgetResult
        // returns the error without blocking.
        if (!PQconsumeInput(conn_)) break;
    }
    return PQgetResult(conn_);
}

void Connection::ensure_usable() {
    if (broken()) fail_connection("the connection is broken");
}

void Connection::send_params(std::string_view sql, const std::vector<Param>& params) {
    std::string text(sql);
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p.value ? p.value->c_str() : nullptr);
    if (!PQsendQueryParams(conn_, text.c_str(), int(values.size()), nullptr, values.data(), nullptr, nullptr, 0)) {
        if (PQstatus(conn_) == CONNECTION_BAD || PQpipelineStatus(conn_) != PQ_PIPELINE_OFF) fail_connection("cannot send");
        throw Error(ErrorKind::other, "", trimmed(PQerrorMessage(conn_)));
    }
}

// Reads a command's results up to the NULL that ends them; the first error
// wins, else the last result is kept.
Rows Connection::collect() {
    ResultPtr kept, error;
    while (PGresult* r = next_result(deadline())) {
        ResultPtr result(r);
        auto status = PQresultStatus(r);
        if (status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR) {
            if (!error) error = std::move(result);
            if (!conn_ || PQstatus(conn_) == CONNECTION_BAD) break;
        } else if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
            fail_connection("COPY is not supported by this layer");
        } else {
            kept = std::move(result);
        }
    }
    if (error) fail_result(error.release());
    return Rows(kept.release());
}

Rows Connection::exec(std::string_view sql, const std::vector<Param>& params) {
    ensure_usable();
    send_params(sql, params);
    flush(deadline());
    return collect();
}

void Connection::script(std::string_view sql) {
    ensure_usable();
    if (!PQsendQuery(conn_, std::string(sql).c_str())) {
        if (PQstatus(conn_) == CONNECTION_BAD) fail_connection("cannot send");
        throw Error(ErrorKind::other, "", trimmed(PQerrorMessage(conn_)));
    }
    flush(deadline());
    collect();
}

std::vector<Rows> Connection::pipeline(const std::vector<Statement>& statements) {
    ensure_usable();
    if (statements.empty()) return {};
    if (!PQenterPipelineMode(conn_)) throw Error(ErrorKind::other, "", "cannot enter pipeline mode: " + trimmed(PQerrorMessage(conn_)));
    // A send that fails half way leaves queries queued without a Sync: the
    // connection cannot be trusted after that, so send failures break it.
    for (const auto& s : statements) send_params(s.sql, s.params);
    if (!PQpipelineSync(conn_)) fail_connection("cannot send the pipeline's Sync");
    flush(deadline());

    std::vector<Rows> out;
    out.reserve(statements.size());
    ResultPtr first_error;
    for (std::size_t i = 0; i < statements.size(); ++i) {
        ResultPtr r(next_result(deadline()));
        if (!r) fail_connection("pipeline: no result for statement " + std::to_string(i));
        auto status = PQresultStatus(r.get());
        if (status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE) {
            if (!conn_ || PQstatus(conn_) == CONNECTION_BAD) fail_result(r.release());
            if (!first_error) first_error = std::move(r);
            out.emplace_back();
        } else if (status == PGRES_PIPELINE_ABORTED) {
            out.emplace_back();  // skipped: an earlier statement failed
        } else {
            out.emplace_back(r.release());
        }
        // Each statement's results end with a NULL.
        while (ResultPtr extra{next_result(deadline())}) {
            if (PQresultStatus(extra.get()) == PGRES_FATAL_ERROR && PQstatus(conn_) == CONNECTION_BAD) fail_result(extra.release());
        }
    }
    ResultPtr sync(next_result(deadline()));
    if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
        if (sync && PQresultStatus(sync.get()) == PGRES_FATAL_ERROR) fail_result(sync.release());
        fail_connection("pipeline: no Sync at the end");
    }
    if (!PQexitPipelineMode(conn_)) fail_connection("cannot leave pipeline mode: " + trimmed(PQerrorMessage(conn_)));
    if (first_error) fail_result(first_error.release());
    return out;
}

// ---- transactions

void Connection::begin(Isolation isolation) {
    ensure_usable();
    if (!idle()) throw Error(ErrorKind::other, "", "transaction() inside a transaction");
    switch (isolation) {
        case Isolation::read_committed: exec("BEGIN"); break;
        case Isolation::repeatable_read: exec("BEGIN ISOLATION LEVEL REPEATABLE READ"); break;
        case Isolation::serializable: exec("BEGIN ISOLATION LEVEL SERIALIZABLE"); break;
    }
}

void Connection::commit() {
    Rows r = exec("COMMIT");
    // COMMIT of an aborted transaction "succeeds" with the tag ROLLBACK.
    if (r.status() != "COMMIT")
        throw Error(ErrorKind::other, "25P02", "the transaction was aborted by an earlier error and rolled back");
}

void Connection::rollback_quietly() noexcept {
    try {
        if (!broken() && PQtransactionStatus(conn_) != PQTRANS_IDLE) exec("ROLLBACK");
    } catch (...) {
        // Broken now, or the server is going away: the transaction ends with it.
    }
}

}  // namespace natter::pg
