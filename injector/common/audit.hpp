// The audit trail: every change the injector makes to the machine (namespaces, links, routes,
// cgroups, processes, BPF programs and attachments, armed rules, removals) as one JSON line in
// /var/lib/injector/audit.jsonl ($INJECTOR_AUDIT_LOG). Separate from the run journal on purpose:
// it spans runs, outlives /run (a reboot) and is what an operator reads to learn what the tool
// did to a machine, whoever ran it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace inj::audit {

// $INJECTOR_AUDIT_LOG, or /var/lib/injector/audit.jsonl.
std::string log_path();

// The run id every following record carries ("" until set). The runner sets its run id; `lab up`
// outside a run uses "lab-<id>", recover "recover-<time>". Process-wide, thread-safe.
void set_run(const std::string& run_id);
std::string run();
// Sets the run id only when none is set yet (lab code outside a run).
void set_run_if_unset(const std::string& run_id);

// Appends {"time", "run", "action", "target", "result": "ok"|"failed"[, "error"][, "items"]}
// with one O_APPEND write and fdatasync before returning, so a record is on disk before the
// caller goes on (a crash right after still leaves it). `items` lists the members of a batch
// (one record per batch, not per member). Never fails the caller: an unwritable log is reported
// once on the "audit" logger and the action goes on (check_writable() is the preflight for it).
//
// Sync::page_cache skips the fdatasync, for records on the fault hot path (arm, disarm): the
// write() alone survives any death of this process, and only a kernel crash could lose the
// record, which also ends the fault it describes (maps and links do not outlive the kernel).
enum class Sync { durable, page_cache };
void record(const std::string& action, const std::string& target, bool ok, const std::string& error = {},
            const std::vector<std::string>& items = {}, Sync sync = Sync::durable);
// record() with the result and error taken from r.
void record(const std::string& action, const std::string& target, const Result<void>& r,
            const std::vector<std::string>& items = {}, Sync sync = Sync::durable);

// Creates the log's directory and opens the log for appending: an error says why records would
// be lost. For preflight.
Result<void> check_writable();

struct Entry {
    std::chrono::system_clock::time_point time;
    std::string run;
    std::string action;
    std::string target;
    std::string result;  // "ok" | "failed"
    std::string error;
    std::vector<std::string> items;
};
// Every readable record of a log (a torn last line is skipped).
std::vector<Entry> read(const std::string& path);

// Formats a time as the log writes it: 2026-01-31T09:18:00.123Z (UTC).
std::string format_time(std::chrono::system_clock::time_point t);
std::optional<std::chrono::system_clock::time_point> parse_time(const std::string& s);

}  // namespace inj::audit
