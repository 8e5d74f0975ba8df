// Reads the daemon's power loss account (<control>.lost.json) for the run's report.
#include "faultfs/lost_report.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <type_traits>

#include "faultfs/control.hpp"

namespace inj::faultfs {
namespace {

using json = nlohmann::json;

// A field of an object: required ones are an error when absent or of another type.
template <typename T>
Result<T> field(const json& o, const char* name, const std::string& where, bool required, T fallback = T{}) {
    auto it = o.find(name);
    if (it == o.end() || it->is_null()) {
        if (required) return plain_error("lost report", where + ": missing field '" + name + "'");
        return fallback;
    }
    // Counts are never negative nor fractional: nlohmann would convert -1 to 2^64 - 1.
    if constexpr (std::is_unsigned_v<T>)
        if (!it->is_number_unsigned())
            return plain_error("lost report", where + ": field '" + name + "' has the wrong type");
    try {
        return it->get<T>();
    } catch (const json::exception&) {
        return plain_error("lost report", where + ": field '" + name + "' has the wrong type");
    }
}

Result<LostFile> parse_file(const json& f, const std::string& where) {
    if (!f.is_object()) return plain_error("lost report", where + ": not an object");
    LostFile l;
    INJ_ASSIGN_OR_RETURN(l.path, field<std::string>(f, "path", where, true));
    INJ_ASSIGN_OR_RETURN(l.writes, field<uint64_t>(f, "writes", where, true));
    INJ_ASSIGN_OR_RETURN(l.write_bytes, field<uint64_t>(f, "write_bytes", where, true));
    INJ_ASSIGN_OR_RETURN(l.bytes_kept, field<uint64_t>(f, "bytes_kept", where, true));
    INJ_ASSIGN_OR_RETURN(l.bytes_lost, field<uint64_t>(f, "bytes_lost", where, true));
    INJ_ASSIGN_OR_RETURN(l.missing, field<std::string>(f, "missing", where, false, "fsync of " + l.path));
    INJ_ASSIGN_OR_RETURN(l.reason, field<std::string>(f, "reason", where, false));
    INJ_ASSIGN_OR_RETURN(auto ops, field<json>(f, "operations", where, false, json::array()));
    if (!ops.is_array()) return plain_error("lost report", where + ": field 'operations' is not a list");
    for (size_t i = 0; i < ops.size(); ++i) {
        std::string w = where + ".operations[" + std::to_string(i) + "]";
        if (!ops[i].is_object()) return plain_error("lost report", w + ": not an object");
        LostWrite o;
        INJ_ASSIGN_OR_RETURN(o.offset, field<uint64_t>(ops[i], "offset", w, true));
        INJ_ASSIGN_OR_RETURN(o.bytes, field<uint64_t>(ops[i], "bytes", w, true));
        INJ_ASSIGN_OR_RETURN(o.bytes_kept, field<uint64_t>(ops[i], "bytes_kept", w, false));
        l.operations.push_back(o);
    }
    return l;
}

Result<LostEntry> parse_entry(const json& e, const std::string& where) {
    if (!e.is_object()) return plain_error("lost report", where + ": not an object");
    LostEntry l;
    INJ_ASSIGN_OR_RETURN(l.operation, field<std::string>(e, "operation", where, true));
    INJ_ASSIGN_OR_RETURN(l.path, field<std::string>(e, "path", where, true));
    INJ_ASSIGN_OR_RETURN(l.missing, field<std::string>(e, "missing", where, false));
    INJ_ASSIGN_OR_RETURN(l.reason, field<std::string>(e, "reason", where, false));
    return l;
}

Result<LostTrigger> parse_trigger(const json& j, const std::string& where) {
    LostTrigger t;
    auto it = j.find("trigger");
    if (it == j.end()) return t;  // accounts before crash points: the runner's power loss
    if (!it->is_object()) return plain_error("lost report", where + ": field 'trigger' is not an object");
    std::string w = where + ".trigger";
    INJ_ASSIGN_OR_RETURN(t.kind, field<std::string>(*it, "kind", w, true));
    if (t.kind != "crash point") return t;
    INJ_ASSIGN_OR_RETURN(t.operation, field<std::string>(*it, "operation", w, true));
    INJ_ASSIGN_OR_RETURN(t.path, field<std::string>(*it, "path", w, true));
    INJ_ASSIGN_OR_RETURN(t.when, field<std::string>(*it, "when", w, true));
    INJ_ASSIGN_OR_RETURN(t.nth, field<uint32_t>(*it, "nth", w, true));
    INJ_ASSIGN_OR_RETURN(t.realtime_ns, field<uint64_t>(*it, "realtime_ns", w, false));
    return t;
}

}  // namespace

uint64_t LostReport::bytes_lost() const {
    uint64_t n = 0;
    for (const LostFile& f : files) n += f.bytes_lost;
    return n;
}

Result<LostReport> parse_lost_report(const std::string& text, const std::string& source) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return plain_error("lost report", source + ": not a JSON object");
    LostReport r;
    INJ_ASSIGN_OR_RETURN(r.cut, field<uint64_t>(j, "cut", source, true));
    INJ_ASSIGN_OR_RETURN(r.model, field<std::string>(j, "model", source, true));
    INJ_ASSIGN_OR_RETURN(r.metadata, field<std::string>(j, "metadata", source, false, "durable"));
    INJ_ASSIGN_OR_RETURN(r.trigger, parse_trigger(j, source));
    for (const char* list : {"files", "entries"}) {
        auto it = j.find(list);
        if (it == j.end() || !it->is_array())
            return plain_error("lost report", source + ": field '" + list + "' is missing or not a list");
        for (size_t i = 0; i < it->size(); ++i) {
            std::string where = source + "." + list + "[" + std::to_string(i) + "]";
            if (list[0] == 'f') {
                INJ_ASSIGN_OR_RETURN(auto f, parse_file((*it)[i], where));
                r.files.push_back(std::move(f));
            } else {
                INJ_ASSIGN_OR_RETURN(auto e, parse_entry((*it)[i], where));
                r.entries.push_back(std::move(e));
            }
        }
    }
    return r;
}

Result<std::optional<LostReport>> read_lost_report(const std::string& control) {
    std::string path = lost_path(control);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return std::optional<LostReport>();  // no cut yet
        return errno_error("read lost report", path);
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return errno_error("read lost report", path);
    std::stringstream ss;
    ss << in.rdbuf();
    INJ_ASSIGN_OR_RETURN(auto r, parse_lost_report(ss.str(), path));
    return std::optional<LostReport>(std::move(r));
}

std::vector<std::string> summarize(const LostReport& r, const std::string& volume) {
    std::vector<std::string> lines;
    std::string head =
        volume + ": power cut " + std::to_string(r.cut) + " (model " + r.model + ", metadata " + r.metadata + ")";
    if (r.trigger.kind == "crash point")
        head += ", at crash point " + r.trigger.when + " " + r.trigger.operation + " " + r.trigger.path + " (match " +
                std::to_string(r.trigger.nth) + ")";
    head += ": " + std::to_string(r.bytes_lost()) + " bytes in " + std::to_string(r.files.size()) + " file(s), " +
            std::to_string(r.entries.size()) + " entry change(s) lost";
    lines.push_back(head);
    for (const LostFile& f : r.files)
        lines.push_back("  " + f.path + ": " + std::to_string(f.bytes_lost) + " bytes lost; " +
                        (f.reason.empty() ? "missing " + f.missing : f.reason));
    for (const LostEntry& e : r.entries)
        lines.push_back("  " + e.operation + " " + e.path + " undone; " +
                        (e.reason.empty() ? "missing " + e.missing : e.reason));
    return lines;
}

nlohmann::json to_json(const LostReport& r) {
    json files = json::array(), entries = json::array();
    for (const LostFile& f : r.files)
        files.push_back({{"path", f.path},
                         {"writes", f.writes},
                         {"bytes_lost", f.bytes_lost},
                         {"bytes_kept", f.bytes_kept},
                         {"missing", f.missing},
                         {"reason", f.reason}});
    for (const LostEntry& e : r.entries)
        entries.push_back({{"operation", e.operation}, {"path", e.path}, {"missing", e.missing}, {"reason", e.reason}});
    json j = {{"cut", r.cut},
              {"model", r.model},
              {"metadata", r.metadata},
              {"bytes_lost", r.bytes_lost()},
              {"trigger", {{"kind", r.trigger.kind}}},
              {"files", files},
              {"entries", entries}};
    if (r.trigger.kind == "crash point") {
        j["trigger"]["operation"] = r.trigger.operation;
        j["trigger"]["path"] = r.trigger.path;
        j["trigger"]["nth"] = r.trigger.nth;
        j["trigger"]["when"] = r.trigger.when;
    }
    return j;
}

}  // namespace inj::faultfs
