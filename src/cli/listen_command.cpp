// natter listen: every pushed `message` frame as one JSON line on stdout,
// acked in batches once printed; reconnects when the server asks for it.
// For the person watching, a readable line on stderr for each group change,
// image (with the command that downloads it), receipt and typing frame;
// with --notices the notice frames go to stdout too.
#include <cstdio>
#include <map>

#include "commands.hpp"
#include "describe.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "inbox.hpp"
#include "link.hpp"
#include "media.hpp"
#include "names.hpp"
#include "text_format.hpp"

namespace natter::cli {

namespace {

using namespace std::chrono_literals;

class Listener {
public:
    Listener(EventLoop& loop, Api& api, const ListenOptions& o)
        : loop_(loop),
          count_(o.count),
          notices_(o.notices),
          who_(api.creds().username),
          me_(api.creds().user_id),
          names_(loop, api),
          shows_(names_),
          link_(loop, api, handlers()),
          acks_(loop, [this](const json& ack) { link_.send(ack); }) {
        names_.put(me_, who_);
        names_.on_learned([this] {
            shows_.flush();
            if (finishing_ && shows_.empty()) close();
        });
    }

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
        if (type == "receipt" || type == "typing" || type == "presence") return on_notice(f, raw, type);
        if (type != "message" || finishing_) return;  // any other type: not for this client version
        auto id = str_field(f, "message_id");
        if (id.empty()) return;
        if (!seen_.insert(id)) return acks_.add(id);  // pushed again after a reconnect: printed already
        if (!print(raw)) return;
        acks_.add(id);  // printed: now it may leave the inbox
        if (str_field(f, "kind") == "image") {
            // stdout has the frame as it came; the person watching gets a line saying how to fetch it.
            auto conversation = str_field(f, "conversation_id");
            tell(f, [this, f, conversation] {
                auto name = names_.fn();
                return "[" + clock_time(int_field(f, "ts")) + "] " +
                       printable(name(str_field(f.value("from", json::object()), "user")), "") + ": " +
                       printable(message_text(f)) + " (" + conversation_label(conversation, me_, name) + ")";
            });
        } else if (str_field(f, "kind") == "system") {
            auto conversation = str_field(f, "conversation_id");
            tell(f, [this, f, conversation] {
                auto name = names_.fn();
                return "[" + clock_time(int_field(f, "ts")) + "] * " + event_text(f, name) + " (" +
                       conversation_label(conversation, me_, name) + ")";
            });
        }
        if (count_ && ++printed_ >= *count_) finish(kExitOk);
    }

    // receipt, typing, presence: not messages (no ack, not counted).
    void on_notice(const json& f, const std::string& raw, const std::string& type) {
        if (finishing_) return;
        if (notices_ && !print(raw)) return;
        auto conversation = str_field(f, "conversation_id");
        if (type == "receipt") {
            auto by = str_field(f, "by");
            if (by == me_) return;  // this user's own read mark, from another device
            auto& last = receipts_shown_[conversation + " " + by + " " + str_field(f, "status")];
            if (int_field(f, "up_to_seq") <= last) return;  // a watermark: only news is told
            last = int_field(f, "up_to_seq");
            tell(f, [this, f, conversation] {
                return receipt_text(f, names_.fn()) + " (" + conversation_label(conversation, me_, names_.fn()) + ")";
            });
        } else if (type == "typing") {
            tell(f, [this, f, conversation] {
                return typing_text(f, names_.fn()) + " (" + conversation_label(conversation, me_, names_.fn()) + ")";
            });
        } else {
            tell(f, [this, f] { return presence_text(f, names_.fn()); });
        }
    }

    // A readable line on stderr, once the names in it are known.
    void tell(const json& f, std::function<std::string()> line) {
        shows_.add(people_in(f, me_), [line = std::move(line)] {
            auto text = line() + "\n";
            std::fwrite(text.data(), 1, text.size(), stderr);
        });
    }

    bool print(const std::string& raw) {
        if (std::fwrite(raw.data(), 1, raw.size(), stdout) != raw.size() || std::fputc('\n', stdout) == EOF ||
            std::fflush(stdout) != 0) {
            std::fprintf(stderr, "natter: cannot write to stdout\n");
            finish(kExitRefused);
            return false;
        }
        return true;
    }

    void on_down(const LinkDown& d) {
        acks_.forget();
        if (finishing_ || d.exit_code == kExitOk) return loop_.stop();
        if (auto code = reconnect_.down(d)) {
            exit_code_ = *code;
            loop_.stop();
        }
    }

    // Acks what was printed, closes, and stops; readable lines still
    // waiting for a name get a moment first.
    void finish(int code) {
        if (finishing_) return;
        finishing_ = true;
        exit_code_ = code;
        acks_.flush();
        if (shows_.empty()) return close();
        loop_.after(2s, [this] { close(); });
    }

    void close() {
        if (closing_) return;
        closing_ = true;
        reconnect_.close_then_stop();
    }

    EventLoop& loop_;
    std::optional<long long> count_;
    bool notices_ = false;
    std::string who_;
    std::string me_;
    Names names_;
    InOrder shows_;
    std::map<std::string, std::int64_t> receipts_shown_;  // "<conversation> <user> <status>" -> up_to_seq
    Link link_;
    Reconnector reconnect_{loop_, link_};
    AckBatcher acks_;
    RecentIds seen_;
    long long printed_ = 0;
    bool finishing_ = false;
    bool closing_ = false;
    int exit_code_ = kExitOk;
};

}  // namespace

int run_listen(const Globals& g, const ListenOptions& o) {
    auto api = Api::signed_in(g);
    EventLoop loop;
    Listener listener(loop, api, o);
    return listener.run();
}

}  // namespace natter::cli
