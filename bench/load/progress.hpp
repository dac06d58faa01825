#pragma once
// Progress on stderr: a bar redrawn in place when stderr is a terminal, else
// one status line every few seconds; nothing with --quiet.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

namespace jvb::load {

class Progress {
 public:
  explicit Progress(bool quiet) : quiet_(quiet), tty_(isatty(STDERR_FILENO) == 1) {}

  // `fraction` in [0, 1]; `status` follows the bar.
  void update(const std::string& label, double fraction, const std::string& status) {
    if (quiet_) {
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    const auto every = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(2000);
    if (now - last_ < every) {
      return;
    }
    last_ = now;
    if (tty_) {
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(fraction * kWidth + 0.5);
      std::string bar(static_cast<size_t>(std::clamp(filled, 0, kWidth)), '#');
      bar.resize(kWidth, '.');
      std::fprintf(stderr, "\r\033[K%-7s [%s] %s", label.c_str(), bar.c_str(), status.c_str());
      drawn_ = true;
    } else {
      std::fprintf(stderr, "%s: %s\n", label.c_str(), status.c_str());
    }
    std::fflush(stderr);
  }
  // Ends the bar's line (TTY) so that normal output follows.
  void done() {
    if (drawn_) {
      std::fputs("\r\033[K", stderr);
      std::fflush(stderr);
      drawn_ = false;
    }
    last_ = {};
  }
  // A line of its own (not suppressed by a bar in progress).
  void note(const std::string& line) {
    if (quiet_) {
      return;
    }
    done();
    std::fprintf(stderr, "%s\n", line.c_str());
  }

 private:
  bool quiet_;
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace jvb::load
