#pragma once
// chat's input on a terminal: the terminal in non-canonical mode (no kernel
// line editing, no echo) so that chat sees each key and can tell the others
// "typing", with a small editor of its own: a "> " prompt, printable text,
// Backspace, Ctrl-U, Ctrl-W, Ctrl-L, Enter, Ctrl-D on an empty line; escape
// sequences (arrows) are ignored. Ctrl-C stays a signal. Output printed
// between hide() and show() appears above the line being typed.
#include <functional>
#include <optional>
#include <string>

#include <termios.h>

namespace natter::cli {

class LineEditor {
public:
    struct Handlers {
        std::function<void(std::string line)> on_line;  // Enter
        std::function<void()> on_eof;                   // Ctrl-D on an empty line
        std::function<void(bool empty)> on_edit;        // the text being typed changed
    };

    // Whether stdin and stdout are both terminals.
    static bool usable();

    explicit LineEditor(Handlers h, std::string prompt = "> ");
    ~LineEditor();  // the terminal as it was
    LineEditor(const LineEditor&) = delete;
    LineEditor& operator=(const LineEditor&) = delete;

    // Non-canonical, no echo; false (nothing changed) when that fails.
    bool start();
    // Bytes read from stdin; nullopt at end of file.
    void feed(const std::optional<std::string>& bytes);
    // Erases the prompt and the text being typed (before other output) ...
    void hide();
    // ... and draws them again.
    void show();

private:
    void key(unsigned char c);
    void erase_last();
    void changed();
    std::size_t columns() const;
    void out(const std::string& s);

    Handlers h_;
    std::string prompt_;
    std::string text_;
    std::optional<termios> saved_;
    bool shown_ = false;
    int escape_ = 0;  // 0 none, 1 after ESC, 2 in a CSI/SS3 sequence
};

}  // namespace natter::cli
