// power_loss's crash point: the plan's `at: { op, path, nth, when }` (crash_at.hpp). The
// operation names are the fault filesystem's (faultfs/control.hpp), so what the plan accepts is
// exactly what the daemon can match.
#include "faults/power_loss/crash_at.hpp"

#include <algorithm>

#include "faultfs/control.hpp"

namespace inj::faults {
namespace {

// The operations a crash point may name, in the order the error message and the schema list
// them: the classes first, then single operations (faultfs's names; a unit test checks each).
const std::vector<std::string>& op_names() {
    static const std::vector<std::string> v{"fsync", "write", "rename", "create",   "unlink",
                                            "mkdir", "rmdir", "link",   "setattr",  "fallocate",
                                            "flush", "open",  "read",   "metadata", "all"};
    return v;
}

constexpr long long kMaxNth = 1000000;

std::string ordinal(uint32_t n) {
    const char* suf = (n % 100 >= 11 && n % 100 <= 13) ? "th"
                      : n % 10 == 1                    ? "st"
                      : n % 10 == 2                    ? "nd"
                      : n % 10 == 3                    ? "rd"
                                                       : "th";
    return std::to_string(n) + suf;
}

}  // namespace

std::vector<std::string> crash_volumes(const plan::Plan& plan, const std::vector<std::string>& hosts) {
    std::vector<std::string> out;
    for (auto& s : plan.lab.services) {
        if (!s.volume || !s.volume_volatile) continue;
        for (auto& h : s.hosts)
            if (std::find(hosts.begin(), hosts.end(), h) != hosts.end()) {
                std::string v = *s.volume + " on " + h;
                if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
            }
    }
    return out;
}

std::optional<plan::CrashAt> load_crash_at(plan::FaultContext& ctx, const plan::Field& f, const plan::Fault& fault) {
    plan::MapView m(ctx, f);
    if (!m.ok()) return std::nullopt;
    m.allow({"op", "path", "nth", "when"});
    const size_t before = ctx.error_count();
    plan::CrashAt c;
    c.mark = f.mark;
    if (auto of = m.require("op", "the operation that takes the power: fsync, write, rename, ..."))
        if (auto v = ctx.one_of(*of, op_names(), "operation")) c.op = *v;
    if (auto pf = m.get("path"))
        if (auto v = ctx.str(*pf)) {
            std::string why;
            if (auto rel = plan::volume_relative(*v, "the target hosts' volatile volumes", &why)) {
                c.path = *rel;
                if (c.path.size() + 1 >= size_t(faultfs::kPatternLen))
                    ctx.error(*pf, "path is " + std::to_string(c.path.size()) + " bytes, at most " +
                                       std::to_string(faultfs::kPatternLen - 2));
            } else {
                ctx.error(*pf, "path " + why);
            }
        }
    if (auto nf = m.get("nth"))
        if (auto n = ctx.integer(*nf)) {
            if (*n < 1 || *n > kMaxNth)
                ctx.error(*nf, "nth " + std::to_string(*n) + " is outside 1.." + std::to_string(kMaxNth) +
                                   " (1: the first matching operation)");
            else
                c.nth = uint32_t(*n);
        }
    if (auto wf = m.get("when"))
        if (auto v = ctx.one_of(*wf, {"before", "after"}, "moment")) c.after = *v == "after";
    // The crash point lives in a volatile volume's fault filesystem: the target needs one.
    auto hosts = plan::selected_hosts(ctx.plan().topology, fault.target);
    if (!hosts.empty() && crash_volumes(ctx.plan(), hosts).empty())
        ctx.error(f.key_mark, f.path,
                  "a crash point needs a volatile volume on a host this fault darkens (" + plan::join(hosts) +
                      " have none: declare one with volume: { name, volatile: true })");
    if (ctx.error_count() != before) return std::nullopt;
    return c;
}

std::string crash_text(const plan::CrashAt& c) {
    std::string s = std::string(c.after ? "after" : "before") + " the " + ordinal(c.nth) + " " + c.op;
    s += c.path.empty() ? " (any path)" : " of " + c.path;
    return s;
}

nlohmann::json crash_at_schema() {
    nlohmann::json point = {
        {"type", "object"},
        {"additionalProperties", false},
        {"required", {"op"}},
        {"description", "a crash point: the power goes when a dark host performs this operation on a volatile volume"},
        {"properties",
         {{"op", {{"enum", op_names()}, {"description", "the operation (or class) that takes the power"}}},
          {"path", {{"type", "string"}, {"description", "glob inside the volume (data/*.tmp); default any"}}},
          {"nth",
           {{"type", "integer"}, {"minimum", 1}, {"maximum", kMaxNth}, {"description", "the nth match (default 1)"}}},
          {"when",
           {{"enum", {"before", "after"}},
            {"description", "before (default: the operation is lost too) or after it"}}}}}};
    nlohmann::json time = {{"type", "string"}, {"pattern", "^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$"}};
    return {{"oneOf", {time, point}}, {"description", "when it starts (default 0), or a crash point"}};
}

faultfs::CrashRule crash_rule(const plan::CrashAt& c) {
    faultfs::CrashRule r;
    r.op = c.op;
    r.path = c.path;
    r.nth = c.nth;
    r.after = c.after;
    return r;
}

}  // namespace inj::faults
