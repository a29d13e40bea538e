// natter chat USER, natter chat --group GROUP_ID: incoming messages printed
// as "[HH:MM] name: text" and acked, group changes as "[HH:MM] * alice added
// carol"; each line typed is sent, confirmed with "✓ #seq", and the others'
// receipts follow as "✓✓ read by bob up to #seq". What is shown is marked
// read; the peers' presence and typing are shown as they change, and on a
// terminal the others see "alice is typing..." while a line is being typed.
// The loop never blocks: stdin comes from a reader thread, HTTP (tokens,
// names) runs on the loop's background thread.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <set>

#include "core/crypto.hpp"
#include "commands.hpp"
#include "describe.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "inbox.hpp"
#include "line_editor.hpp"
#include "link.hpp"
#include "media.hpp"
#include "names.hpp"
#include "text_format.hpp"
#include "users.hpp"

namespace natter::cli {

namespace {

using namespace std::chrono_literals;

constexpr auto kConfirmDeadline = 15s;  // after EOF, for the last `sent`s
constexpr std::size_t kMaxLineBytes = 32 * 1024;  // longer frames would get the socket closed (1009)
constexpr auto kReadDelay = 200ms;       // read marks go out in one frame per pause, like acks
constexpr auto kTypingRefresh = 3s;      // "start" again while still typing
constexpr auto kTypingIdle = 5s;         // no key for this long: "stop"
constexpr auto kTypingShown = 8s;        // someone's "start" without a refresh for this long has lapsed

// Request ids of the frames whose errors chat handles itself.
constexpr const char* kPresenceId = "presence";
constexpr const char* kReadId = "read";
constexpr const char* kTypingId = "typing";

constexpr const char* kHelp =
    "  /quit     leave (Ctrl-D too); waits for the last confirmations\n"
    "  /typing   tell the others you are typing (on a terminal natter does it as you type)\n"
    "  /help     this list\n";

// Whom a chat is with.
struct ChatTarget {
    std::string conversation;  // d:A:B or g:ID
    json to;                   // the `to` of each send
    std::string title;         // for the first line
    bool group = false;
    std::string peer;                // 1:1: the other user (me, in a chat with oneself)
    std::set<std::string> members;   // group: every member, me included
    std::map<std::string, std::string> names;  // ids whose names are known already
};

class Chat {
public:
    Chat(EventLoop& loop, Api& api, const User& me, ChatTarget target)
        : loop_(loop),
          names_(loop, api),
          shows_(names_),
          me_(me),
          target_(std::move(target)),
          link_(loop, api, handlers()),
          acks_(loop, [this](const json& ack) { link_.send(ack); }) {
        names_.put(me.id, me.username);
        for (const auto& [id, name] : target_.names) names_.put(id, name);
        names_.on_learned([this] { shows_.flush(); });
    }

    int run() {
        std::fprintf(stderr, "chatting %s as %s: type a line and Enter to send; /quit or Ctrl-D to leave, /help for more\n",
                     target_.title.c_str(), me_.username.c_str());
        if (LineEditor::usable()) {
            editor_.emplace(LineEditor::Handlers{
                [this](std::string line) { on_line(std::move(line)); },
                [this] { on_line(std::nullopt); },
                [this](bool empty) { empty ? typing_stop() : typing_activity(); },
            });
            if (!editor_->start()) editor_.reset();
        }
        loop_.on_signal([this](int) { finish(kExitOk); });
        if (editor_) loop_.read_bytes(STDIN_FILENO, [this](std::optional<std::string> b) { editor_->feed(b); });
        else loop_.read_lines(STDIN_FILENO, [this](std::optional<std::string> line) { on_line(std::move(line)); });
        link_.connect();
        loop_.run();
        editor_.reset();  // the terminal as it was
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

    // --- what the user types ------------------------------------------------

    void on_line(std::optional<std::string> line) {
        if (finishing_ || input_done_) return;
        if (!line || *line == "/quit") {
            input_done_ = true;
            typing_stop();
            loop_.after(kConfirmDeadline, [this] {
                note("natter: " + std::to_string(unconfirmed_.size()) + " message(s) not confirmed by the server\n");
                finish(kExitNetwork);
            });
            return maybe_done();
        }
        if (*line == "/typing") return typing_activity();
        if (*line == "/help") return note(kHelp);
        if (line->find_first_not_of(" \t") == std::string::npos) return typing_stop();
        typing_stop();
        if (line->size() > kMaxLineBytes) return say("  ✗ not sent: the line is too long\n");
        Outgoing out{std::to_string(next_request_++), {}};
        out.frame = {{"type", "send"},
                     {"id", out.request_id},
                     {"client_msg_id", random_uuid()},
                     {"to", target_.to},
                     {"body", *line}};
        unconfirmed_.push_back(out);
        link_.send(out.frame);  // dropped while disconnected: on_open sends it
    }

    void maybe_done() {
        if (input_done_ && unconfirmed_.empty()) finish(kExitOk);
    }

    // Typing: "start" when a line begins (again every few seconds while it
    // goes on), "stop" when it is sent, emptied, or left alone for a while.
    void typing_activity() {
        if (finishing_ || input_done_) return;
        auto now = std::chrono::steady_clock::now();
        if (!typing_ || now - typing_sent_ >= kTypingRefresh) {
            send_typing("start");
            typing_ = true;
            typing_sent_ = now;
        }
        loop_.cancel(typing_idle_);
        typing_idle_ = loop_.after(kTypingIdle, [this] {
            typing_idle_ = 0;
            typing_stop();
        });
    }

    void typing_stop() {
        loop_.cancel(typing_idle_);
        typing_idle_ = 0;
        if (!typing_) return;
        typing_ = false;
        send_typing("stop");
    }

    void send_typing(const char* state) {
        link_.send({{"type", "typing"}, {"id", kTypingId}, {"conversation_id", target_.conversation}, {"state", state}});
    }

    // --- the connection -----------------------------------------------------

    void on_open() {
        if (!reconnect_.opened()) note("natter: reconnected\n");
        watch_presence();
        // Unconfirmed sends again, in order, with their client_msg_id: the
        // server answers `sent` for those it had already stored.
        for (const auto& out : unconfirmed_) link_.send(out.frame);
        send_reads();
    }

    void on_frame(const json& f) {
        auto type = str_field(f, "type");
        if (type == "message") return on_message(f);
        if (type == "receipt") return on_receipt(f);
        if (type == "typing") return on_typing(f);
        if (type == "presence") return on_presence(f);
        if (type == "sync_done") return warn_if_truncated(f);
        if (type == "sent" || type == "error") return on_answer(f, type);
        // Any other type is for a newer client: ignored.
    }

    void on_answer(const json& f, const std::string& type) {
        auto id = str_field(f, "id");
        auto text = str_field(f, "code") + ": " + str_field(f, "message");
        if (type == "error") {
            if (id == kTypingId) return;  // best effort: a lost "typing" is no loss
            if (id == kPresenceId) return presence_refused(f);
            if (id == kReadId) {
                if (str_field(f, "code") != "forbidden") note("natter: read mark not recorded: " + text + "\n");
                return;
            }
        }
        auto it = std::find_if(unconfirmed_.begin(), unconfirmed_.end(),
                               [&](const Outgoing& o) { return !id.empty() && o.request_id == id; });
        if (type == "error") {
            if (it == unconfirmed_.end()) note("natter: " + text + "\n");
            else say("  ✗ not sent: " + text + "\n");
        } else if (it != unconfirmed_.end()) {
            say("  ✓ #" + std::to_string(int_field(f, "seq")) + "\n");
            if (str_field(f, "conversation_id") == target_.conversation) conversation_moved();
        }
        if (it != unconfirmed_.end()) unconfirmed_.erase(it);
        maybe_done();
    }

    void on_down(const LinkDown& d) {
        acks_.forget();
        for (auto& [conversation, mark] : reads_) mark.sent = 0;  // sent again on the next connection
        typing_ = false;
        if (finishing_ || d.exit_code == kExitOk) return loop_.stop();
        if (auto code = reconnect_.down(d)) {
            exit_code_ = *code;
            loop_.stop();
        }
    }

    void finish(int code) {
        if (finishing_) return;
        typing_stop();
        finishing_ = true;
        exit_code_ = code;
        acks_.flush();
        send_reads();
        reconnect_.close_then_stop();
    }

    // --- incoming messages, in order, once their names are known ------------

    void on_message(const json& f) {
        auto id = str_field(f, "message_id");
        if (id.empty() || finishing_) return;
        if (!seen_.insert(id)) return acks_.add(id);  // again after a reconnect: shown already
        auto conversation = str_field(f, "conversation_id");
        if (conversation == target_.conversation) stop_showing_typing(str_field(f.value("from", json::object()), "user"));
        shows_.add(people_in(f, me_.id), [this, f, id, conversation] {
            say(line_for(f));
            acks_.add(id);  // shown: it may leave the inbox
            if (str_field(f, "kind") == "system") group_changed(f, conversation);
            mark_read(conversation, int_field(f, "seq"));
            if (conversation == target_.conversation) conversation_moved();
        });
    }

    std::string line_for(const json& f) const {
        auto name = names_.fn();
        auto conversation = str_field(f, "conversation_id");
        bool here = conversation == target_.conversation;
        std::string stamp = "[" + clock_time(int_field(f, "ts")) + "] ";
        if (str_field(f, "kind") == "system") {
            auto text = "* " + event_text(f, name);
            if (!here) text += " (" + conversation_label(conversation, me_.id, name) + ")";
            return stamp + text + "\n";
        }
        auto from = f.value("from", json::object());
        std::string who = name(str_field(from, "user"));
        if (!here) {
            auto to = f.value("to", json::object());
            who += is_id(str_field(to, "group")) ? " → group " + str_field(to, "group") : " → " + name(str_field(to, "user"));
        }
        return stamp + printable(who, "") + ": " + printable(message_text(f)) + "\n";
    }

    // A group change shown: who is in the group now, for presence and read marks.
    void group_changed(const json& f, const std::string& conversation) {
        auto event = f.value("event", json::object());
        auto type = str_field(event, "type");
        auto user = str_field(event, "user");
        bool gone = (type == "removed" || type == "left") && user == me_.id;
        if (gone) {
            left_.insert(conversation);  // read marks there would be refused now
            reads_.erase(conversation);
        } else if (type == "added" && user == me_.id) {
            left_.erase(conversation);
        }
        if (!target_.group || conversation != target_.conversation || user.empty()) return;
        if (gone) {
            target_.members.clear();
            say("  (you are no longer a member of this group)\n");
        } else if (type == "added") {
            target_.members.insert(user);
        } else if (type == "removed" || type == "left") {
            target_.members.erase(user);
        } else {
            return;
        }
        watch_presence();
    }

    // --- read marks -----------------------------------------------------------

    struct ReadMark {
        std::int64_t shown = 0;  // the highest seq shown
        std::int64_t sent = 0;   // the highest seq told to the server on this connection
    };

    void mark_read(const std::string& conversation, std::int64_t seq) {
        if (conversation.empty() || seq < 1 || left_.count(conversation)) return;
        auto& mark = reads_[conversation];
        mark.shown = std::max(mark.shown, seq);
        if (!read_timer_) read_timer_ = loop_.after(kReadDelay, [this] {
            read_timer_ = 0;
            send_reads();
        });
    }

    void send_reads() {
        loop_.cancel(read_timer_);
        read_timer_ = 0;
        if (!link_.is_open()) return;  // on_open sends them
        for (auto& [conversation, mark] : reads_) {
            if (mark.shown <= mark.sent) continue;
            link_.send({{"type", "read"}, {"id", kReadId}, {"conversation_id", conversation}, {"up_to_seq", mark.shown}});
            mark.sent = mark.shown;
        }
    }

    // --- receipts, typing, presence (of this chat only) -----------------------

    void on_receipt(const json& f) {
        auto by = str_field(f, "by");
        if (str_field(f, "conversation_id") != target_.conversation || by.empty() || by == me_.id) return;
        auto seq = int_field(f, "up_to_seq");
        auto& last = receipts_shown_[by + " " + str_field(f, "status")];
        if (seq <= last) return;  // a watermark: only news is shown
        last = seq;
        shows_.add(people_in(f, me_.id), [this, f] { say("  " + receipt_text(f, names_.fn()) + "\n"); });
    }

    void on_typing(const json& f) {
        auto user = str_field(f, "user");
        if (str_field(f, "conversation_id") != target_.conversation || user.empty() || user == me_.id) return;
        if (str_field(f, "state") != "start") return stop_showing_typing(user);
        bool shown = typing_shown_.count(user) > 0;
        loop_.cancel(typing_shown_[user]);
        typing_shown_[user] = loop_.after(kTypingShown, [this, user] { typing_shown_.erase(user); });
        if (!shown) shows_.add(people_in(f, me_.id), [this, f] { say("  " + typing_text(f, names_.fn()) + "\n"); });
    }

    void stop_showing_typing(const std::string& user) {
        auto it = typing_shown_.find(user);
        if (it == typing_shown_.end()) return;
        loop_.cancel(it->second);
        typing_shown_.erase(it);
    }

    std::vector<std::string> watched() const {
        std::vector<std::string> out;
        if (!target_.group) {
            if (target_.peer != me_.id) out.push_back(target_.peer);
        } else {
            for (const auto& m : target_.members)
                if (m != me_.id) out.push_back(m);
        }
        return out;
    }

    // Asks for the presence of the peer (or the other members): a `presence`
    // frame for each now, then for each change.
    void watch_presence() {
        auto users = watched();
        presence_refused_ = false;
        moved_since_asked_ = false;
        if (users.empty() && !watching_) return;
        watching_ = !users.empty();
        link_.send({{"type", "presence"}, {"id", kPresenceId}, {"users", users}});
    }

    void presence_refused(const json& f) {
        // Refused while the two have no conversation yet (nothing sent either
        // way): asked again once a message is sent or shown here, or now if
        // one was while the refusal was on its way.
        if (str_field(f, "code") == "forbidden") {
            if (moved_since_asked_) return watch_presence();
            presence_refused_ = true;
            return;
        }
        note("natter: presence not shown: " + str_field(f, "code") + ": " + str_field(f, "message") + "\n");
    }

    // A message was sent or shown in this chat's conversation.
    void conversation_moved() {
        moved_since_asked_ = true;
        if (presence_refused_) watch_presence();
    }

    void on_presence(const json& f) {
        auto user = str_field(f, "user");
        auto list = watched();
        if (std::find(list.begin(), list.end(), user) == list.end()) return;
        auto state = str_field(f, "status") + " " + std::to_string(int_field(f, "last_seen"));
        auto& last = presence_shown_[user];
        if (state == last) return;
        last = state;
        shows_.add(people_in(f, me_.id), [this, f] { say("  " + presence_text(f, names_.fn()) + "\n"); });
    }

    // --- output -----------------------------------------------------------------

    void say(const std::string& text) { write_to(stdout, text); }
    void note(const std::string& text) { write_to(stderr, text); }

    void write_to(std::FILE* stream, const std::string& text) {
        if (editor_) editor_->hide();  // above the line being typed
        std::fwrite(text.data(), 1, text.size(), stream);
        std::fflush(stream);
        if (editor_) editor_->show();
    }

    EventLoop& loop_;
    Names names_;
    InOrder shows_;
    User me_;
    ChatTarget target_;
    Link link_;
    Reconnector reconnect_{loop_, link_};
    AckBatcher acks_;
    RecentIds seen_;
    std::optional<LineEditor> editor_;
    std::deque<Outgoing> unconfirmed_;
    std::map<std::string, ReadMark> reads_;
    EventLoop::TimerId read_timer_ = 0;
    std::set<std::string> left_;  // groups this user left or was removed from
    std::map<std::string, std::int64_t> receipts_shown_;  // "<user> <status>" -> up_to_seq
    std::map<std::string, EventLoop::TimerId> typing_shown_;  // who is typing, until the timer
    std::map<std::string, std::string> presence_shown_;
    bool watching_ = false;
    bool presence_refused_ = false;
    bool moved_since_asked_ = false;
    bool typing_ = false;
    std::chrono::steady_clock::time_point typing_sent_{};
    EventLoop::TimerId typing_idle_ = 0;
    long next_request_ = 1;
    bool input_done_ = false;
    bool finishing_ = false;
    int exit_code_ = kExitOk;
};

ChatTarget group_target(Api& api, const std::string& arg) {
    auto id = group_id_of(arg);
    if (id.empty()) throw CliError(kExitUsage, "\"" + arg + "\" is not a group id (see `natter group show`)");
    auto j = api.call("GET", "/v1/groups/" + id);
    ChatTarget t;
    t.group = true;
    t.conversation = "g:" + id;
    t.to = {{"group", id}};
    if (j.is_object() && j.contains("members") && j["members"].is_array())
        for (const auto& m : j["members"])
            if (auto user = str_field(m, "user_id"); is_id(user)) t.members.insert(user);
    t.title = "in group \"" + printable(str_field(j, "name"), "") + "\" (" + id + ", " +
              std::to_string(t.members.size()) + " members)";
    return t;
}

ChatTarget direct_target(Api& api, const std::string& me, const std::string& who) {
    User peer = resolve_user(api, who, true);
    ChatTarget t;
    t.conversation = direct_conversation(me, peer.id);
    t.to = {{"user", peer.id}};
    t.peer = peer.id;
    t.names[peer.id] = peer.username;
    t.title = "with " + printable(peer.username, "");
    return t;
}

}  // namespace

int run_chat(const Globals& g, const ChatOptions& o) {
    if (o.user.empty() == o.group.empty())
        throw CliError(kExitUsage, "chat with a USER or a --group GROUP_ID (one of the two)");
    auto api = Api::signed_in(g);
    User me{api.creds().user_id, api.creds().username};
    ChatTarget target = o.group.empty() ? direct_target(api, me.id, o.user) : group_target(api, o.group);
    EventLoop loop;
    Chat chat(loop, api, me, std::move(target));
    return chat.run();
}

}  // namespace natter::cli
