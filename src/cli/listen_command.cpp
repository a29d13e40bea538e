// natter listen: every pushed `message` frame as one JSON line on stdout,
// acked in batches once printed; reconnects when the server asks for it.
#include <cstdio>

#include "commands.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "inbox.hpp"
#include "link.hpp"

namespace natter::cli {

namespace {

using namespace std::chrono_literals;

class Listener {
public:
    Listener(EventLoop& loop, Api& api, std::optional<long long> count)
        : loop_(loop),
          count_(count),
          who_(api.creds().username),
          link_(loop, api, handlers()),
          acks_(loop, [this](const json& ack) { link_.send(ack); }) {}

    int run() {
        loop_.on_signal([this](int) { finish(kExitOk); });
        if (count_ && *count_ <= 0) return kExitOk;
        link_.connect();
        loop_.run();
        return exit_code_;
    }

private:
    Link::Handlers handlers() {
        return {
            [this] {
                if (reconnect_.opened()) std::fprintf(stderr, "natter: listening as %s; Ctrl-C to stop\n", who_.c_str());
                else std::fprintf(stderr, "natter: reconnected\n");
            },
            [this](const json& f, const std::string& raw) { on_frame(f, raw); },
            [this](const LinkDown& d) { on_down(d); },
        };
    }

    void on_frame(const json& f, const std::string& raw) {
        auto type = str_field(f, "type");
        if (type == "error")
            std::fprintf(stderr, "natter: %s: %s\n", str_field(f, "code").c_str(), str_field(f, "message").c_str());
        if (type == "sync_done") warn_if_truncated(f);
        if (type != "message" || finishing_) return;
        auto id = str_field(f, "message_id");
        if (id.empty()) return;
        if (!seen_.insert(id)) return acks_.add(id);  // pushed again after a reconnect: printed already
        if (std::fwrite(raw.data(), 1, raw.size(), stdout) != raw.size() || std::fputc('\n', stdout) == EOF ||
            std::fflush(stdout) != 0) {
            std::fprintf(stderr, "natter: cannot write to stdout\n");
            return finish(kExitRefused);
        }
        acks_.add(id);  // printed: now it may leave the inbox
        if (count_ && ++printed_ >= *count_) finish(kExitOk);
    }

    void on_down(const LinkDown& d) {
        acks_.forget();
        if (finishing_ || d.exit_code == kExitOk) return loop_.stop();
        if (auto code = reconnect_.down(d)) {
            exit_code_ = *code;
            loop_.stop();
        }
    }

    // Acks what was printed, closes, and stops.
    void finish(int code) {
        if (finishing_) return;
        finishing_ = true;
        exit_code_ = code;
        acks_.flush();
        reconnect_.close_then_stop();
    }

    EventLoop& loop_;
    std::optional<long long> count_;
    std::string who_;
    Link link_;
    Reconnector reconnect_{loop_, link_};
    AckBatcher acks_;
    RecentIds seen_;
    long long printed_ = 0;
    bool finishing_ = false;
    int exit_code_ = kExitOk;
};

}  // namespace

int run_listen(const Globals& g, std::optional<long long> count) {
    auto api = Api::signed_in(g);
    EventLoop loop;
    Listener listener(loop, api, count);
    return listener.run();
}

}  // namespace natter::cli
