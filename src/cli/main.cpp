// natter: the terminal client. Parses the command line, runs one command,
// and turns failures into "natter: ..." and an exit code.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdlib>
#include <functional>
#include <iostream>

#include "commands.hpp"
#include "errors.hpp"
#include "transfer.hpp"

using namespace natter::cli;

namespace {

constexpr const char* kFooter = R"(Exit codes:
  0  ok
  1  the server refused (it says why: natter: <code>: <message>)
  2  usage error
  3  network error: the server could not be reached, or stopped answering
  4  not logged in, or the credentials were rejected (natter login again)

Environment:
  NATTER_SERVER      default for --server (else http://127.0.0.1:8080)
  NATTER_CA_FILE     default for --ca-file
  NATTER_PASSWORD    the password for register, login and account delete (else asked on the terminal)
  NATTER_CONFIG_DIR  where profiles are kept (else $XDG_CONFIG_HOME/natter, else ~/.config/natter))";

struct Cli {
    CLI::App app{"natter: the terminal client of the natter chat server", "natter"};
    Globals globals;
    std::string server_flag;
    std::function<int()> command;

    RegisterOptions reg;
    LoginOptions login;
    SendOptions send;
    ListenOptions listen;
    ChatOptions chat;
    GroupOptions group;
    ReceiptsOptions receipts;
    std::string device_to_remove;
    AccountDeleteOptions account_delete;
    HistoryOptions history;
    bool conversations_json = false;
    MediaGetOptions media_get;
    ProfileOptions profile;

    Cli() {
        app.footer(kFooter);
        app.require_subcommand(1);
        app.fallthrough();  // global options after the command too
        app.add_option("--server", server_flag, "the server, https://HOST[:PORT] or http://HOST[:PORT] (default: "
                                                "$NATTER_SERVER, the profile's, or http://127.0.0.1:8080)");
        app.add_option("--ca-file", globals.ca_file, "a PEM file of CA certificates to trust for https, besides the "
                                                     "system's (default: $NATTER_CA_FILE)");
        app.add_option("--profile", globals.profile, "which stored login to use (a separate device each)")
            ->capture_default_str();
        add_accounts();
        add_messaging();
        add_groups();
        add_history();
        add_media();
    }

    void add_accounts() {
        auto* r = app.add_subcommand("register", "create an account (the password is asked, or see NATTER_PASSWORD)");
        r->add_option("USERNAME", reg.username, "3-32 of a-z 0-9 _ .")->required();
        r->add_option("--display-name", reg.display_name, "the name others see (default: the username)");
        r->add_flag("--password-stdin", reg.password_stdin, "read the password from the first line of stdin");
        r->callback([this] { command = [this] { return run_register(globals, reg); }; });

        auto* l = app.add_subcommand("login", "sign this profile in (resumes its device when it had one)");
        l->add_option("USERNAME", login.username)->required();
        l->add_option("--device-name", login.device_name, "a name for a new device (default: natter on HOSTNAME)");
        l->add_flag("--password-stdin", login.password_stdin, "read the password from the first line of stdin");
        l->callback([this] { command = [this] { return run_login(globals, login); }; });

        app.add_subcommand("logout", "sign this device out and forget its tokens")->callback([this] {
            command = [this] { return run_logout(globals); };
        });

        auto* d = app.add_subcommand("devices", "list your devices (* marks this one)");
        d->require_subcommand(0, 1);
        d->callback([this, d] {
            if (d->get_subcommands().empty()) command = [this] { return run_devices(globals); };
        });
        auto* rm = d->add_subcommand("remove", "remove a device: tokens revoked, inbox dropped");
        rm->add_option("DEVICE_ID", device_to_remove)->required();
        rm->callback([this] { command = [this] { return run_devices_remove(globals, device_to_remove); }; });

        auto* acct = app.add_subcommand("account", "your account as a whole");
        acct->require_subcommand(1);
        auto* del = acct->add_subcommand("delete", "delete your account for good (the password is asked again)");
        del->add_flag("--yes", account_delete.yes, "yes, delete it: it cannot be undone");
        del->add_flag("--password-stdin", account_delete.password_stdin, "read the password from the first line of stdin");
        del->footer(std::string("Your devices, tokens, inboxes, images, profile and group memberships go, and your\n"
                                "username is free for anyone to take. Messages you sent stay in the others' history,\n"
                                "from a \"deleted account\".\n\n") +
                    kFooter);
        del->callback([this] { command = [this] { return run_account_delete(globals, account_delete); }; });
    }

    void add_messaging() {
        auto* s = app.add_subcommand("send", "send one message, text or --image (to USER, or with --group to a group), "
                                             "and wait until the server has stored it");
        s->add_option("USER", send.to, "a username (or @username), or a user id; none with --group")->option_text("USER");
        s->add_option("TEXT", send.words, "the message; the words are joined with spaces")->option_text("WORDS...");
        s->add_option("--group", send.group, "send to this group (its id, or g:ID) instead of a USER")
            ->option_text("GROUP_ID");
        s->add_option("--image", send.image,
                      "send this image (JPEG, PNG, WebP or GIF, at most 16 MiB); the WORDS, if any, are its caption")
            ->option_text("FILE");
        s->footer(std::string("Examples:\n  natter send bob hi bob\n  natter send --group 384817174059098112 hi all\n"
                              "  natter send bob --image photo.jpg the view from here\n\n"
                              "With --image the file is checked (by its first bytes) before anything is sent, then\n"
                              "uploaded, with a progress bar on stderr when it is a terminal.\n\n") +
                  kFooter);
        s->callback([this] { command = [this] { return run_send(globals, send); }; });

        auto* l = app.add_subcommand("listen", "print incoming messages as JSON lines, acking them");
        l->add_option("--count", listen.count, "exit after N messages")->check(CLI::NonNegativeNumber);
        l->add_flag("--notices", listen.notices,
                    "also print receipt, typing and presence frames as JSON lines (not counted by --count)");
        l->footer(std::string("stdout: each `message` frame as received (group changes are messages of kind \"system\").\n"
                  "stderr: a readable line for each group change, receipt (\"✓✓ read by bob up to #5 (chat with "
                  "bob)\") and typing frame.\n\n") +
                  kFooter);
        l->callback([this] { command = [this] { return run_listen(globals, listen); }; });

        auto* c = app.add_subcommand("chat", "chat with USER, or in a group: type lines to send, see messages, "
                                             "receipts, presence and typing as they come");
        c->add_option("USER", chat.user, "a username (or @username), or a user id");
        c->add_option("--group", chat.group, "chat in this group (its id, or g:ID) instead of with a USER");
        c->footer(std::string("Shows:\n"
                              "  [14:05] bob: hi                 a message\n"
                  "  [14:05] * alice added carol     a group change\n"
                  "    ✓ #5                          your line is stored as message #5\n"
                  "    ✓✓ delivered to bob up to #5  bob's device has everything up to #5\n"
                  "    ✓✓ read by bob up to #5       bob's chat has shown it\n"
                  "    bob is online / bob was last seen 14:02 / bob is typing...\n"
                  "What chat shows is marked read. On a terminal the others see \"alice is typing...\" while you\n"
                  "type a line; when stdin is not a terminal, a line /typing says so. /quit or Ctrl-D leaves.\n\n") +
                  kFooter);
        c->callback([this] { command = [this] { return run_chat(globals, chat); }; });
    }

    void add_groups() {
        auto* gr = app.add_subcommand("group", "create a group, show it, add or remove members, leave it");
        gr->require_subcommand(1);
        auto* c = gr->add_subcommand("create", "create a group with you as its admin; prints its group id");
        c->add_option("NAME", group.name, "the group's name")->required();
        c->add_option("USER", group.users, "the other members: usernames (or @username) or user ids");
        c->callback([this] { command = [this] { return run_group_create(globals, group); }; });

        auto* s = gr->add_subcommand("show", "the group's name and members with their roles");
        s->add_option("GROUP_ID", group.group, "the group id (or g:ID)")->required();
        s->add_flag("--json", group.json, "the server's answer as JSON");
        s->callback([this] { command = [this] { return run_group_show(globals, group); }; });

        auto* a = gr->add_subcommand("add", "add a member (admins only); they see the group from now on");
        a->add_option("GROUP_ID", group.group, "the group id (or g:ID)")->required();
        a->add_option("USER", group.users, "a username (or @username), or a user id")->required()->expected(1);
        a->callback([this] { command = [this] { return run_group_add(globals, group); }; });

        auto* r = gr->add_subcommand("remove", "remove a member (admins only)");
        r->add_option("GROUP_ID", group.group, "the group id (or g:ID)")->required();
        r->add_option("USER", group.users, "a username (or @username), or a user id")->required()->expected(1);
        r->callback([this] { command = [this] { return run_group_remove(globals, group); }; });

        auto* l = gr->add_subcommand("leave", "leave the group (the last admin leaving hands it to the longest member)");
        l->add_option("GROUP_ID", group.group, "the group id (or g:ID)")->required();
        l->callback([this] { command = [this] { return run_group_leave(globals, group); }; });
    }

    void add_history() {
        auto* h = app.add_subcommand("history", "the messages of a conversation, oldest first");
        h->add_option("CONVERSATION", history.conversation, "a conversation id (d:ID:ID, g:ID) or a username")
            ->required();
        h->add_option("--before-seq", history.before_seq, "only messages before this seq");
        h->add_option("--limit", history.limit, "at most this many (1-200)")->capture_default_str();
        h->add_flag("--json", history.json, "one JSON object per line");
        h->callback([this] { command = [this] { return run_history(globals, history); }; });

        auto* r = app.add_subcommand("receipts", "how far each member of a conversation has received and read it");
        r->add_option("CONVERSATION", receipts.conversation, "a conversation id (d:ID:ID, g:ID) or a username")
            ->required();
        r->add_flag("--json", receipts.json, "one JSON object per member");
        r->callback([this] { command = [this] { return run_receipts(globals, receipts); }; });

        auto* c = app.add_subcommand("conversations", "your conversations, with unread counts");
        c->add_flag("--json", conversations_json, "one JSON object per line");
        c->callback([this] { command = [this] { return run_conversations(globals, conversations_json); }; });
    }

    void add_media() {
        auto* m = app.add_subcommand("media", "images: download one from a message or an avatar");
        m->require_subcommand(1);
        auto* get = m->add_subcommand("get", "download an image (as its message says: natter media get ID)");
        get->add_option("MEDIA_ID", media_get.media_id, "the media id")->required();
        get->add_option("-o,--output", media_get.output, "the file to write, - for stdout (default: MEDIA_ID.png, .jpg, ...)");
        get->footer(std::string("Only the uploader, the members of a conversation the image was sent in, and anyone\n"
                                "for an avatar may download it; others get `natter: forbidden: ...` (exit 1).\n"
                                "The file appears only once complete; progress goes to stderr.\n\n") +
                    kFooter);
        get->callback([this] { command = [this] { return run_media_get(globals, media_get); }; });

        auto* p = app.add_subcommand("profile", "show a user's profile; set or clear your avatar");
        p->require_subcommand(1);
        auto* show = p->add_subcommand("show", "a user's profile (yours without USER)");
        show->add_option("USER", profile.user, "a username (or @username), or a user id");
        show->add_flag("--json", profile.json, "the server's answer as JSON");
        show->callback([this] { command = [this] { return run_profile_show(globals, profile); }; });
        auto* avatar = p->add_subcommand("avatar", "upload an image and make it your avatar, or --clear it");
        avatar->add_option("FILE", profile.file, "a JPEG, PNG, WebP or GIF image, at most 16 MiB");
        avatar->add_flag("--clear", profile.clear, "remove your avatar");
        avatar->callback([this] { command = [this] { return run_profile_avatar(globals, profile); }; });
    }

    int run(int argc, char** argv) {
        try {
            app.parse(argc, argv);
        } catch (const CLI::ParseError& e) {
            int code = app.exit(e);  // prints help, or the error with a hint
            return code == 0 ? kExitOk : kExitUsage;
        }
        if (!server_flag.empty()) {
            globals.server = server_flag;
        } else if (const char* env = std::getenv("NATTER_SERVER"); env && *env) {
            globals.server = env;
        }
        if (globals.ca_file.empty())
            if (const char* env = std::getenv("NATTER_CA_FILE"); env && *env) globals.ca_file = env;
        return command();
    }
};

}  // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);  // a closed stdout or socket is an error to handle, not a death
    try {
        Cli cli;
        return cli.run(argc, argv);
    } catch (const CliError& e) {
        std::cerr << "natter: " << e.what() << "\n";
        return e.exit_code();
    } catch (const Interrupted& e) {
        // A transfer cut short by Ctrl-C (its temp file gone): end as the signal would have.
        std::signal(e.sig, SIG_DFL);
        std::raise(e.sig);
        return 128 + e.sig;
    } catch (const std::exception& e) {
        std::cerr << "natter: " << e.what() << "\n";
        return kExitRefused;
    }
}
