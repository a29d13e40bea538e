#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

#include "media.hpp"
#include "text_format.hpp"

namespace natter::cli {

namespace {
constexpr auto kRedraw = std::chrono::milliseconds(100);
constexpr int kBarWidth = 20;
constexpr std::size_t kLabelChars = 30;

std::string rate_text(std::uint64_t bytes, double seconds) {
    if (seconds < 0.001) return "";
    return human_size(std::uint64_t(double(bytes) / seconds)) + "/s";
}
}  // namespace

Progress::Progress(std::string verb, std::string done, std::string label, std::uint64_t total)
    : Progress(std::move(verb), std::move(done), std::move(label), total, ::isatty(STDERR_FILENO) == 1) {}

Progress::Progress(std::string verb, std::string done, std::string label, std::uint64_t total, bool terminal)
    : verb_(std::move(verb)),
      done_(std::move(done)),
      label_(shorten(printable(label, " "), kLabelChars)),
      total_(total),
      terminal_(terminal) {}

Progress::~Progress() {
    if (!finished_) end_line();
}

double Progress::elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::bar_line(std::uint64_t bytes, double seconds) const {
    std::string line = verb_ + " " + label_ + " ";
    if (total_ > 0) {
        auto shown = bytes > total_ ? total_ : bytes;
        int filled = int(shown * kBarWidth / total_);
        line += "[" + std::string(std::size_t(filled), '#') + std::string(std::size_t(kBarWidth - filled), '-') + "] ";
        char pct[8];
        std::snprintf(pct, sizeof pct, "%3d%%", int(shown * 100 / total_));
        line += std::string(pct) + "  " + human_size(bytes) + " / " + human_size(total_);
    } else {
        line += human_size(bytes);
    }
    if (auto rate = rate_text(bytes, seconds); !rate.empty()) line += "  " + rate;
    return line;
}

void Progress::update(std::uint64_t bytes) {
    if (!terminal_ || finished_) return;
    auto now = std::chrono::steady_clock::now();
    if (drawn_ && now - last_draw_ < kRedraw && bytes != total_) return;
    last_draw_ = now;
    drawn_ = true;
    auto line = "\r" + bar_line(bytes, elapsed()) + "\x1b[K";  // then clear what a longer line left
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

void Progress::finish(std::uint64_t bytes) {
    if (finished_) return;
    finished_ = true;
    auto seconds = elapsed();
    char took[32];
    std::snprintf(took, sizeof took, "%.1f s", seconds);
    std::string line = done_ + " " + label_ + ": " + human_size(bytes) + " in " + took;
    if (auto rate = rate_text(bytes, seconds); !rate.empty()) line += " (" + rate + ")";
    line = (drawn_ ? "\r" : "") + line + (drawn_ ? "\x1b[K\n" : "\n");
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

void Progress::end_line() {
    if (!drawn_) return;
    std::fputc('\n', stderr);
    std::fflush(stderr);
    drawn_ = false;
}

}  // namespace natter::cli
