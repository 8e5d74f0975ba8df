// Read-back of acknowledged records, and the judging of expect.rto / expect.rpo.
#include "runner/verify.hpp"

#include <algorithm>
#include <unordered_set>

#include "common/duration.hpp"

namespace inj::runner {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

// Everything a read-back may print; more is an error, not a silent loss.
constexpr size_t kMaxReadBack = 64u << 20;

std::string trim(std::string s) {
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && ws(s.back())) s.pop_back();
    size_t i = 0;
    while (i < s.size() && ws(s[i])) ++i;
    return s.substr(i);
}

std::string at_text(nanoseconds at) { return "T+" + format_duration(std::chrono::duration_cast<Duration>(at)); }

std::string list_records(const std::vector<AckedRecord>& rs, size_t max = 10) {
    std::string out;
    for (size_t i = 0; i < rs.size() && i < max; ++i) out += (i ? ", " : "") + rs[i].record;
    if (rs.size() > max) out += ", ... (" + std::to_string(rs.size() - max) + " more)";
    return out;
}

std::string failure_text(const RunResult& r) {
    std::string out = trim(r.output);
    if (out.size() > 300) out = "..." + out.substr(out.size() - 300);
    std::string why = r.timed_out ? "timed out" : "exit " + std::to_string(r.exit_code);
    return why + (out.empty() ? "" : ": " + out);
}

}  // namespace

VerifyResult run_verify(
    const plan::Verify& v, const std::vector<AckedRecord>& records,
    const std::function<Result<std::string>(const std::string& text, const std::string& ack)>& expand,
    const std::string& netns, const ShellRunner& shell) {
    VerifyResult out;
    out.name = v.name;
    out.probe = v.probe;
    out.acknowledged = records.size();
    const auto start = Clock::now();
    const auto deadline = start + v.timeout;
    auto left = [&] { return std::max<nanoseconds>(deadline - Clock::now(), nanoseconds{0}); };
    auto done = [&] {
        out.cost = Clock::now() - start;
        return out;
    };

    if (v.per_record) {
        // One command per record; exit 0 means "still there". A record whose command cannot
        // even start fails the whole step: nothing can be said about it.
        for (auto& rec : records) {
            if (left().count() == 0) {
                out.error = "timed out after " + format_duration(v.timeout) + " with " +
                            std::to_string(&rec - records.data()) + " of " + std::to_string(records.size()) +
                            " records read back";
                return done();
            }
            auto cmd = expand(v.command, rec.record);
            if (!cmd) {
                out.error = cmd.error().message();
                return done();
            }
            auto r = shell(*cmd, left(), netns, 4096);
            if (!r) {
                out.error = r.error().message();
                return done();
            }
            if (r->timed_out) {
                out.error = "reading back " + rec.record + " timed out";
                return done();
            }
            if (r->exit_code != 0) out.missing.push_back(rec);
        }
        return done();
    }

    auto cmd = expand(v.command, "");
    if (!cmd) {
        out.error = cmd.error().message();
        return done();
    }
    auto r = shell(*cmd, left(), netns, kMaxReadBack);
    if (!r) {
        out.error = r.error().message();
        return done();
    }
    if (r->timed_out || r->exit_code != 0) {
        out.error = "`" + *cmd + "` " + failure_text(*r);
        return done();
    }
    if (r->truncated) {
        out.error = "`" + *cmd + "` printed more than " + std::to_string(kMaxReadBack >> 20) + " MiB";
        return done();
    }
    std::unordered_set<std::string> lines;
    size_t pos = 0;
    while (pos <= r->output.size()) {
        size_t nl = r->output.find('\n', pos);
        if (nl == std::string::npos) nl = r->output.size();
        lines.insert(trim(r->output.substr(pos, nl - pos)));
        pos = nl + 1;
    }
    for (auto& rec : records)
        if (!lines.count(rec.record)) out.missing.push_back(rec);
    return done();
}

std::vector<Expectation> judge(const plan::Expect& expect,
                               const std::vector<std::pair<std::string, ServiceRecovery>>& recoveries,
                               const std::vector<VerifyResult>& verifies, const std::vector<FaultWindow>& faults) {
    std::vector<Expectation> out;
    for (auto& [fault, rec] : recoveries) {
        Expectation e;
        e.name = "rto " + rec.service + "@" + rec.host;
        std::string who = rec.service + " on " + rec.host + " (fault " + fault + ")";
        auto rto = std::chrono::duration_cast<Duration>(rec.rto);
        if (!rec.ready) {
            e.message = who + " did not become ready after power returned: " + rec.error;
        } else if (expect.rto && rec.rto > *expect.rto) {
            e.message = who + " ready " + format_duration(rto) + " after power returned, " +
                        format_duration(std::chrono::duration_cast<Duration>(rec.rto - *expect.rto)) +
                        " over expect.rto " + format_duration(*expect.rto);
        } else {
            e.held = true;
            e.message = who + " ready " + format_duration(rto) + " after power returned" +
                        (expect.rto ? " (expect.rto " + format_duration(*expect.rto) + ")" : "");
        }
        out.push_back(std::move(e));
    }
    for (auto& v : verifies) {
        Expectation e;
        e.name = "rpo " + v.name;
        std::string what = "verify " + v.name + " (probe " + v.probe + ")";
        if (!v.error.empty()) {
            e.message = what + " could not read back the records: " + v.error;
            out.push_back(std::move(e));
            continue;
        }
        std::string lost =
            std::to_string(v.missing.size()) + " of " + std::to_string(v.acknowledged) + " acknowledged records lost";
        if (expect.rpo_window) {
            // A lost record is within the window when a fault began at most `window` after it was
            // acknowledged; one acknowledged while or after every fault began is never allowed.
            std::vector<AckedRecord> outside;
            nanoseconds worst{0};
            for (auto& rec : v.missing) {
                std::optional<nanoseconds> age;
                for (auto& f : faults)
                    if (f.injected_at >= rec.at && (!age || f.injected_at - rec.at < *age))
                        age = f.injected_at - rec.at;
                if (!age || *age > *expect.rpo_window)
                    outside.push_back(rec);
                else
                    worst = std::max(worst, *age);
            }
            e.held = outside.empty();
            if (v.missing.empty())
                e.message = what + ": all " + std::to_string(v.acknowledged) + " acknowledged records read back";
            else if (e.held)
                e.message = what + ": " + lost + " (" + list_records(v.missing) + "), all acknowledged within " +
                            format_duration(std::chrono::duration_cast<Duration>(worst)) +
                            " before a fault (expect.rpo " + format_duration(*expect.rpo_window) + ")";
            else
                e.message = what + ": " + lost + "; " + std::to_string(outside.size()) +
                            " acknowledged outside the expect.rpo window of " + format_duration(*expect.rpo_window) +
                            " before a fault: " + list_records(outside) + " (first acknowledged at " +
                            at_text(outside.front().at) + ")";
        } else {
            long long allowed = expect.rpo_records.value_or(0);
            e.held = static_cast<long long>(v.missing.size()) <= allowed;
            if (v.missing.empty())
                e.message = what + ": all " + std::to_string(v.acknowledged) + " acknowledged records read back";
            else
                e.message = what + ": " + lost + " (" + list_records(v.missing) + ", first acknowledged at " +
                            at_text(v.missing.front().at) + "); expect.rpo allows " + std::to_string(allowed);
        }
        out.push_back(std::move(e));
    }
    return out;
}

}  // namespace inj::runner
