// What the person at the terminal sees while a run goes: on a terminal, a block redrawn in place
// (at most 4 times a second) with the timeline and the current step, the faults in force, each
// probe's health and the time left; otherwise plain log lines, one per step; or JSON lines (one
// object per journal event) for scripts; or nothing (--quiet).
// Events only change state and queue text; a writer thread of its own drains the queue, so a
// paused terminal or an unread pipe never blocks the thread that wrote the journal line (which
// holds the journal's lock, and may be the one that heals). What does not fit is dropped and
// counted.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runner/observer.hpp"

namespace inj::report {

class LiveView : public runner::RunObserver {
public:
    enum class Mode { tty, lines, json, quiet };
    // Writes to fd (stdout). In tty mode, `width` 0 asks the terminal.
    LiveView(Mode mode, int fd, int width = 0);
    ~LiveView() override;
    void on_event(const nlohmann::json& ev) noexcept override;
    // A log line from elsewhere (spdlog): printed above the block in tty mode, as is otherwise.
    void log_line(const std::string& line);
    // Last picture, cursor back; nothing drawn after this.
    void finish();

    // The block as it would be drawn now (tests; no escape sequences).
    std::vector<std::string> frame() const;
    // Bytes of output dropped because the reader was stuck or gone.
    uint64_t dropped() const;

    static constexpr size_t kMaxQueued = 1 << 20;  // bytes waiting for the reader
    static constexpr size_t kMaxPending = 1000;    // tty: lines waiting to scroll above the block
    static constexpr int kDrainMs = 2000;          // finish(): how long the reader gets to catch up

private:
    struct Fault {
        std::string name, kind, target;
        double at_ms = 0, duration_ms = 0;
        std::optional<double> injected_ms, healed_ms;
        bool failed = false;
        uint64_t dropped = 0;
    };
    struct Probe {
        std::string name;
        std::optional<double> slo_rate;
        double window_ms = 10000;
        size_t attempts = 0, ok = 0;
        bool last_ok = true, any = false;
        double last_latency_ms = 0;
        std::string last_detail;
        std::deque<std::pair<double, bool>> recent;  // (T+ms, ok) within the SLO window
        double rate() const;
    };
    using Steady = std::chrono::steady_clock;

    void draw_loop();
    void write_loop();
    void draw_locked(bool final);
    void emit(const std::string& s);
    void pend(const std::string& line);
    std::string line_for(const nlohmann::json& ev);                 // lines mode: one line per step, "" for none
    double now_ms() const;                                          // T+ now (0 before the timeline)
    std::vector<std::pair<int, std::string>> frame_locked() const;  // (colour, text)

    Mode mode_;
    int fd_;
    int width_, height_ = 0;
    bool fixed_width_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false, finished_ = false;
    std::thread thread_;
    size_t drawn_ = 0;                         // lines of the block on screen
    std::vector<std::string> pending_;         // lines to print above the block at the next draw
    std::string queued_;                       // output not yet written
    bool writer_stop_ = false, busy_ = false;  // busy_: the writer holds a chunk
    uint64_t dropped_ = 0;
    std::condition_variable wcv_;  // queued_ grew, or writer_stop_
    std::thread writer_;

    std::string plan_, run_, phase_ = "starting", verdict_;
    double max_duration_ms_ = 0, observe_ms_ = 5000;
    std::optional<Steady::time_point> t0_;
    std::optional<double> abort_ms_, end_ms_;  // end_ms_: the timeline is over (clock stops)
    std::string abort_reason_;
    std::vector<Fault> faults_;
    std::vector<Probe> probes_;
    Fault& fault(const std::string& name);
    Probe& probe(const std::string& name);
};

}  // namespace inj::report
