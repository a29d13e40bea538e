// natter chat USER: incoming messages printed as "[HH:MM] name: text" and
// acked; each line typed is sent to USER, confirmed with "✓ #seq". The loop
// never blocks: stdin comes from a reader thread, HTTP (tokens, names) runs
// on the loop's background thread.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <set>

#include "commands.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "inbox.hpp"
#include "link.hpp"
#include "text_format.hpp"
#include "users.hpp"

namespace natter::cli {

namespace {

using namespace std::chrono_literals;

constexpr auto kConfirmDeadline = 15s;  // after EOF, for the last `sent`s
constexpr std::size_t kMaxLineBytes = 32 * 1024;  // longer frames would get the socket closed (1009)

class Chat {
public:
    Chat(EventLoop& loop, Api& api, const User& me, const User& peer)
        : loop_(loop),
          names_cache_(api),
          me_(me),
          peer_(peer),
          conversation_(direct_conversation(me.id, peer.id)),
          link_(loop, api, handlers()),
          acks_(loop, [this](const json& ack) { link_.send(ack); }) {
        names_[me.id] = me.username;
        names_[peer.id] = peer.username;
    }

    int run() {
        std::fprintf(stderr, "chatting with %s as %s: type a line and Enter to send; /quit or Ctrl-D to leave\n",
                     peer_.username.c_str(), me_.username.c_str());
        loop_.on_signal([this](int) { finish(kExitOk); });
        loop_.read_lines(STDIN_FILENO, [this](std::optional<std::string> line) { on_line(std::move(line)); });
        link_.connect();
        loop_.run();
        return exit_code_;
    }

private:
    struct Outgoing {
        std::string request_id;
        json frame;
    };

    Link::Handlers handlers() {
        return {
            [this] { on_open(); },
            [this](const json& f, const std::string&) { on_frame(f); },
            [this](const LinkDown& d) { on_down(d); },
        };
    }

    // --- typing -----------------------------------------------------------

    void on_line(std::optional<std::string> line) {
        if (finishing_ || input_done_) return;
        if (!line || *line == "/quit") {
            input_done_ = true;
            loop_.after(kConfirmDeadline, [this] {
                std::fprintf(stderr, "natter: %zu message(s) not confirmed by the server\n", unconfirmed_.size());
                finish(kExitNetwork);
            });
            return maybe_done();
        }
        if (line->find_first_not_of(" \t") == std::string::npos) return;
        if (line->size() > kMaxLineBytes) return say("  ✗ not sent: the line is too long\n");
        Outgoing out{std::to_string(next_request_++), {}};
        out.frame = {{"type", "send"},
                     {"id", out.request_id},
                     {"client_msg_id", new_uuid()},
                     {"to", {{"user", peer_.id}}},
                     {"body", *line}};
        unconfirmed_.push_back(out);
        link_.send(out.frame);  // dropped while disconnected: on_open sends it
    }

    void maybe_done() {
        if (input_done_ && unconfirmed_.empty()) finish(kExitOk);
    }

    // --- the connection ---------------------------------------------------

    void on_open() {
        if (!reconnect_.opened()) std::fprintf(stderr, "natter: reconnected\n");
        // Unconfirmed sends again, in order, with their client_msg_id: the
        // server answers `sent` for those it had already stored.
        for (const auto& out : unconfirmed_) link_.send(out.frame);
    }

    void on_frame(const json& f) {
        auto type = str_field(f, "type");
        if (type == "message") return on_message(f);
        if (type == "sync_done") warn_if_truncated(f);
        if (type != "sent" && type != "error") return;
        auto id = str_field(f, "id");
        auto it = std::find_if(unconfirmed_.begin(), unconfirmed_.end(), [&](const Outgoing& o) { return o.request_id == id; });
        if (type == "error") {
            auto text = str_field(f, "code") + ": " + str_field(f, "message");
            if (it == unconfirmed_.end()) std::fprintf(stderr, "natter: %s\n", text.c_str());
            else say("  ✗ not sent: " + text + "\n");
        } else if (it != unconfirmed_.end()) {
            say("  ✓ #" + std::to_string(int_field(f, "seq")) + "\n");
        }
        if (it != unconfirmed_.end()) unconfirmed_.erase(it);
        maybe_done();
    }

    void on_down(const LinkDown& d) {
        acks_.forget();
        if (finishing_ || d.exit_code == kExitOk) return loop_.stop();
        if (auto code = reconnect_.down(d)) {
            exit_code_ = *code;
            loop_.stop();
        }
    }

    void finish(int code) {
        if (finishing_) return;
        finishing_ = true;
        exit_code_ = code;
        acks_.flush();
        reconnect_.close_then_stop();
    }

    // --- incoming messages, in order, once their names are known ------------

    void on_message(const json& f) {
        auto id = str_field(f, "message_id");
        if (id.empty() || finishing_) return;
        if (!seen_.insert(id)) return acks_.add(id);  // again after a reconnect: shown already
        incoming_.push_back(f);
        for (const auto& user : people(f))
            if (!names_.count(user)) look_up(user);
        show_ready();
    }

    // The users a message line names: its sender, and for another chat its recipient.
    std::vector<std::string> people(const json& f) const {
        std::vector<std::string> out{str_field(f.value("from", json::object()), "user")};
        if (str_field(f, "conversation_id") != conversation_) {
            auto to = str_field(f.value("to", json::object()), "user");
            if (!to.empty()) out.push_back(to);
        }
        return out;
    }

    void look_up(const std::string& user) {
        if (!asked_.insert(user).second) return;
        auto name = std::make_shared<std::string>(user);
        loop_.offload([this, user, name] { *name = names_cache_.name_of(user); },
                      [this, user, name](std::exception_ptr failure) {
                          names_[user] = failure ? user : *name;
                          show_ready();
                      });
    }

    void show_ready() {
        while (!incoming_.empty()) {
            const auto& f = incoming_.front();
            for (const auto& user : people(f))
                if (!names_.count(user)) return;
            say(line_for(f));
            acks_.add(str_field(f, "message_id"));  // shown: it may leave the inbox
            incoming_.pop_front();
        }
    }

    std::string line_for(const json& f) const {
        auto from = names_.at(str_field(f.value("from", json::object()), "user"));
        std::string who = from;
        if (str_field(f, "conversation_id") != conversation_) {
            auto to = f.value("to", json::object());
            who += to.contains("group") ? " → group " + str_field(to, "group") : " → " + names_.at(str_field(to, "user"));
        }
        auto body = str_field(f, "body", "(" + str_field(f, "kind", "message") + ")");
        return "[" + clock_time(int_field(f, "ts")) + "] " + printable(who, "") + ": " + printable(body) + "\n";
    }

    void say(const std::string& text) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
    }

    EventLoop& loop_;
    NameCache names_cache_;  // on the background thread only
    User me_;
    User peer_;
    std::string conversation_;
    Link link_;
    Reconnector reconnect_{loop_, link_};
    AckBatcher acks_;
    RecentIds seen_;
    std::map<std::string, std::string> names_;  // on the loop
    std::set<std::string> asked_;
    std::deque<json> incoming_;
    std::deque<Outgoing> unconfirmed_;
    long next_request_ = 1;
    bool input_done_ = false;
    bool finishing_ = false;
    int exit_code_ = kExitOk;
};

}  // namespace

int run_chat(const Globals& g, const std::string& user) {
    auto api = Api::signed_in(g);
    User me{api.creds().user_id, api.creds().username};
    User peer = resolve_user(api, user, true);
    EventLoop loop;
    Chat chat(loop, api, me, peer);
    return chat.run();
}

}  // namespace natter::cli
