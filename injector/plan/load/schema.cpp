// The plan's JSON Schema (draft 2020-12), for editors with a YAML language server: the common
// sections are written here, next to the loader that reads them; each fault kind's keys come
// from its registry row, so a new kind appears in the schema with no change to this file.
// docs/plan.schema.json is this function's output (a unit test keeps the two equal), and every
// plan in experiments/ is validated against it in a test.
//
// The schema checks shape (keys, types, enums); the loader checks everything else (references,
// addresses, timing) and stays the authority: a plan the schema accepts may still be refused.
#include "plan/load/schema.hpp"

#include "faults/registry.hpp"
#include "plan/limits.hpp"
#include "plan/load/volume.hpp"

namespace inj::plan {
namespace {

using nlohmann::json;

json str(const char* doc) { return {{"type", "string"}, {"description", doc}}; }
json integer(const char* doc, int min, int max) {
    return {{"type", "integer"}, {"minimum", min}, {"maximum", max}, {"description", doc}};
}
json boolean(const char* doc) { return {{"type", "boolean"}, {"description", doc}}; }
json duration(const char* doc) {
    return {{"type", "string"}, {"pattern", "^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$"}, {"description", doc}};
}
json name(const char* doc) {
    return {{"type", "string"}, {"pattern", "^[a-z0-9][a-z0-9-]{0,62}$"}, {"description", doc}};
}
json one_or_list(json item) { return {{"oneOf", {item, {{"type", "array"}, {"items", item}}}}}; }
json list(json item, int min = 0) { return {{"type", "array"}, {"items", std::move(item)}, {"minItems", min}}; }
json object(json properties, std::vector<std::string> required = {}) {
    json o = {{"type", "object"}, {"additionalProperties", false}, {"properties", std::move(properties)}};
    if (!required.empty()) o["required"] = required;
    return o;
}

json selector(bool cidr) {
    json p = {{"zone", one_or_list(name("a zone"))},
              {"power_domain", one_or_list(name("a power domain"))},
              {"host", one_or_list(name("a host"))}};
    if (cidr) p["cidr"] = one_or_list(str("an address prefix, e.g. 198.18.4.0/24"));
    json o = object(p);
    o["minProperties"] = 1;
    return o;
}

json check() {
    return object({{"tcp", str("ADDRESS:PORT accepting a connection (a template)")},
                   {"exec", str("a command that exits 0 (a template)")},
                   {"in", name("where it runs: a host or control")},
                   {"timeout", duration("how long the check may take")}});
}

json topology() {
    json zone = object({{"name", name("the zone (a data center)")},
                        {"power_domains", list(name("a power domain of the zone"), 1)},
                        {"subnet", str("IPv4 prefix in 198.18.0.0/15 (default: a free /22)")},
                        {"subnet6", str("IPv6 prefix in 2001:2::/48")},
                        {"cidrs", list(str("an extra prefix of the zone"))},
                        {"switch_power_domain", name("the power domain feeding the zone's switch")}},
                       {"name"});
    json host =
        object({{"name", name("the host; with count, the prefix of its hosts' names")},
                {"zone", name("its zone")},
                {"power_domain", one_or_list(name("its power domain (optional when the zone has one); with count, "
                                                  "the ones its hosts are spread over (default: all the zone's)"))},
                {"count", integer("a host group: this many hosts, NAME-1 to NAME-COUNT, addresses assigned", 1,
                                  static_cast<int>(limits::kMaxHosts))},
                {"addresses", list(str("an address with its prefix length"))},
                {"cidrs", list(str("an extra prefix of the host"))},
                {"container", str("bind to this running container (by name or id)")},
                {"runtime", {{"enum", {"podman", "docker"}}, {"description", "the container's runtime"}}},
                {"netns", str("bind to this network namespace (name or path), with cgroup/pid/pidfile")},
                {"cgroup", str("bind to the processes of this cgroup, e.g. system.slice/x.service")},
                {"pid", integer("bind to this process and its cgroup", 2, 4194304)},
                {"pidfile", str("bind to the process whose pid this file holds")},
                {"local", boolean("bind to this machine itself")},
                {"restart", str("shell command that starts the bound service again after a kill")},
                {"ready", check()},
                {"volumes",
                 list(object({{"name", name("the volume")},
                              {"path", str("its real directory (a container's: a bind mount, host or container side)")},
                              {"volatile", boolean("unsynced writes are lost at a power cut")},
                              {"loss", load::volume_loss_schema()}},
                             {"name", "path"}))}},
               {"name", "zone"});
    json link = object({{"between", {{"type", "array"}, {"items", name("a zone")}, {"minItems", 2}, {"maxItems", 2}}},
                        {"power_domain", name("the power domain feeding the link")}},
                       {"between", "power_domain"});
    return object({{"zones", list(zone, 1)}, {"hosts", list(host, 1)}, {"links", list(link)}}, {"zones", "hosts"});
}

json lab() {
    json volume = {{"oneOf",
                    {name("a per-host directory; {volume} is its path"),
                     object({{"name", name("the volume")},
                             {"volatile", boolean("unsynced writes are lost at a power cut")},
                             {"loss", load::volume_loss_schema()}},
                            {"name"})}}};
    json service = object({{"name", name("the service")},
                           {"hosts", one_or_list(name("a host it runs on"))},
                           {"port", integer("the port {endpoints:SVC} points at", 1, 65535)},
                           {"volume", volume},
                           {"command", str("the command, a template")},
                           {"ready", check()}},
                          {"name", "hosts", "command"});
    return object({{"ready_timeout", duration("every service ready within this")},
                   {"services", list(service)},
                   {"pool_idle_hosts",
                    boolean("hosts no service, probe, fault or link names share one namespace per power domain")}});
}

json probes() {
    json slo = object({{"success_rate", {{"type", "number"}, {"minimum", 0}, {"maximum", 1}}},
                       {"window", duration("the sliding window of the success rate")},
                       {"max_latency", duration("the slowest a success may be")}});
    json status = integer("an expected HTTP status", 100, 599);
    json http = {{"oneOf",
                  {str("the URL (a template); any 2xx answer is a success"),
                   object({{"url", str("http:// or https:// URL (a template)")},
                           {"method", {{"enum", {"GET", "HEAD", "POST"}}}},
                           {"status", {{"oneOf", {status, {{"type", "array"}, {"items", status}}}}}},
                           {"body_contains", str("text the answer's body must hold")}},
                          {"url"})}}};
    json prometheus = object({{"url", str("a Prometheus server: query is PromQL (a template)")},
                              {"metrics", str("a /metrics page: query is one series selector (a template)")},
                              {"query", str("PromQL, or a selector name{label=\"v\"}")},
                              {"above", {{"type", "number"}, {"description", "every series must be above this"}}},
                              {"below", {{"type", "number"}, {"description", "every series must be below this"}}}},
                             {"query"});
    json probe = object({{"name", name("the probe")},
                         {"exec", str("a command, exit 0 = success (a template)")},
                         {"tcp", str("ADDRESS:PORT that must accept a connection")},
                         {"http", http},
                         {"prometheus", prometheus},
                         {"in", name("where it runs: a host or control")},
                         {"every", duration("how often (at least 10ms)")},
                         {"timeout", duration("how long one attempt may take")},
                         {"slo", slo},
                         {"acknowledges", str("the record a success acknowledged (a template), for verify")}},
                        {"name"});
    return object({{"probes", list(probe)}}, {"probes"});
}

json safety() {
    json blast = object(
        {{"max_hosts",
          {{"oneOf",
            {{{"type", "integer"}, {"minimum", 0}}, {{"type", "string"}, {"pattern", "^[0-9]+(\\.[0-9]+)?%$"}}}}}},
         {"max_zones", integer("zones cut off at most", 0, 1000000)},
         {"max_power_domains", integer("power domains cut off at most", 0, 1000000)}});
    json prot = object({{"zone", name("a zone, or control")},
                        {"power_domain", name("a power domain")},
                        {"host", name("a host, or control")},
                        {"cidr", str("any prefix")},
                        {"interface", str("an interface of this machine")},
                        {"port", integer("a TCP port listening on this machine", 1, 65535)}});
    prot["minProperties"] = 1;
    prot["maxProperties"] = 1;
    json abort_when = object({{"probe", name("a steady_state probe")},
                              {"success_rate_below", {{"type", "number"}, {"minimum", 0}, {"maximum", 1}}},
                              {"latency_above", duration("every sample of the window slower than this")},
                              {"failures_in_a_row", integer("failures in a row", 1, 1000000)},
                              {"for", duration("the window (default 10s)")}},
                             {"probe"});
    return object({{"max_duration", duration("the run is stopped here; no fault may end later")},
                   {"blast_radius", blast},
                   {"protected", list(prot)},
                   {"abort_when", list(abort_when)}},
                  {"max_duration"});
}

// A method entry: the common keys plus one kind's own, chosen by `fault`.
json method() {
    json kinds = json::array();
    json names = json::array();
    for (const faults::Kind* k : faults::kinds()) {
        names.push_back(k->name);
        json props = {{"name", name("the fault")},
                      {"fault", {{"const", k->name}, {"description", k->summary}}},
                      {"at", duration("when it starts, from the start of the run (default 0)")},
                      {"duration", duration("how long it is in force")},
                      {"target", selector(!k->host_target)}};
        if (k->takes_peer) props["peer"] = selector(!k->host_target);
        for (auto& key : k->keys) {
            json s = key.schema;
            if (s.is_object() && !s.contains("description")) s["description"] = key.doc;
            props[key.name] = s;
        }
        kinds.push_back({{"if", {{"properties", {{"fault", {{"const", k->name}}}}}, {"required", {"fault"}}}},
                         {"then", object(props, {"name", "fault", "duration", "target"})}});
    }
    json item = {{"type", "object"},
                 {"required", {"name", "fault"}},
                 {"properties", {{"fault", {{"enum", names}, {"description", "the kind of fault"}}}}},
                 {"allOf", kinds}};
    return list(item, 1);
}

}  // namespace

nlohmann::json plan_schema() {
    json verify = object({{"name", name("the step")},
                          {"probe", name("the probe whose acknowledged records are read back")},
                          {"exec", str("the read-back command (a template)")},
                          {"in", name("where it runs")},
                          {"timeout", duration("how long it may take")}},
                         {"name", "probe", "exec"});
    json expect = object({{"rto", duration("each restored service ready within this")},
                          {"rpo", {{"oneOf", {{{"type", "integer"}, {"minimum", 0}}, duration("a time window")}}}}});
    json s = object({{"name", name("the plan")},
                     {"description", str("what the drill rehearses")},
                     {"topology", topology()},
                     {"lab", lab()},
                     {"steady_state", probes()},
                     {"method", method()},
                     {"safety", safety()},
                     {"verify", list(verify)},
                     {"expect", expect}},
                    {"name", "topology", "method", "safety"});
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema";
    s["title"] = "injector experiment plan";
    return s;
}

}  // namespace inj::plan
