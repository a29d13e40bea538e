#include "line_editor.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

namespace natter::cli {

namespace {

bool continuation(unsigned char c) { return (c & 0xc0) == 0x80; }

std::size_t code_points(const std::string& s) {
    std::size_t n = 0;
    for (unsigned char c : s)
        if (!continuation(c)) ++n;
    return n;
}

}  // namespace

bool LineEditor::usable() { return ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO); }

LineEditor::LineEditor(Handlers h, std::string prompt) : h_(std::move(h)), prompt_(std::move(prompt)) {}

LineEditor::~LineEditor() {
    if (!saved_) return;
    hide();
    ::tcsetattr(STDIN_FILENO, TCSANOW, &*saved_);
}

bool LineEditor::start() {
    termios t{};
    if (::tcgetattr(STDIN_FILENO, &t) != 0) return false;
    termios raw = t;
    raw.c_lflag &= ~tcflag_t(ICANON | ECHO | IEXTEN);  // ISIG stays: Ctrl-C is SIGINT
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (::tcsetattr(STDIN_FILENO, TCSANOW, &raw) != 0) return false;
    saved_ = t;
    show();
    return true;
}

void LineEditor::out(const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
}

std::size_t LineEditor::columns() const {
    winsize w{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
    return 80;
}

void LineEditor::hide() {
    if (!shown_) return;
    shown_ = false;
    // Back to the first row of the prompt (the text may have wrapped), then clear below.
    auto width = code_points(prompt_) + code_points(text_);
    auto rows_up = width > 0 ? (width - 1) / columns() : 0;
    std::string s = "\r";
    if (rows_up > 0) s += "\x1b[" + std::to_string(rows_up) + "A";
    out(s + "\x1b[J");
}

void LineEditor::show() {
    if (shown_ || !saved_) return;
    shown_ = true;
    out(prompt_ + text_);
}

void LineEditor::feed(const std::optional<std::string>& bytes) {
    if (!bytes) {
        if (h_.on_eof) h_.on_eof();
        return;
    }
    for (unsigned char c : *bytes) key(c);
}

void LineEditor::key(unsigned char c) {
    if (escape_ == 1) {  // ESC [ ... or ESC O x: a key we do not edit with
        escape_ = (c == '[' || c == 'O') ? 2 : 0;
        return;
    }
    if (escape_ == 2) {
        if (c >= 0x40 && c <= 0x7e) escape_ = 0;  // the final byte
        return;
    }
    switch (c) {
        case 0x1b: escape_ = 1; return;
        case '\r':
        case '\n': {
            std::string line = std::move(text_);
            text_.clear();
            if (shown_) out("\n");
            shown_ = false;
            if (h_.on_edit) h_.on_edit(true);
            if (h_.on_line) h_.on_line(std::move(line));
            show();
            return;
        }
        case 0x04:  // Ctrl-D
            if (text_.empty() && h_.on_eof) h_.on_eof();
            return;
        case 0x7f:
        case 0x08:  // Backspace
            if (text_.empty()) return;
            hide();
            erase_last();
            show();
            return changed();
        case 0x15:  // Ctrl-U: the whole line
            if (text_.empty()) return;
            hide();
            text_.clear();
            show();
            return changed();
        case 0x17:  // Ctrl-W: the last word
            if (text_.empty()) return;
            hide();
            while (!text_.empty() && text_.back() == ' ') text_.pop_back();
            while (!text_.empty() && text_.back() != ' ') erase_last();
            show();
            return changed();
        case 0x0c:  // Ctrl-L: draw the line again
            hide();
            show();
            return;
        case '\t': c = ' '; break;
        default:
            if (c < 0x20) return;  // other control keys
    }
    text_ += char(c);
    if (shown_) out(std::string(1, char(c)));
    if (!continuation(c)) changed();
}

void LineEditor::erase_last() {
    while (!text_.empty() && continuation(static_cast<unsigned char>(text_.back()))) text_.pop_back();
    if (!text_.empty()) text_.pop_back();
}

void LineEditor::changed() {
    if (h_.on_edit) h_.on_edit(text_.empty());
}

}  // namespace natter::cli
