// The live view (see live.hpp). One thread redraws the block every 250 ms; events only update
// the state, so however fast events come the terminal gets at most four pictures a second, each
// written with one write() (no flicker: lines are overwritten in place, never cleared first).
#include "report/live.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "common/output.hpp"

#include "report/model.hpp"

namespace inj::report {
namespace {

enum Colour { plain = 0, green = 32, red = 31, yellow = 33, bold = 1, dim = 2 };

std::string str(const nlohmann::json& j, const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
double num(const nlohmann::json& j, const char* k, double d = 0) {
    auto it = j.find(k);
    return it != j.end() && it->is_number() ? it->get<double>() : d;
}

std::string bar(double frac, int width) {
    frac = std::clamp(frac, 0.0, 1.0);
    int n = static_cast<int>(frac * width + 0.5);
    return "[" + std::string(static_cast<size_t>(n), '#') + std::string(static_cast<size_t>(width - n), '.') + "]";
}

}  // namespace

double LiveView::Probe::rate() const {
    if (recent.empty()) return 1.0;
    size_t ok = 0;
    for (auto& r : recent) ok += r.second;
    return static_cast<double>(ok) / static_cast<double>(recent.size());
}

LiveView::LiveView(Mode mode, int fd, int width) : mode_(mode), fd_(fd), width_(width), fixed_width_(width > 0) {
    writer_ = std::thread([this] { write_loop(); });
    if (mode_ == Mode::tty) {
        if (width_ <= 0) width_ = 100;
        {
            std::lock_guard lk(mu_);  // the writer thread reads the queue already
            emit("\033[?25l");        // hide the cursor while the block is live
        }
        thread_ = std::thread([this] { draw_loop(); });
    }
}

LiveView::~LiveView() { finish(); }

void LiveView::finish() {
    {
        std::lock_guard lk(mu_);
        if (finished_) return;
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::unique_lock lk(mu_);
    if (mode_ == Mode::tty) {
        draw_locked(true);
        emit("\033[?25h");
    }
    finished_ = true;
    // The reader gets a moment to take the rest; a stuck one does not hold the exit.
    wcv_.notify_all();
    wcv_.wait_for(lk, std::chrono::milliseconds(kDrainMs), [this] { return queued_.empty() && !busy_; });
    writer_stop_ = true;
    lk.unlock();
    wcv_.notify_all();
    if (writer_.joinable()) writer_.join();
    if (dropped_ > 0) {
        std::string note =
            "injector: " + std::to_string(dropped_) + " bytes of progress output dropped (the output was not read)\n";
        (void)output::write_some(STDERR_FILENO, note, 100);
    }
}

uint64_t LiveView::dropped() const {
    std::lock_guard lk(mu_);
    return dropped_;
}

// Queues; never writes (callers hold mu_, and on_event runs under the journal's lock).
void LiveView::emit(const std::string& s) {
    if (writer_stop_ || queued_.size() + s.size() > kMaxQueued) {
        dropped_ += s.size();
        return;
    }
    queued_ += s;
    wcv_.notify_all();
}

void LiveView::write_loop() {
    std::unique_lock lk(mu_);
    while (true) {
        wcv_.wait(lk, [this] { return writer_stop_ || !queued_.empty(); });
        if (writer_stop_) break;
        std::string chunk = std::move(queued_);
        queued_.clear();
        busy_ = true;
        lk.unlock();
        std::string_view rest(chunk);
        bool gone = false;
        while (!rest.empty() && !gone) {
            long n = output::write_some(fd_, rest, 100);
            if (n < 0)
                gone = true;
            else
                rest.remove_prefix(static_cast<size_t>(n));
            if (n == 0) {
                std::lock_guard stop_lk(mu_);
                if (writer_stop_) break;
            }
        }
        lk.lock();
        busy_ = false;
        if (!rest.empty()) {
            // Not written: put it back in front (order kept), or drop it when the reader is gone.
            if (gone)
                dropped_ += rest.size() + queued_.size(), queued_.clear();
            else
                queued_.insert(0, rest);
            if (gone) writer_stop_ = true;  // nothing will be read from here on
        }
        wcv_.notify_all();  // finish() waits for the queue to empty
    }
    dropped_ += queued_.size();
    queued_.clear();
}

void LiveView::draw_loop() {
    std::unique_lock lk(mu_);
    while (!stopping_) {
        draw_locked(false);
        cv_.wait_for(lk, std::chrono::milliseconds(250), [this] { return stopping_; });
    }
}

void LiveView::draw_locked(bool final) {
    // The reader has not taken the last picture yet (a paused terminal): skip this one rather
    // than pile pictures up; the lines above the block wait (up to kMaxPending).
    if (!final && !queued_.empty()) return;
    // The terminal may have been resized: lines longer than it wrap, and a block taller than it
    // cannot be reached by moving the cursor up, so both are cut to fit.
    winsize ws{};
    if (ioctl(fd_, TIOCGWINSZ, &ws) == 0) {
        if (!fixed_width_ && ws.ws_col > 0) width_ = ws.ws_col;
        height_ = ws.ws_row;
    }
    std::string out;
    // Back to the top of the block; the lines above it are history and stay.
    if (drawn_ > 0) out += "\033[" + std::to_string(drawn_) + "F";
    for (auto& p : pending_) out += "\033[2K" + p.substr(0, static_cast<size_t>(std::max(width_ - 1, 10))) + "\n";
    pending_.clear();
    auto frame = frame_locked();
    if (height_ > 3 && frame.size() > static_cast<size_t>(height_ - 1)) {
        size_t cut = frame.size() - static_cast<size_t>(height_ - 2);
        frame.resize(static_cast<size_t>(height_ - 2));
        frame.push_back({dim, "... " + std::to_string(cut) + " more lines (the terminal is too short)"});
    }
    for (auto& [colour, text] : frame) {
        std::string t = text.substr(0, static_cast<size_t>(std::max(width_ - 1, 10)));
        out += "\033[2K";
        if (colour)
            out += "\033[" + std::to_string(colour) + "m" + t + "\033[0m";
        else
            out += t;
        out += "\n";
    }
    out += "\033[J";  // the block shrank: clear what was below it
    drawn_ = frame.size();
    if (final) drawn_ = 0;
    emit(out);
}

void LiveView::pend(const std::string& line) {
    if (pending_.size() >= kMaxPending)
        dropped_ += line.size() + 1;
    else
        pending_.push_back(line);
}

LiveView::Fault& LiveView::fault(const std::string& name) {
    for (auto& f : faults_)
        if (f.name == name) return f;
    faults_.push_back({name});
    return faults_.back();
}
LiveView::Probe& LiveView::probe(const std::string& name) {
    for (auto& p : probes_)
        if (p.name == name) return p;
    probes_.push_back({name});
    return probes_.back();
}

double LiveView::now_ms() const {
    if (!t0_) return 0;
    if (end_ms_) return *end_ms_;
    return std::chrono::duration<double, std::milli>(Steady::now() - *t0_).count();
}

void LiveView::log_line(const std::string& line) {
    std::lock_guard lk(mu_);
    if (mode_ == Mode::tty && !finished_)
        pend(line);
    else if (mode_ != Mode::quiet && mode_ != Mode::json)
        emit(line + "\n");
    else
        emit("");  // json and quiet keep stdout clean; logs stay off it
}

void LiveView::on_event(const nlohmann::json& ev) noexcept {
    try {
        std::lock_guard lk(mu_);
        if (mode_ == Mode::quiet || finished_) return;
        if (mode_ == Mode::json) {
            emit(ev.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
            return;
        }
        const std::string type = str(ev, "event");
        if (type == "run_start") {
            plan_ = str(ev, "plan");
            run_ = str(ev, "run");
            max_duration_ms_ = num(ev, "max_duration_ms");
            phase_ = "preflight";
        } else if (type == "plan") {
            for (auto& f : ev.value("faults", nlohmann::json::array())) {
                auto& x = fault(str(f, "name"));
                x.kind = str(f, "kind");
                x.target = str(f, "target");
                x.at_ms = num(f, "at_ms");
                x.duration_ms = num(f, "duration_ms");
            }
            for (auto& p : ev.value("probes", nlohmann::json::array())) {
                auto& x = probe(str(p, "name"));
                if (p.contains("slo") && p["slo"].contains("success_rate"))
                    x.slo_rate = p["slo"]["success_rate"].get<double>();
                if (p.contains("slo")) x.window_ms = num(p["slo"], "window_ms", 10000);
                observe_ms_ = std::max(observe_ms_, x.window_ms);
            }
        } else if (type == "lab_up_begin" || type == "lab_reused") {
            phase_ = "lab";
        } else if (type == "engine_prepared") {
            phase_ = "engines";
        } else if (type == "steady_before") {
            phase_ = "steady state before";
        } else if (type == "timeline_start") {
            // The event was written just now: its T+0 is (to within a write) this instant.
            t0_ = Steady::now();
            phase_ = "timeline";
        } else if (type == "inject") {
            auto& f = fault(str(ev, "fault"));
            f.injected_ms = num(ev, "at_ms");
            f.failed = !ev.value("ok", true);
        } else if (type == "heal") {
            auto& f = fault(str(ev, "fault"));
            f.healed_ms = num(ev, "at_ms");
        } else if (type == "counters") {
            for (auto& c : ev.value("counters", nlohmann::json::array()))
                fault(str(c, "fault")).dropped = c.value("dropped", uint64_t{0});
        } else if (type == "probe") {
            auto& p = probe(str(ev, "probe"));
            bool ok = ev.value("ok", false);
            double at = num(ev, "at_ms");
            bool changed = p.any && p.last_ok != ok;
            p.any = true;
            ++p.attempts;
            p.ok += ok;
            p.last_ok = ok;
            p.last_latency_ms = num(ev, "latency_ms");
            p.last_detail = str(ev, "detail");
            p.recent.emplace_back(at, ok);
            while (!p.recent.empty() && p.recent.front().first <= at - p.window_ms) p.recent.pop_front();
            if (!changed) return;  // a probe gets a line when its health changes, not every attempt
        } else if (type == "abort") {
            abort_ms_ = num(ev, "at_ms");
            end_ms_ = *abort_ms_;
            abort_reason_ = str(ev, "reason");
            phase_ = "aborting";
        } else if (type == "slo") {
            phase_ = "judging";
            if (!end_ms_) end_ms_ = now_ms();
        } else if (type == "steady_after") {
            phase_ = "steady state after";
        } else if (type == "heal_all" || type == "engine_released" || type == "lab_down") {
            phase_ = "cleanup";
        } else if (type == "verdict") {
            verdict_ = str(ev, "verdict");
            phase_ = "done";
        }
        if (mode_ == Mode::lines) {
            auto l = line_for(ev);
            if (!l.empty()) emit(l + "\n");
        } else if (mode_ == Mode::tty) {
            // Steps scroll above the block, so the history stays on screen.
            auto l = line_for(ev);
            if (!l.empty()) pend(l);
        }
    } catch (...) {}
}

// One line per step of the run, for logs and for the history above the live block.
std::string LiveView::line_for(const nlohmann::json& ev) {
    const std::string type = str(ev, "event");
    std::string t = str(ev, "t");
    std::string clock = t.size() >= 23 ? t.substr(11, 12) : t;
    std::string at = t0_ ? fmt_t(ev.contains("at_ms") ? num(ev, "at_ms") : now_ms()) : "";
    auto head = clock + " " + (at.empty() ? std::string("") : at + " ");
    if (type == "run_start") return head + "run " + str(ev, "run") + " of plan " + str(ev, "plan");
    if (type == "refused") return head + "REFUSED: " + str(ev, "reason");
    if (type == "lab_up")
        return head + "lab " + str(ev, "lab") + " up (" + std::to_string(ev.value("hosts", 0)) + " hosts)";
    if (type == "lab_reused") return head + "lab " + str(ev, "lab") + " reused";
    if (type == "lab_up_failed") return head + "lab failed: " + str(ev, "error");
    if (type == "engine_prepared")
        return head + "engine " + str(ev, "engine") +
               (ev.value("ok", false) ? " ready" : " FAILED: " + str(ev, "error"));
    if (type == "steady_before")
        return head + "steady state before: probe " + str(ev, "probe") +
               (ev.value("ok", false) ? " ok" : " NOT ok: " + str(ev, "detail"));
    if (type == "timeline_start") return head + "timeline starts";
    if (type == "inject")
        return head + "inject " + str(ev, "fault") + " (" + str(ev, "kind") + ")" +
               (ev.value("ok", true) ? "" : " FAILED: " + str(ev, "error"));
    if (type == "heal") {
        std::string l = head + "heal " + str(ev, "fault");
        for (auto& r : ev.value("recoveries", nlohmann::json::array()))
            l += "; " + r.value("service", "") + "@" + r.value("host", "") +
                 (r.value("ready", false) ? " ready after " + fmt_ms(r.value("rto_ms", 0.0)) : " NOT ready");
        return l;
    }
    if (type == "probe") {
        bool ok = ev.value("ok", false);
        return head + "probe " + str(ev, "probe") + (ok ? " ok again" : " failing: " + str(ev, "detail"));
    }
    if (type == "abort") return head + "ABORT: " + str(ev, "reason");
    if (type == "slo")
        return head + "probe " + str(ev, "probe") +
               (ev.value("held", true) ? " SLO held" : " SLO BROKEN: " + str(ev, "violation"));
    if (type == "steady_after")
        return head + "steady state after: probe " + str(ev, "probe") +
               (ev.value("ok", false) ? " ok" : " NOT ok: " + str(ev, "detail"));
    if (type == "lab_down")
        return head + "lab " + str(ev, "lab") + (ev.value("ok", false) ? " down" : " down FAILED: " + str(ev, "error"));
    if (type == "verdict")
        return head + "verdict " + str(ev, "verdict") + " (exit " + std::to_string(ev.value("exit_code", -1)) +
               "): " + str(ev, "reason");
    if (type == "expectation")
        return head + "expectation " + str(ev, "name") + (ev.value("ok", false) ? " met" : " NOT met") +
               (ev.contains("message") ? ": " + scalar_text(ev["message"]) : "");
    return "";
}

std::vector<std::string> LiveView::frame() const {
    std::lock_guard lk(mu_);
    std::vector<std::string> out;
    for (auto& [c, t] : frame_locked()) out.push_back(t);
    return out;
}

std::vector<std::pair<int, std::string>> LiveView::frame_locked() const {
    std::vector<std::pair<int, std::string>> f;
    const double now = now_ms();
    double faults_end = 0;
    for (auto& x : faults_) faults_end = std::max(faults_end, x.at_ms + x.duration_ms);
    const double planned_end = faults_end + observe_ms_;
    char buf[512];
    std::snprintf(buf, sizeof buf, "%s  run %s  [%s]", plan_.c_str(), run_.c_str(), phase_.c_str());
    f.push_back({bold, buf});
    if (t0_) {
        double left = std::max(planned_end - now, 0.0);
        if (end_ms_)
            std::snprintf(buf, sizeof buf, "%s %s: the timeline is over (max_duration %s)", bar(1, 30).c_str(),
                          fmt_t(now).c_str(), fmt_ms(max_duration_ms_).c_str());
        else
            std::snprintf(buf, sizeof buf, "%s %s of ~%s, %s left (max_duration %s)",
                          bar(now / planned_end, 30).c_str(), fmt_t(now).c_str(), fmt_ms(planned_end).c_str(),
                          left < 100 ? "0s" : fmt_ms(left).c_str(), fmt_ms(max_duration_ms_).c_str());
        f.push_back({plain, buf});
    } else {
        f.push_back({dim, "waiting for the timeline (lab, engines, steady state)"});
    }
    // The timeline: each fault, where the run is on it.
    for (auto& x : faults_) {
        const char* mark;
        int colour = plain;
        std::string state;
        if (x.failed)
            mark = "!", colour = red, state = "injection FAILED";
        else if (x.healed_ms)
            mark = "v", colour = green, state = "healed at " + fmt_t(*x.healed_ms);
        else if (x.injected_ms) {
            mark = ">", colour = yellow;
            double heal_at = *x.injected_ms + x.duration_ms;
            state = "IN FORCE since " + fmt_t(*x.injected_ms) + ", heals in " + fmt_ms(std::max(heal_at - now, 0.0)) +
                    ", " + std::to_string(x.dropped) + " dropped";
        } else {
            mark = " ", colour = dim;
            state = t0_ ? "in " + fmt_ms(std::max(x.at_ms - now, 0.0)) : "pending";
        }
        std::snprintf(buf, sizeof buf, " %s %-7s %-18s %-12s %s  %s", mark, fmt_t(x.at_ms).c_str(), x.name.c_str(),
                      x.kind.c_str(), x.target.c_str(), state.c_str());
        f.push_back({colour, buf});
    }
    size_t active = 0;
    for (auto& x : faults_) active += x.injected_ms && !x.healed_ms && !x.failed;
    std::snprintf(buf, sizeof buf, "faults in force: %zu", active);
    f.push_back({active ? yellow : plain, buf});
    for (auto& p : probes_) {
        double r = p.rate();
        bool healthy = !p.any || (p.slo_rate ? r >= *p.slo_rate : p.last_ok);
        std::string slo = p.slo_rate ? " (SLO >= " + std::to_string(*p.slo_rate).substr(0, 4) + ")" : "";
        std::snprintf(buf, sizeof buf, " %s %-18s %4zu/%-4zu ok  window %5.1f%%%s  last %s %s%s", healthy ? "*" : "x",
                      p.name.c_str(), p.ok, p.attempts, r * 100, slo.c_str(), p.last_ok ? "ok" : "FAILED",
                      fmt_ms(p.last_latency_ms).c_str(),
                      p.last_ok || p.last_detail.empty() ? "" : (": " + p.last_detail).c_str());
        f.push_back({healthy ? green : red, buf});
    }
    if (abort_ms_) f.push_back({red, "ABORTED at " + fmt_t(*abort_ms_) + ": " + abort_reason_});
    if (!verdict_.empty()) f.push_back({bold, "verdict: " + verdict_});
    return f;
}

}  // namespace inj::report
