// degrade_storage: a host's volume gets a bad disk while the fault is in force: latency per
// operation class, errors by errno, full, read-only, a throughput/IOPS limit. Applied by the
// storage engine through each volume's fault filesystem daemon.
#include <algorithm>
#include <ostream>

#include "faultfs/control.hpp"
#include "faults/facilities.hpp"
#include "faults/registry.hpp"
#include "plan/json.hpp"
#include "storage/storage_engine.hpp"

namespace inj::faults {
namespace {
using namespace plan;

// `5ms` or `{ fixed: 5ms, jitter: 2ms }`.
std::optional<IoLatency> read_latency(plan::FaultContext& ctx, const plan::Field& f) {
    IoLatency l;
    if (f.node.IsScalar()) {
        auto d = ctx.duration(f, true);
        if (!d) return std::nullopt;
        l.fixed = *d;
    } else {
        plan::MapView m(ctx, f);
        if (!m.ok()) return std::nullopt;
        m.allow({"fixed", "jitter"});
        auto ff = m.require("fixed");
        if (!ff) return std::nullopt;
        auto d = ctx.duration(*ff, false);
        if (!d) return std::nullopt;
        l.fixed = *d;
        if (auto jf = m.get("jitter")) {
            auto j = ctx.duration(*jf, false);
            if (!j) return std::nullopt;
            l.jitter = *j;
        }
        if (!l.any()) {
            ctx.error(f, "a latency of 0 with no jitter delays nothing; leave it out");
            return std::nullopt;
        }
    }
    if (l.fixed + l.jitter > std::chrono::seconds(60)) {
        ctx.error(f, "latency above 60s (fixed + jitter) would hang the service's I/O, not slow it");
        return std::nullopt;
    }
    return l;
}
// `{ errno: EIO, probability: 0.1, ops: [write, fsync], path: "member/wal/*" }`.
void read_error(plan::FaultContext& ctx, const plan::Field& f, StorageDegrade& sd) {
    plan::MapView m(ctx, f);
    if (!m.ok()) return;
    m.allow({"errno", "probability", "ops", "path"});
    StorageError e;
    e.mark = f.mark;
    if (auto ef = m.require("errno", "the error the program sees, by name: EIO, ENOSPC, EROFS, EDQUOT, ..."))
        if (auto v = ctx.str(*ef)) {
            e.errno_name = *v;
            e.err = faultfs::errno_by_name(*v);
            if (e.err == 0)
                ctx.error(*ef, "unknown errno '" + *v + "' (e.g. EIO, ENOSPC, EROFS, EDQUOT, EACCES, ETIMEDOUT)");
        }
    if (auto pf = m.get("probability"))
        if (auto v = ctx.number(*pf)) {
            if (!(*v > 0.0 && *v <= 1.0))
                ctx.error(*pf, "probability " + pf->node.Scalar() + " is outside (0, 1]");
            else
                e.probability = *v;
        }
    if (auto of = m.get("ops"))
        if (auto items = ctx.one_or_list(*of)) {
            if (items->empty()) ctx.error(*of, "an empty list matches nothing; leave `ops` out for every operation");
            for (auto& it : *items)
                if (auto v = ctx.str(it)) {
                    if (faultfs::ops_by_name(*v) == 0)
                        ctx.error(it, "unknown operation '" + *v +
                                          "' (classes: read, write, fsync, metadata, all; or one of open, create, "
                                          "mkdir, unlink, rmdir, rename, link, lookup, getattr, setattr, readdir, "
                                          "statfs, fallocate, readlink, flush)");
                    else
                        e.ops.push_back(*v);
                }
        }
    if (auto pf = m.get("path"))
        if (auto v = ctx.str(*pf)) {
            std::string why;
            std::string vols = sd.volume.empty() ? "none" : "volume " + sd.volume;
            if (auto rel = volume_relative(*v, vols, &why))
                e.path = *rel;
            else
                ctx.error(*pf, "path " + why);
        }
    sd.errors.push_back(std::move(e));
}
// degrade_storage's own keys. The volume must be declared by the lab on every target host, and
// every path is relative to it (a plan cannot reach outside the volumes it declares).
void load(plan::FaultContext& ctx, plan::MapView& m, const plan::Field& item, plan::Fault& fault) {
    auto& spec = fault.spec.emplace<plan::DegradeStorageSpec>();
    StorageDegrade& sd = spec.disk;
    sd.mark = fault.mark;
    std::vector<std::string> hosts = selected_hosts(ctx.plan().topology, fault.target);
    std::vector<std::string> declared;
    for (auto& h : ctx.plan().topology.hosts)
        for (auto& v : plan::volumes_of(ctx.plan(), h.name))
            if (std::find(declared.begin(), declared.end(), v) == declared.end()) declared.push_back(v);
    const bool bound = ctx.plan().topology.bound();
    if (auto vf = m.require("volume", "the volume whose disk degrades (a lab service's or a bound host's volume)"))
        if (auto v = ctx.name(*vf)) {
            sd.volume = *v;
            if (declared.empty()) {
                ctx.error(*vf,
                          bound ? "no host declares a volume, so there is nothing to degrade (add `volumes:` to a host)"
                                : "no lab service declares a volume, so there is nothing to degrade (add `volume:` to "
                                  "a service)");
            } else if (std::find(declared.begin(), declared.end(), *v) == declared.end()) {
                ctx.error(*vf, "unknown volume '" + *v + "' (volumes the plan declares: " + join(declared) + ")");
            } else {
                for (auto& h : hosts) {
                    auto have = plan::volumes_of(ctx.plan(), h);
                    if (std::find(have.begin(), have.end(), *v) == have.end())
                        ctx.error(*vf, "host '" + h + "' of the target has no volume '" + *v + "'" +
                                           (bound ? "" : " (no service there declares it)"));
                }
            }
        }
    bool any = false;
    if (auto lf = m.get("latency")) {
        plan::MapView lm(ctx, *lf);
        if (lm.ok()) {
            lm.allow({"read", "write", "fsync", "metadata"});
            for (auto [key, dst] :
                 {std::pair{"read", &sd.read}, {"write", &sd.write}, {"fsync", &sd.fsync}, {"metadata", &sd.metadata}})
                if (auto f = lm.get(key))
                    if (auto l = read_latency(ctx, *f)) {
                        *dst = *l;
                        any = true;
                    }
        }
    }
    if (auto ef = m.get("errors"))
        if (auto items = ctx.list(*ef)) {
            if (items->empty()) ctx.error(*ef, "an empty list injects nothing; leave `errors` out");
            if (items->size() > size_t(faultfs::kMaxErrorRules))
                ctx.error(*ef, "at most " + std::to_string(faultfs::kMaxErrorRules) + " error rules per fault");
            for (auto& it : *items) read_error(ctx, it, sd);
            any = any || !items->empty();
        }
    if (auto f = m.get("full"))
        if (auto b = ctx.boolean(*f)) {
            sd.full = *b;
            any = any || *b;
        }
    if (auto f = m.get("read_only"))
        if (auto b = ctx.boolean(*f)) {
            sd.read_only = *b;
            any = any || *b;
        }
    if (auto lf = m.get("limit")) {
        plan::MapView lm(ctx, *lf);
        if (lm.ok()) {
            lm.allow({"read_bps", "write_bps", "read_iops", "write_iops"});
            for (auto [key, dst] : {std::pair{"read_bps", &sd.read_bps}, {"write_bps", &sd.write_bps}})
                if (auto f = lm.get(key))
                    if (auto v = ctx.str(*f)) {
                        std::string why;
                        if (auto b = parse_bytes(*v, &why)) {
                            *dst = *b;
                            any = true;
                        } else {
                            ctx.error(*f, "bad rate '" + *v + "': " + why);
                        }
                    }
            for (auto [key, dst] : {std::pair{"read_iops", &sd.read_iops}, {"write_iops", &sd.write_iops}})
                if (auto f = lm.get(key))
                    if (auto v = ctx.integer(*f)) {
                        if (*v < 1 || *v > 10000000)
                            ctx.error(*f, "iops " + std::to_string(*v) + " is outside 1..10000000");
                        else {
                            *dst = uint64_t(*v);
                            any = true;
                        }
                    }
        }
    }
    if (!any)
        ctx.error(item, "degrade_storage needs at least one of latency, errors, full: true, read_only: true or limit");
}

void describe(std::ostream& out, const DescribeContext& c) {
    const plan::Fault& f = c.fault();
    const auto& s = *f.as<plan::DegradeStorageSpec>();
    out << headline(f) << "degrade_storage of volume " << s.disk.volume << " on " << plan::describe(f.target) << " for "
        << format_duration(f.duration) << ", healed at T+" << format_duration(f.at + f.duration) << "  ["
        << f.mark.str() << "]\n";
    out << "      " << storage::describe(s.disk) << " (through faultfs; no network cut)\n";
}

std::vector<Key> keys() {
    nlohmann::json latency = {
        {"oneOf",
         {{{"type", "string"}},
          {{"type", "object"},
           {"additionalProperties", false},
           {"required", {"fixed"}},
           {"properties", {{"fixed", {{"type", "string"}}}, {"jitter", {{"type", "string"}}}}}}}}};
    nlohmann::json lat_props = nlohmann::json::object();
    for (const char* k : {"read", "write", "fsync", "metadata"}) lat_props[k] = latency;
    nlohmann::json error = {
        {"type", "object"},
        {"additionalProperties", false},
        {"required", {"errno"}},
        {"properties",
         {{"errno", {{"type", "string"}}},
          {"probability", {{"type", "number"}, {"exclusiveMinimum", 0}, {"maximum", 1}}},
          {"ops", {{"oneOf", {{{"type", "string"}}, {{"type", "array"}, {"items", {{"type", "string"}}}}}}}},
          {"path", {{"type", "string"}}}}}};
    nlohmann::json limit = {{"type", "object"},
                            {"additionalProperties", false},
                            {"properties",
                             {{"read_bps", {{"type", {"string", "integer"}}}},
                              {"write_bps", {{"type", {"string", "integer"}}}},
                              {"read_iops", {{"type", "integer"}, {"minimum", 1}}},
                              {"write_iops", {{"type", "integer"}, {"minimum", 1}}}}}};
    return {
        {"volume", "the volume whose disk degrades (declared by a service on every target host)", {{"type", "string"}}},
        {"latency",
         "per operation class: { read, write, fsync, metadata }, each 5ms or { fixed, jitter }",
         {{"type", "object"}, {"additionalProperties", false}, {"properties", lat_props}}},
        {"errors", "errno rules: [{ errno: EIO, probability, ops, path }]", {{"type", "array"}, {"items", error}}},
        {"full", "statfs shows no space; growing writes fail with ENOSPC", {{"type", "boolean"}}},
        {"read_only", "every mutating operation fails with EROFS", {{"type", "boolean"}}},
        {"limit", "a token bucket: { read_bps: 10MiB, write_bps, read_iops, write_iops }", limit}};
}

}  // namespace

extern const Kind kDegradeStorage{
    "degrade_storage",
    "a volume's disk turns slow, failing, full or read-only while the fault is in force",
    plan::DegradeStorageSpec::takes_peer,
    plan::DegradeStorageSpec::host_target,
    keys(),
    load,
    describe,
    nullptr,
    [](Facilities& f) -> Engine* { return &f.disks(); },
};

}  // namespace inj::faults
