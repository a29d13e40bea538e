#pragma once
// A transfer's progress on stderr: on a terminal, one line redrawn in place
// ("uploading photo.png [#####-----]  42%  1.3 MB / 3.0 MB  850 KB/s");
// then, terminal or not, one plain line when it is done
// ("uploaded photo.png: 3.0 MB in 1.2 s (2.5 MB/s)").
#include <chrono>
#include <cstdint>
#include <string>

namespace natter::cli {

class Progress {
public:
    // verb "uploading" / "downloading"; done "uploaded" / "downloaded";
    // label: what moves (a file name); total: the bytes expected (0: unknown).
    Progress(std::string verb, std::string done, std::string label, std::uint64_t total);
    // `terminal` forced (tests); the default asks isatty(stderr).
    Progress(std::string verb, std::string done, std::string label, std::uint64_t total, bool terminal);
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    // `bytes` moved so far; redrawn at most 10 times a second.
    void update(std::uint64_t bytes);
    // The plain final line.
    void finish(std::uint64_t bytes);

    // The line that update() draws (for tests).
    std::string bar_line(std::uint64_t bytes, double seconds) const;

private:
    void end_line();  // leaves a half-drawn bar on a line of its own
    double elapsed() const;

    std::string verb_, done_, label_;
    std::uint64_t total_;
    bool terminal_;
    bool drawn_ = false;
    bool finished_ = false;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace natter::cli
