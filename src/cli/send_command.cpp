// natter send: one `send` frame over a fresh WebSocket, waiting for `sent`.
// Pushed messages are left alone (not acked): they stay in the inbox for
// listen and chat. With --image, the file is checked and uploaded first
// (POST /v1/media, then the bytes), and the send carries it as `attachment`.
#include <cstdio>
#include <iostream>
#include <optional>

#include "core/crypto.hpp"
#include "commands.hpp"
#include "describe.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "image_file.hpp"
#include "link.hpp"
#include "media_upload.hpp"
#include "text_format.hpp"
#include "users.hpp"

namespace natter::cli {

namespace {

using namespace std::chrono_literals;

constexpr auto kAnswerDeadline = 30s;
constexpr const char* kRequestId = "1";

class Sender {
public:
    // `suffix` goes at the end of the "sent: …" line.
    Sender(EventLoop& loop, Api& api, json frame, std::string suffix = "")
        : loop_(loop), frame_(std::move(frame)), suffix_(std::move(suffix)), link_(loop, api, handlers()) {}

    int run() {
        deadline_ = loop_.after(kAnswerDeadline, [this] {
            finish(kExitNetwork, "no answer from the server within 30 s (the message may or may not be stored)");
        });
        attempt();
        loop_.run();
        return exit_code_;
    }

private:
    Link::Handlers handlers() {
        return {
            [this] { link_.send(frame_); },
            [this](const json& f, const std::string&) { on_frame(f); },
            [this](const LinkDown& d) { on_down(d); },
        };
    }

    void attempt() {
        ++attempts_;
        link_.connect();
    }

    void on_frame(const json& f) {
        if (done_ || str_field(f, "id") != kRequestId) return;
        auto type = str_field(f, "type");
        if (type == "sent") {
            std::printf("sent: conversation=%s seq=%lld message_id=%s%s\n", str_field(f, "conversation_id").c_str(),
                        static_cast<long long>(int_field(f, "seq")), str_field(f, "message_id").c_str(),
                        suffix_.c_str());
            std::fflush(stdout);
            finish(kExitOk, "");
        } else if (type == "error") {
            auto text = str_field(f, "code", "error") + ": " + str_field(f, "message");
            if (f.contains("retry_after_ms")) text += " (retry in " + std::to_string(int_field(f, "retry_after_ms")) + " ms)";
            finish(kExitRefused, text);
        }
    }

    void on_down(const LinkDown& d) {
        if (done_) return loop_.stop();
        // Dropped before `sent`: the same frame (same client_msg_id) once more;
        // the server answers the first `sent` if it had stored it.
        if (d.retryable && d.had_opened && attempts_ < 2) {
            std::fprintf(stderr, "natter: %s; retrying\n", d.message.c_str());
            loop_.after(250ms, [this] { attempt(); });
            return;
        }
        done_ = true;
        exit_code_ = d.exit_code ? d.exit_code : kExitNetwork;
        std::fprintf(stderr, "natter: %s\n", d.message.c_str());
        loop_.stop();
    }

    void finish(int code, const std::string& message) {
        if (done_) return;
        done_ = true;
        exit_code_ = code;
        loop_.cancel(deadline_);
        if (!message.empty()) std::fprintf(stderr, "natter: %s\n", message.c_str());
        if (!link_.active()) return loop_.stop();
        link_.close();  // on_down stops the loop
        loop_.after(2s, [this] { loop_.stop(); });  // do not wait long for the close handshake
    }

    EventLoop& loop_;
    json frame_;
    std::string suffix_;
    Link link_;
    EventLoop::TimerId deadline_ = 0;
    int attempts_ = 0;
    bool done_ = false;
    int exit_code_ = kExitNetwork;
};

std::string join(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
    return out;
}

}  // namespace

int run_send(const Globals& g, const SendOptions& o) {
    auto words = o.words;
    if (!o.group.empty() && !o.to.empty()) words.insert(words.begin(), o.to);  // no USER with --group
    if (words.empty() && o.image.empty())
        throw CliError(kExitUsage, "nothing to send: natter send USER TEXT..., or natter send --group GROUP_ID TEXT...");
    if (o.group.empty() && o.to.empty())
        throw CliError(kExitUsage, "send to whom? natter send USER --image FILE [CAPTION...], or --group GROUP_ID");
    std::string group;
    if (!o.group.empty()) {
        group = group_id_of(o.group);
        if (group.empty()) throw CliError(kExitUsage, "--group needs a group id (digits, or g:ID)");
    }
    // The file is judged before anything goes over the network.
    std::optional<ImageFile> image;
    if (!o.image.empty()) image.emplace(ImageFile::open(o.image));
    auto api = Api::signed_in(g);
    json to;
    if (!group.empty()) {
        // Before an upload: is this a group we can send to? (403/404 otherwise)
        if (image) api.call("GET", "/v1/groups/" + group);
        to = {{"group", group}};
    } else {
        to = {{"user", resolve_user(api, o.to, image.has_value()).id}};  // looked up even as an id: it must exist
    }
    json frame = {{"type", "send"}, {"id", kRequestId}, {"client_msg_id", random_uuid()}, {"to", to}};
    if (!words.empty()) frame["body"] = join(words);
    std::string suffix;
    if (image) {
        auto media_id = upload_image(api, *image);
        frame["attachment"] = attachment_for(*image, media_id);
        suffix = " media_id=" + media_id;
    }
    EventLoop loop;
    Sender sender(loop, api, std::move(frame), suffix);
    return sender.run();
}

}  // namespace natter::cli
