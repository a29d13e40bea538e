// natter-bench group: one sender into a group of M members. Until the
// server has groups it probes and skips: a `send` to a group id answered
// `not_found` "groups are not supported" means no groups yet.

#include "bench/frame_scan.hpp"
#include "bench/scenarios.hpp"
#include "bench/ws_conn.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <stdexcept>

namespace natter::bench {

namespace {

namespace net = boost::asio;

class GroupProbe final : public WsHost {
public:
    explicit GroupProbe(const GroupOptions& o) : opt(o) {}

    nlohmann::json execute() {
        if (opt.users.empty()) throw std::runtime_error("group needs at least 1 user");
        target = net::ip::tcp::endpoint(net::ip::make_address(opt.host), opt.port);
        host_header = opt.host + ":" + std::to_string(opt.port);
        conn_ = std::make_shared<WsConn>(*this, 0);
        conn_->start();
        deadline_.expires_after(std::chrono::seconds(30));
        deadline_.async_wait([this](boost::system::error_code ec) {
            if (!ec) done("no answer to the probe within 30 s");
        });
        ioc.run();
        nlohmann::json r = {{"scenario", "group"}, {"target", host_header}, {"members", opt.members}};
        if (!error_.empty()) {
            r["ok"] = false;
            r["error"] = error_;
        } else {
            r["ok"] = true;
            r["skipped"] = true;
            r["reason"] = reason_;
        }
        return r;
    }

    const BenchUser& user_of(const WsConn&) const override { return opt.users[0]; }
    void on_failed(WsConn&, const std::string& why) override { done("", why); }
    void on_ended(WsConn&) override {
        if (reason_.empty() && error_.empty()) error_ = "the socket closed before the probe was answered";
        deadline_.cancel();
        ioc.stop();
    }
    void ack_pending(WsConn&) override {}
    void on_frame(WsConn& c, std::string_view text) override {
        auto type = scan_string(text, "type");
        if (type == "sync_done" && !probed_) {
            probed_ = true;
            c.write(R"({"type":"send","id":"group-probe","client_msg_id":"00000000-0000-4000-8000-00000000beef",)"
                    R"("to":{"group":"1"},"body":"probe"})");
            return;
        }
        if (scan_string(text, "id") != "group-probe") return;
        auto message = scan_string(text, "message").value_or("");
        if (type == "error" && scan_string(text, "code") == "not_found" &&
            message.find("groups are not supported") != std::string_view::npos)
            return done("this natterd has no groups yet (a send to a group: not_found)");
        done("", "groups answer `" + std::string(type.value_or("?")) +
                     "`: the group scenario is to be written with the groups feature (issue 5)");
    }

private:
    void done(const std::string& reason, const std::string& error = "") {
        if (reason_.empty() && error_.empty()) {
            reason_ = reason;
            error_ = error;
        }
        deadline_.cancel();
        if (conn_) conn_->close();
        ioc.stop();
    }

    const GroupOptions& opt;
    std::shared_ptr<WsConn> conn_;
    bool probed_ = false;
    std::string reason_, error_;
    net::steady_timer deadline_{ioc};
};

}  // namespace

nlohmann::json run_group(const GroupOptions& o) {
    GroupProbe run(o);
    return run.execute();
}

}  // namespace natter::bench
