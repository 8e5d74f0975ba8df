// The plan loader: YAML -> model with every rule of the schema checked (see loader.hpp and
// experiments/zone-sever.yaml for the schema). It runs in phases so that one broken item does
// not hide the problems of the others:
//   1. structure, types, names and references, item by item, in a fixed order (topology, lab,
//      safety, steady_state, method) so that each reference resolves against what came before;
//   2. address overlaps, then address assignment (only when the topology is clean);
//   3. checks that need addresses: templates expanded once per host, target/peer overlap.
// yaml-cpp is used only here; its exceptions become PlanErrors.
#include "plan/loader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <tuple>
#include <set>
#include <sstream>
#include <yaml-cpp/yaml.h>

#include "faultfs/control.hpp"
#include "plan/limits.hpp"
#include "plan/prefix_set.hpp"
#include "plan/probe_http.hpp"
#include "plan/template.hpp"
#include "plan/yaml_guard.hpp"

namespace inj::plan {

std::string PlanError::str() const {
    std::string s = mark.line > 0 ? mark.str() : mark.file;
    s += ": ";
    if (!path.empty()) s += path + ": ";
    return s + message;
}

const std::vector<std::string>& service_template_vars() {
    static const std::vector<std::string> v{"lab"};
    return v;
}
const std::vector<std::string>& probe_template_vars() {
    static const std::vector<std::string> v{"lab", "run", "seq"};
    return v;
}
const std::vector<std::string>& verify_template_vars() {
    static const std::vector<std::string> v{"lab", "run", "ack"};
    return v;
}

namespace {

using YAML::Node;

// Where zones get their subnet when the plan gives none: one /22 each, inside this /16.
constexpr int kAutoPrefix = 22;
constexpr uint64_t kAutoSlots = 1u << (kAutoPrefix - 16);  // /22s in a /16
// Sequential assignment inside a huge IPv6 subnet stops here; no lab has this many hosts.
constexpr uint64_t kMaxAssign = 1u << 20;

// A value in the document with where it came from.
struct Field {
    Node node;
    std::string path;
    Mark mark;      // of the value; the key's when the value has no position
    Mark key_mark;  // of the key that introduced the value (for list items: the item itself)
};

// A path inside a volume, as a degrade_storage plan writes it: relative to the volume, never
// leaving it. Returns the normalised path ("member/wal/*"), or nullopt with the reason.
std::optional<std::string> volume_relative(const std::string& p, const std::string& volumes, std::string* why) {
    static const std::set<std::string> system_dirs{"bin",  "boot", "dev", "etc", "home", "lib",  "lib64", "media",
                                                   "mnt",  "opt",  "proc", "root", "run", "sbin", "srv", "sys",
                                                   "tmp",  "usr",  "var"};
    const std::string outside = " is outside the volumes this plan declares (" + volumes +
                                "); a degrade_storage path is relative to its volume, e.g. 'member/wal/*'";
    if (p.empty()) {
        *why = "must not be empty";
        return std::nullopt;
    }
    if (p[0] == '/') {
        std::string first = p.substr(1, p.find('/', 1) == std::string::npos ? std::string::npos : p.find('/', 1) - 1);
        if (p.find_first_not_of('/') == std::string::npos) *why = "'" + p + "' is the root directory: it" + outside;
        else if (system_dirs.count(first)) *why = "'" + p + "' is a system directory: it" + outside;
        else *why = "'" + p + "' is an absolute path: it" + outside;
        return std::nullopt;
    }
    if (p[0] == '~') {
        *why = "'" + p + "'" + outside;
        return std::nullopt;
    }
    std::vector<std::string> parts;
    std::stringstream ss(p);
    std::string c;
    while (std::getline(ss, c, '/')) {
        if (c.empty() || c == ".") continue;
        if (c == "..") {
            *why = "'" + p + "' leaves the volume through '..': it" + outside;
            return std::nullopt;
        }
        parts.push_back(c);
    }
    if (parts.empty()) {
        *why = "'" + p + "' names the volume itself; leave `path` out to match every file";
        return std::nullopt;
    }
    std::string out;
    for (auto& part : parts) out += (out.empty() ? "" : "/") + part;
    return out;
}

// "10MiB", "10MiB/s", "512KiB", "1G", "1000000" (bytes); nullopt with the reason.
std::optional<uint64_t> parse_bytes(std::string s, std::string* why) {
    if (s.size() > 2 && s.compare(s.size() - 2, 2, "/s") == 0) s.resize(s.size() - 2);
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    // The whole number must parse ("1.2.3MiB" and "." are not numbers).
    const std::string number = s.substr(0, i);
    char* end = nullptr;
    double v = number.find_first_of("0123456789") == std::string::npos ? 0 : std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size()) {
        *why = "expected a number of bytes, e.g. 10MiB";
        return std::nullopt;
    }
    std::string unit = s.substr(i);
    while (!unit.empty() && unit[0] == ' ') unit.erase(0, 1);
    static const std::map<std::string, double> units{
        {"", 1},           {"B", 1},           {"k", 1e3},          {"K", 1e3},          {"KB", 1e3},
        {"kB", 1e3},       {"KiB", 1024.0},    {"M", 1e6},          {"MB", 1e6},         {"MiB", 1048576.0},
        {"G", 1e9},        {"GB", 1e9},        {"GiB", 1073741824.0}};
    auto u = units.find(unit);
    if (u == units.end()) {
        *why = "unknown unit '" + unit + "' (use B, KB, KiB, MB, MiB, GB, GiB)";
        return std::nullopt;
    }
    double bytes = v * u->second;
    if (!(bytes >= 1) || bytes > 1e15) {
        *why = "must be between 1 byte and 1 PB";
        return std::nullopt;
    }
    return static_cast<uint64_t>(bytes);
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
    std::string s;
    for (auto& x : v) {
        if (!s.empty()) s += sep;
        s += x;
    }
    return s;
}

std::string child_path(const std::string& parent, const std::string& key) {
    return parent.empty() ? key : parent + "." + key;
}

std::string describe(const Node& n) {
    switch (n.Type()) {
        case YAML::NodeType::Map: return "a map";
        case YAML::NodeType::Sequence: return "a list";
        case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
        default: return "nothing";
    }
}

size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

// Names become parts of namespace, cgroup and file names, so they stay plain.
bool valid_name(const std::string& s) {
    if (s.empty() || s.size() > 63 || s.front() == '-') return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

bool in_lab_range(const Cidr& c) { return lab_range_v4().contains(c) || lab_range_v6().contains(c); }
std::string lab_range_text() { return lab_range_v4().str() + " or " + lab_range_v6().str(); }

uint64_t host_slots(const Cidr& subnet) {
    int host_bits = subnet.addr.bits() - subnet.prefix;
    return host_bits >= 21 ? kMaxAssign : (uint64_t{1} << host_bits);
}

// A prefix the topology owns, for overlap checks: a zone's subnet/subnet6/cidrs (host = -1)
// or a host's address (as a host route) or cidr.
struct Owned {
    Cidr prefix;
    int zone = -1;
    int host = -1;
    std::string what;  // "zone pangyo subnet 198.18.0.0/22"
    Mark mark;
    std::string path;
};

// A template the plan holds, kept for the dry expansion once addresses exist.
struct TemplateUse {
    std::string text;
    Mark mark;
    std::string path;
    std::vector<std::string> hosts;  // expanded once per host; {""} for no current host
    std::string volume;
    const std::vector<std::string>* vars;
    bool clean = true;  // passed check_template (else its problems are already reported)
};

class Loader;

// A YAML map being read: keys are looked up by name, unknown and duplicate keys reported.
class MapView {
public:
    MapView(Loader& l, const Field& f);
    bool ok() const { return ok_; }
    // Reports every key not in `allowed` (with the allowed list and a guess at the intended one).
    void allow(std::initializer_list<const char*> allowed);
    std::optional<Field> get(const std::string& key) const;
    std::optional<Field> require(const std::string& key, const std::string& why = {});

private:
    struct Entry {
        std::string key;
        Mark key_mark;
        Field value;
    };
    Loader& l_;
    Field self_;
    bool ok_ = false;
    std::vector<Entry> entries_;
};

class Loader {
public:
    explicit Loader(std::string file) : file_(std::move(file)) {}

    LoadResult run(const std::string& text);

    Mark mark_of(const YAML::Mark& m, const Mark& fallback) const {
        if (m.is_null() || m.line < 0) return fallback;
        return Mark{file_, m.line + 1, m.column + 1};
    }
    Mark mark_of(const Node& n, const Mark& fallback) const { return mark_of(n.Mark(), fallback); }

    void error(const Mark& m, const std::string& path, std::string msg) {
        errors_.push_back(PlanError{m, path, std::move(msg)});
    }
    void error(const Field& f, std::string msg) { error(f.mark, f.path, std::move(msg)); }

    // --- typed values; each reports its own problem and returns nullopt ---
    std::optional<std::string> str(const Field& f) {
        if (!f.node.IsScalar()) {
            error(f, "expected a string, got " + describe(f.node));
            return std::nullopt;
        }
        return f.node.Scalar();
    }
    std::optional<std::string> nonempty_str(const Field& f) {
        auto s = str(f);
        if (s && s->empty()) {
            error(f, "must not be empty");
            return std::nullopt;
        }
        return s;
    }
    std::optional<std::string> name(const Field& f) {
        auto s = str(f);
        if (s && !valid_name(*s)) {
            error(f, "'" + *s + "' is not a valid name: use a-z, 0-9 and '-' (not first), at most 63 characters");
            return std::nullopt;
        }
        return s;
    }
    std::optional<double> number(const Field& f) {
        double d;
        if (!f.node.IsScalar() || !YAML::convert<double>::decode(f.node, d)) {
            error(f, "expected a number, got " + describe(f.node));
            return std::nullopt;
        }
        return d;
    }
    std::optional<bool> boolean(const Field& f) {
        bool b;
        if (!f.node.IsScalar() || !YAML::convert<bool>::decode(f.node, b)) {
            error(f, "expected true or false, got " + describe(f.node));
            return std::nullopt;
        }
        return b;
    }
    std::optional<long long> integer(const Field& f) {
        long long v;
        if (!f.node.IsScalar() || !YAML::convert<long long>::decode(f.node, v)) {
            error(f, "expected a whole number, got " + describe(f.node));
            return std::nullopt;
        }
        return v;
    }
    std::optional<Duration> duration(const Field& f, bool positive) {
        auto s = str(f);
        if (!s) return std::nullopt;
        std::string why;
        auto d = parse_duration(*s, &why);
        if (!d) {
            error(f, "bad duration '" + *s + "': " + why);
            return std::nullopt;
        }
        if (positive && d->count() == 0) {
            error(f, "must be longer than 0 (got '" + *s + "')");
            return std::nullopt;
        }
        return d;
    }
    std::optional<Cidr> cidr(const Field& f) {
        auto s = str(f);
        if (!s) return std::nullopt;
        std::string why;
        auto c = Cidr::parse(*s, &why);
        if (!c) {
            error(f, "bad address '" + *s + "': " + why);
            return std::nullopt;
        }
        if (!in_lab_range(*c)) {
            error(f, c->str() + " is not a lab address: lab addresses must lie in " + lab_range_text());
            return std::nullopt;
        }
        return c;
    }
    size_t items_seen_ = 0;  // items of every list walked so far (limits::kMaxTotalItems)
    // A list; null counts as empty. Items carry their own paths and marks.
    std::optional<std::vector<Field>> list(const Field& f) {
        if (f.node.IsNull()) return std::vector<Field>{};
        if (!f.node.IsSequence()) {
            error(f, "expected a list, got " + describe(f.node));
            return std::nullopt;
        }
        if (f.node.size() > limits::max_items(f.path)) {
            error(f, "too many items: " + std::to_string(f.node.size()) + ", at most " +
                         std::to_string(limits::max_items(f.path)) + " (see plan/limits.hpp)");
            return std::nullopt;
        }
        items_seen_ += f.node.size();
        if (items_seen_ > limits::kMaxTotalItems) {
            // Said once; every list after this one is refused in silence.
            if (items_seen_ - f.node.size() <= limits::kMaxTotalItems)
                error(f, "the plan's lists hold more than " + std::to_string(limits::kMaxTotalItems) +
                             " items in all (an alias counts each time it is used)");
            return std::nullopt;
        }
        std::vector<Field> out;
        for (size_t i = 0; i < f.node.size(); ++i) {
            Node item = f.node[i];
            Mark m = mark_of(item, f.mark);
            out.push_back(Field{item, f.path + "[" + std::to_string(i) + "]", m, m});
        }
        return out;
    }
    // "a name or a list of names": a scalar stands for a list of one.
    std::optional<std::vector<Field>> one_or_list(const Field& f) {
        if (f.node.IsScalar()) return std::vector<Field>{f};
        if (f.node.IsNull()) {
            error(f, "expected a name or a list, got nothing");
            return std::nullopt;
        }
        if (f.node.IsMap()) {
            error(f, "expected a name or a list, got a map");
            return std::nullopt;
        }
        return list(f);
    }

private:
    // --- phase 1 ---
    void load_root(const Node& root);
    void load_topology(const Field& f);
    void load_zone(const Field& f);
    void load_host(const Field& f);
    void load_lab(const Field& f);
    void load_service(const Field& f);
    std::optional<Check> load_check(const Field& f, const std::vector<std::string>& hosts);
    void load_safety(const Field& f);
    void load_blast_radius(const Field& f);
    void load_protected(const Field& f);
    void load_abort_when(const Field& f);
    void check_abort_probes();
    void load_steady_state(const Field& f);
    void load_probe(const Field& f);
    void load_slo(const Field& f, Slo& slo);
    void load_link(const Field& f);
    void check_power_feeds();
    void load_verify(const Field& f);
    void load_expect(const Field& f);
    void load_method(const Field& f);
    void load_fault(const Field& f);
    // no_cidr_kind: the fault kind (for the message) when CIDRs are refused, or nullptr.
    Selector load_selector(const Field& f, const char* no_cidr_kind = nullptr);
    void load_power(MapView& m, Fault& fault);
    void load_storage(MapView& m, Fault& fault, const Field& f);
    std::optional<IoLatency> load_latency(const Field& f);
    void load_storage_error(const Field& f, StorageDegrade& sd);
    void load_degrade(MapView& m, Fault& fault, const Field& f);
    std::optional<double> probability(const Field& f);
    std::optional<std::string> load_in(const Field& f);
    void check_tcp_target(const Field& f, const std::string& target);
    void use_template(const Field& f, const std::string& text, bool has_host, std::vector<std::string> hosts,
                      std::string volume, const std::vector<std::string>& vars);

    // --- phase 2 ---
    void check_overlaps();
    void assign_addresses();
    bool taken(const Cidr& c, int zone) const;

    // --- phase 3 ---
    void expand_templates();
    void check_fault_sides();

    // Registers a name of a kind; reports a duplicate with the line of the first.
    void unique(const char* kind, std::map<std::string, Mark>& seen, const std::string& n, const Field& f) {
        auto [it, fresh] = seen.emplace(n, f.mark);
        if (!fresh)
            error(f, std::string("duplicate ") + kind + " name '" + n + "' (first at line " +
                         std::to_string(it->second.line) + ")");
    }
    std::vector<std::string> names_of_zones() const {
        std::vector<std::string> v;
        for (auto& z : plan_.topology.zones) v.push_back(z.name);
        return v;
    }
    std::vector<std::string> names_of_hosts() const {
        std::vector<std::string> v;
        for (auto& h : plan_.topology.hosts) v.push_back(h.name);
        return v;
    }
    std::vector<std::string> names_of_power_domains() const {
        std::vector<std::string> v;
        for (auto& p : plan_.topology.power_domains) v.push_back(p.name);
        return v;
    }

    std::string file_;
    std::vector<PlanError> errors_;
    Plan plan_;
    std::map<std::string, Mark> zone_names_, host_names_, service_names_, probe_names_, fault_names_;
    bool topology_clean_ = false;
    bool addresses_assigned_ = false;
    std::vector<Owned> owned_;
    std::vector<TemplateUse> templates_;
    std::vector<std::string> fault_paths_;  // method[i] for each entry of plan_.method
    // safety.abort_when[i].probe fields: probes load after safety, so names resolve afterwards.
    std::vector<Field> abort_probe_fields_;
    // zones[i].switch_power_domain fields: checked once every zone (and domain) is known.
    std::vector<Field> switch_power_fields_;
};

MapView::MapView(Loader& l, const Field& f) : l_(l), self_(f) {
    if (f.node.IsNull()) {
        ok_ = true;  // "key:" with nothing after it reads as an empty map
        return;
    }
    if (!f.node.IsMap()) {
        l.error(f, "expected a map, got " + describe(f.node));
        return;
    }
    ok_ = true;
    for (auto it = f.node.begin(); it != f.node.end(); ++it) {
        Mark km = l.mark_of(it->first, f.mark);
        if (!it->first.IsScalar()) {
            l.error(km, f.path, "keys must be plain words, got " + describe(it->first));
            continue;
        }
        std::string key = it->first.Scalar();
        std::string path = child_path(f.path, key);
        bool dup = std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == key; });
        if (dup) {
            l.error(km, path, "duplicate key '" + key + "'");
            continue;
        }
        entries_.push_back(Entry{key, km, Field{it->second, path, l.mark_of(it->second, km), km}});
    }
}

void MapView::allow(std::initializer_list<const char*> allowed) {
    for (auto& e : entries_) {
        bool known = std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return e.key == a; });
        if (known) continue;
        std::vector<std::string> names(allowed.begin(), allowed.end());
        std::string msg = "unknown key '" + e.key + "'";
        for (auto& n : names)
            if (edit_distance(e.key, n) <= 2) {
                msg += " (did you mean '" + n + "'?)";
                break;
            }
        l_.error(e.key_mark, e.value.path, msg + "; allowed here: " + join(names));
    }
}

std::optional<Field> MapView::get(const std::string& key) const {
    for (auto& e : entries_)
        if (e.key == key) return e.value;
    return std::nullopt;
}

std::optional<Field> MapView::require(const std::string& key, const std::string& why) {
    auto f = get(key);
    if (!f && ok_)
        l_.error(self_.key_mark, child_path(self_.path, key),
                 "missing required key '" + key + "'" + (why.empty() ? "" : " (" + why + ")"));
    return f;
}

// ---------------------------------------------------------------------------------------------

LoadResult Loader::run(const std::string& text) {
    std::vector<Node> docs;
    if (text.size() > limits::kMaxPlanBytes) {
        error(Mark{file_, 1, 1}, "", "the plan is " + std::to_string(text.size()) + " bytes, more than the " +
                                        std::to_string(limits::kMaxPlanBytes) + " a plan may have");
    } else if (auto at = stray_flow_comma(text)) {
        error(Mark{file_, at->first, at->second}, "",
              "YAML syntax: a line may not begin with ',' outside [...] or {...} (quote the text if it is one)");
    } else {
        try {
            docs = YAML::LoadAll(text);
        } catch (const YAML::Exception& e) {
            error(mark_of(e.mark, Mark{file_, 1, 1}), "", "YAML syntax: " + e.msg);
        }
    }
    if (errors_.empty()) {
        if (docs.empty() || docs[0].IsNull()) {
            error(Mark{file_, 1, 1}, "", "the plan is empty");
        } else {
            if (docs.size() > 1)
                error(mark_of(docs[1], Mark{file_, 1, 1}), "",
                      "a plan file holds one YAML document, this one has " + std::to_string(docs.size()));
            try {
                load_root(docs[0]);
            } catch (const YAML::Exception& e) {
                // Reading goes through checked accessors; this is the net for whatever slips past.
                error(mark_of(e.mark, Mark{file_, 1, 1}), "", std::string("YAML: ") + e.what());
            }
        }
    }
    std::stable_sort(errors_.begin(), errors_.end(), [](const PlanError& a, const PlanError& b) {
        return std::tie(a.mark.line, a.mark.col) < std::tie(b.mark.line, b.mark.col);
    });
    LoadResult r;
    r.errors = std::move(errors_);
    if (r.errors.empty()) r.plan = std::move(plan_);
    return r;
}

void Loader::load_root(const Node& root) {
    Mark top = mark_of(root, Mark{file_, 1, 1});
    Field f{root, "", top, top};
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"name", "description", "topology", "lab", "steady_state", "method", "safety", "verify", "expect"});
    plan_.file = file_;
    if (auto n = m.require("name"))
        if (auto s = name(*n)) plan_.name = *s;
    if (auto d = m.get("description"))
        if (auto s = str(*d)) plan_.description = *s;

    size_t before = errors_.size();
    if (auto t = m.require("topology")) load_topology(*t);
    topology_clean_ = errors_.size() == before;
    if (topology_clean_) assign_addresses();

    if (auto l = m.get("lab")) load_lab(*l);
    if (auto s = m.require("safety", "safety.max_duration bounds every run")) load_safety(*s);
    if (auto s = m.get("steady_state")) load_steady_state(*s);
    check_abort_probes();
    if (auto me = m.require("method")) load_method(*me);
    if (auto v = m.get("verify")) load_verify(*v);
    if (auto e = m.get("expect")) load_expect(*e);

    expand_templates();
    check_fault_sides();
}

// --- topology ---------------------------------------------------------------------------------

void Loader::load_topology(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"zones", "hosts", "links"});
    if (auto zs = m.require("zones"))
        if (auto items = list(*zs)) {
            if (items->empty()) error(*zs, "a topology needs at least one zone");
            for (auto& it : *items) load_zone(it);
        }
    if (auto hs = m.require("hosts"))
        if (auto items = list(*hs)) {
            if (items->empty()) error(*hs, "a topology needs at least one host");
            for (auto& it : *items) load_host(it);
        }
    if (auto ls = m.get("links"))
        if (auto items = list(*ls))
            for (auto& it : *items) load_link(it);
    check_power_feeds();
    check_overlaps();
}

void Loader::load_zone(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"name", "power_domains", "subnet", "subnet6", "cidrs", "switch_power_domain"});
    Zone z;
    z.mark = f.mark;
    int zi = static_cast<int>(plan_.topology.zones.size());
    if (auto n = m.require("name"))
        if (auto s = name(*n)) {
            z.name = *s;
            unique("zone", zone_names_, *s, *n);
        }

    auto add_domain = [&](const std::string& pd, const Field& where) {
        if (auto* prev = plan_.topology.power_domain(pd)) {
            error(where, "power domain '" + pd + "' already belongs to zone '" + prev->zone + "' (line " +
                             std::to_string(prev->mark.line) + "); a power domain belongs to exactly one zone");
            return;
        }
        z.power_domains.push_back(pd);
        plan_.topology.power_domains.push_back(PowerDomain{pd, z.name, where.mark});
    };
    if (auto p = m.get("power_domains")) {
        if (auto items = one_or_list(*p)) {
            if (items->empty()) error(*p, "a zone needs at least one power domain (leave the key out for one "
                                          "named after the zone)");
            for (auto& it : *items)
                if (auto s = name(it)) add_domain(*s, it);
        }
    } else if (!z.name.empty()) {
        // One power domain named after the zone: the whole zone loses power together.
        add_domain(z.name, f);
    }

    if (auto sp = m.get("switch_power_domain"))
        if (auto v = name(*sp)) {
            z.switch_power_domain = *v;
            switch_power_fields_.push_back(*sp);
        }
    if (auto s = m.get("subnet"))
        if (auto c = cidr(*s)) {
            if (c->addr.v6) error(*s, "subnet is the IPv4 segment; put " + c->str() + " in subnet6");
            else if (c->prefix > 30) error(*s, "subnet " + c->str() + " is too small: a zone needs at least a /30");
            else if (c->network() != *c) error(*s, c->str() + " has host bits set; did you mean " + c->network().str() + "?");
            else {
                z.subnet = c;
                owned_.push_back({*c, zi, -1, "zone " + z.name + " subnet " + c->str(), s->mark, s->path});
            }
        }
    if (auto s = m.get("subnet6"))
        if (auto c = cidr(*s)) {
            if (!c->addr.v6) error(*s, "subnet6 is the IPv6 segment; put " + c->str() + " in subnet");
            else if (c->prefix > 126) error(*s, "subnet6 " + c->str() + " is too small: a zone needs at least a /126");
            else if (c->network() != *c) error(*s, c->str() + " has host bits set; did you mean " + c->network().str() + "?");
            else {
                z.subnet6 = c;
                owned_.push_back({*c, zi, -1, "zone " + z.name + " subnet6 " + c->str(), s->mark, s->path});
            }
        }
    if (auto cs = m.get("cidrs"))
        if (auto items = list(*cs))
            for (auto& it : *items)
                if (auto c = cidr(it)) {
                    z.cidrs.push_back(c->network());
                    owned_.push_back({c->network(), zi, -1, "zone " + z.name + " cidr " + c->network().str(), it.mark,
                                      it.path});
                }
    plan_.topology.zones.push_back(std::move(z));
}

void Loader::load_host(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"name", "zone", "power_domain", "addresses", "cidrs"});
    Host h;
    h.mark = f.mark;
    int hi = static_cast<int>(plan_.topology.hosts.size());
    if (auto n = m.require("name"))
        if (auto s = name(*n)) {
            h.name = *s;
            if (*s == "control") error(*n, "'control' is reserved: it names the runner's own position");
            unique("host", host_names_, *s, *n);
        }
    const Zone* zone = nullptr;
    int zi = -1;
    if (auto zf = m.require("zone"))
        if (auto s = name(*zf)) {
            h.zone = *s;
            zone = plan_.topology.zone(*s);
            if (!zone) error(*zf, "unknown zone '" + *s + "' (zones: " + join(names_of_zones()) + ")");
            else zi = static_cast<int>(zone - plan_.topology.zones.data());
        }
    if (auto pf = m.get("power_domain")) {
        if (auto s = name(*pf)) {
            h.power_domain = *s;
            const PowerDomain* pd = plan_.topology.power_domain(*s);
            if (!pd)
                error(*pf, "unknown power domain '" + *s + "' (power domains: " + join(names_of_power_domains()) + ")");
            else if (zone && pd->zone != zone->name)
                error(*pf, "power domain '" + *s + "' belongs to zone '" + pd->zone + "', not to the host's zone '" +
                               zone->name + "'");
        }
    } else if (zone) {
        if (zone->power_domains.size() == 1) h.power_domain = zone->power_domains[0];
        else if (!zone->power_domains.empty())
            error(f.key_mark, child_path(f.path, "power_domain"),
                  "missing required key 'power_domain': zone '" + zone->name +
                      "' has several (" + join(zone->power_domains) + ")");
    }

    if (auto af = m.get("addresses"))
        if (auto items = list(*af))
            for (auto& it : *items) {
                auto c = cidr(it);
                if (!c || !zone) continue;  // a bad zone is already reported
                const IpAddr& a = c->addr;
                const char* key = a.v6 ? "subnet6" : "subnet";
                const std::optional<Cidr>* subnet = a.v6 ? &zone->subnet6 : &zone->subnet;
                if (!*subnet) {
                    error(it, "host address " + a.str() + " needs its zone '" + zone->name + "' to declare a " + key +
                                  " that contains it");
                    continue;
                }
                const Cidr& sn = **subnet;
                if (c->prefix != a.bits() && c->prefix != sn.prefix) {
                    error(it, c->str() + ": the prefix length differs from zone '" + zone->name + "' " + key + " " +
                                  sn.str() + "; write the bare address");
                    continue;
                }
                if (!sn.contains(a)) {
                    error(it, "host address " + a.str() + " lies outside its zone '" + zone->name + "' " + key + " " +
                                  sn.str());
                    continue;
                }
                uint64_t slots = host_slots(sn);
                if (a == sn.nth(0) || a == sn.nth(1) || (!a.v6 && a == sn.nth(slots - 1))) {
                    error(it, a.str() + " is reserved in " + sn.str() +
                                  " (network, gateway .1 or broadcast address); hosts use " + sn.nth(2).str() + " on");
                    continue;
                }
                h.addresses.push_back(Cidr{a, sn.prefix});
                owned_.push_back({Cidr{a, a.bits()}, zi, hi, "host " + h.name + " address " + a.str(), it.mark, it.path});
            }
    if (auto cf = m.get("cidrs"))
        if (auto items = list(*cf))
            for (auto& it : *items)
                if (auto c = cidr(it)) {
                    h.cidrs.push_back(c->network());
                    owned_.push_back({c->network(), zi, hi, "host " + h.name + " cidr " + c->network().str(), it.mark,
                                      it.path});
                }
    plan_.topology.hosts.push_back(std::move(h));
}

// Prefixes of different zones never overlap (a packet's zone must be unambiguous), nor do
// prefixes of different hosts; a host's prefixes inside its own zone's are expected.
void Loader::check_overlaps() {
    // Indexed, not pairwise: for each prefix, the earliest earlier one it conflicts with.
    PrefixSet seen;
    for (size_t j = 0; j < owned_.size(); ++j) {
        const Owned& b = owned_[j];
        if (b.zone < 0) continue;
        size_t first = j;
        for (size_t i : seen.overlapping(b.prefix)) {
            const Owned& a = owned_[i];
            bool conflict = a.zone != b.zone || (a.host >= 0 && b.host >= 0 && a.host != b.host);
            if (conflict && i < first) first = i;
        }
        seen.insert(b.prefix, j);
        if (first == j) continue;
        const Owned& a = owned_[first];
        std::string verb = a.prefix.prefix == a.prefix.addr.bits() && b.prefix.prefix == b.prefix.addr.bits()
                               ? " is already "
                               : " overlaps ";
        error(b.mark, b.path, b.prefix.str() + verb + a.what + " (line " + std::to_string(a.mark.line) + ")");
    }
}

bool Loader::taken(const Cidr& c, int zone) const {
    for (auto& o : owned_)
        if (o.zone != zone && o.prefix.overlaps(c)) return true;
    return false;
}

void Loader::assign_addresses() {
    auto& topo = plan_.topology;
    const Cidr base = *Cidr::parse("198.18.0.0/16");
    for (size_t i = 0; i < topo.zones.size(); ++i) {
        Zone& z = topo.zones[i];
        if (z.subnet) continue;
        for (uint64_t k = 0; k < kAutoSlots && !z.subnet; ++k) {
            Cidr c{base.nth(((i + k) % kAutoSlots) << (32 - kAutoPrefix)), kAutoPrefix};
            if (taken(c, static_cast<int>(i))) continue;
            z.subnet = c;
            owned_.push_back({c, static_cast<int>(i), -1, "zone " + z.name + " subnet " + c.str(), z.mark, ""});
        }
        if (!z.subnet)
            error(z.mark, "topology.zones[" + std::to_string(i) + "]",
                  "no free /22 left in " + base.str() + " for zone '" + z.name + "'; give it a subnet");
    }

    // Host prefixes taken so far, and per zone subnet the first slot not yet tried: slots only
    // ever fill up, so each zone's search resumes where the previous host's ended.
    PrefixSet used;
    for (size_t i = 0; i < owned_.size(); ++i)
        if (owned_[i].host >= 0) used.insert(owned_[i].prefix, i);
    std::map<const Cidr*, uint64_t> cursor;
    for (size_t hi = 0; hi < topo.hosts.size(); ++hi) {
        Host& h = topo.hosts[hi];
        const Zone* z = topo.zone(h.zone);
        int zi = static_cast<int>(z - topo.zones.data());
        for (const std::optional<Cidr>* sn : {&z->subnet, &z->subnet6}) {
            if (!*sn) continue;
            bool v6 = (*sn)->addr.v6;
            bool has = std::any_of(h.addresses.begin(), h.addresses.end(), [&](const Cidr& a) { return a.addr.v6 == v6; });
            if (has) continue;
            uint64_t slots = host_slots(**sn);
            uint64_t last = v6 ? slots - 1 : slots - 2;  // IPv4 keeps its broadcast address
            bool placed = false;
            uint64_t& from = cursor.try_emplace(&**sn, 2).first->second;
            for (uint64_t n = from; n <= last && !placed; ++n) {
                IpAddr a = (*sn)->nth(n);
                from = n + 1;
                if (used.contains(a)) continue;
                used.insert(Cidr{a, a.bits()}, owned_.size());
                h.addresses.push_back(Cidr{a, (*sn)->prefix});
                owned_.push_back({Cidr{a, a.bits()}, zi, static_cast<int>(hi), "host " + h.name + " address " + a.str(),
                                  h.mark, ""});
                placed = true;
            }
            if (!placed)
                error(h.mark, "topology.hosts[" + std::to_string(hi) + "]",
                      "zone '" + z->name + "' has no free address left in " + (*sn)->str() + " for host '" + h.name +
                          "'; give the zone a larger subnet");
        }
        // addresses[0] is the primary IPv4 address everything else relies on.
        std::stable_partition(h.addresses.begin(), h.addresses.end(), [](const Cidr& a) { return !a.addr.v6; });
    }
    addresses_assigned_ = true;
}

// --- lab ---------------------------------------------------------------------------------------

void Loader::load_lab(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"ready_timeout", "services"});
    if (auto t = m.get("ready_timeout"))
        if (auto d = duration(*t, true)) plan_.lab.ready_timeout = *d;
    if (auto sf = m.get("services"))
        if (auto items = list(*sf))
            for (auto& it : *items) load_service(it);
    // Templates may name any service ({endpoints:SVC}), so they are checked once all are known.
    for (auto& use : templates_) {
        auto problems = check_template(use.text, plan_, !use.hosts.front().empty(), *use.vars);
        for (auto& p : problems) error(use.mark, use.path, p);
        use.clean = problems.empty();
    }
}

void Loader::load_service(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"name", "hosts", "port", "volume", "command", "ready"});
    Service s;
    s.mark = f.mark;
    if (auto n = m.require("name"))
        if (auto v = name(*n)) {
            s.name = *v;
            unique("service", service_names_, *v, *n);
        }
    if (auto hf = m.require("hosts"))
        if (auto items = one_or_list(*hf)) {
            if (items->empty()) error(*hf, "a service needs at least one host");
            for (auto& it : *items)
                if (auto v = name(it)) {
                    if (!plan_.topology.host(*v))
                        error(it, "unknown host '" + *v + "' (hosts: " + join(names_of_hosts()) + ")");
                    else if (std::find(s.hosts.begin(), s.hosts.end(), *v) != s.hosts.end())
                        error(it, "host '" + *v + "' is listed twice");
                    else
                        s.hosts.push_back(*v);
                }
        }
    if (auto pf = m.get("port"))
        if (auto p = integer(*pf)) {
            if (*p < 1 || *p > 65535) error(*pf, "port " + std::to_string(*p) + " is outside 1..65535");
            else s.port = static_cast<int>(*p);
        }
    if (auto vf = m.get("volume")) {
        if (vf->node.IsMap()) {  // { name: x, volatile: true }
            MapView vm(*this, *vf);
            if (vm.ok()) {
                vm.allow({"name", "volatile"});
                if (auto nf = vm.require("name"))
                    if (auto v = name(*nf)) s.volume = *v;
                if (auto bf = vm.get("volatile"))
                    if (auto b = boolean(*bf)) s.volume_volatile = *b;
            }
        } else if (auto v = name(*vf)) {
            s.volume = *v;
        }
    }
    std::optional<Field> command = m.require("command");
    std::optional<std::string> cmd;
    if (command) cmd = nonempty_str(*command);
    if (cmd) s.command = *cmd;
    if (auto rf = m.get("ready"))
        if (auto c = load_check(*rf, s.hosts)) s.ready = *c;
    if (cmd && !s.hosts.empty())
        use_template(*command, *cmd, true, s.hosts, s.volume.value_or(""), service_template_vars());
    plan_.lab.services.push_back(std::move(s));
}

std::optional<std::string> Loader::load_in(const Field& f) {
    auto s = str(f);
    if (!s) return std::nullopt;
    if (*s != "control" && !plan_.topology.host(*s)) {
        error(f, "'" + *s + "' is neither 'control' nor a host (hosts: " + join(names_of_hosts()) + ")");
        return std::nullopt;
    }
    return s;
}

void Loader::check_tcp_target(const Field& f, const std::string& target) {
    auto colon = target.rfind(':');
    std::string port = colon == std::string::npos ? "" : target.substr(colon + 1);
    bool digits = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535 || colon == 0)
        error(f, "tcp target '" + target + "' must be ADDRESS:PORT, e.g. \"{addr}:2379\"");
}

std::optional<Check> Loader::load_check(const Field& f, const std::vector<std::string>& hosts) {
    MapView m(*this, f);
    if (!m.ok()) return std::nullopt;
    m.allow({"tcp", "exec", "in", "timeout"});
    Check c;
    c.mark = f.mark;
    // `in` left empty means "the host of the service instance being checked" (what lab::up
    // does for an exec check); a tcp check connects from control.
    auto tcp = m.get("tcp");
    auto exec = m.get("exec");
    bool ok = true;
    if (tcp.has_value() == exec.has_value()) {
        error(f.key_mark, f.path, "a readiness check needs exactly one of 'tcp' or 'exec'");
        ok = false;
    }
    if (auto i = m.get("in")) {
        if (auto v = load_in(*i)) c.in = *v;
        else ok = false;
    }
    if (auto t = m.get("timeout")) {
        if (auto d = duration(*t, true)) c.timeout = *d;
        else ok = false;
    }
    const Field* tf = tcp ? &*tcp : exec ? &*exec : nullptr;
    if (tf) {
        auto text = nonempty_str(*tf);
        if (!text) return std::nullopt;
        c.kind = tcp ? Check::Kind::tcp : Check::Kind::exec;
        c.target = *text;
        if (tcp) check_tcp_target(*tf, *text);
        // Expanded once per host of the service, with that host as the current host.
        if (!hosts.empty()) use_template(*tf, *text, true, hosts, "", service_template_vars());
    }
    if (!ok) return std::nullopt;
    return c;
}

void Loader::use_template(const Field& f, const std::string& text, bool has_host, std::vector<std::string> hosts,
                          std::string volume, const std::vector<std::string>& vars) {
    if (!has_host) hosts = {""};
    templates_.push_back(TemplateUse{text, f.mark, f.path, std::move(hosts), std::move(volume), &vars, true});
}

// --- safety, probes ----------------------------------------------------------------------------

void Loader::load_safety(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"max_duration", "blast_radius", "protected", "abort_when"});
    plan_.safety.mark = f.key_mark;
    if (auto d = m.require("max_duration", "no run may outlive it"))
        if (auto v = duration(*d, true)) plan_.safety.max_duration = *v;
    if (auto b = m.get("blast_radius")) load_blast_radius(*b);
    if (auto p = m.get("protected"))
        if (auto items = list(*p))
            for (auto& it : *items) load_protected(it);
    if (auto a = m.get("abort_when"))
        if (auto items = list(*a))
            for (auto& it : *items) load_abort_when(it);
}

// blast_radius: { max_hosts: N | "N%", max_zones: N, max_power_domains: N }. Every bound is
// optional; 0 is a valid bound ("no zone may be cut off").
void Loader::load_blast_radius(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"max_hosts", "max_zones", "max_power_domains"});
    BlastRadius& b = plan_.safety.blast_radius;
    b.mark = f.key_mark;
    auto count = [&](const Field& v) -> std::optional<int> {
        auto n = integer(v);
        if (!n) return std::nullopt;
        if (*n < 0 || *n > 1000000) {
            error(v, "expected a count from 0 to 1000000, got " + v.node.Scalar());
            return std::nullopt;
        }
        return static_cast<int>(*n);
    };
    if (auto h = m.get("max_hosts")) {
        std::string text = h->node.IsScalar() ? h->node.Scalar() : "";
        if (!text.empty() && text.back() == '%') {
            // A share of the lab's hosts: "50%".
            std::string num = text.substr(0, text.size() - 1);
            double pct = 0;
            size_t used = 0;
            bool ok = !num.empty();
            try {
                pct = std::stod(num, &used);
            } catch (const std::exception&) {
                ok = false;
            }
            if (!ok || used != num.size() || !(pct >= 0.0 && pct <= 100.0))
                error(*h, "max_hosts '" + text + "' must be a count or a share from 0% to 100%");
            else
                b.max_hosts_share = pct / 100.0;
        } else if (auto n = count(*h)) {
            b.max_hosts = *n;
        }
    }
    if (auto z = m.get("max_zones"))
        if (auto n = count(*z)) b.max_zones = *n;
    if (auto p = m.get("max_power_domains"))
        if (auto n = count(*p)) b.max_power_domains = *n;
}

// protected: one item per entry, each exactly one of { zone | power_domain | host | cidr |
// interface: VALUE }. "control" is accepted as a zone or host name: it is the runner's own
// position, always protected whatever the plan says, and saying so in a plan is harmless.
// A protected cidr may lie outside the lab range: protecting a real prefix is always allowed.
// `interface` entries are for host mode; a lab has no host interfaces (see safety/plan_checks).
void Loader::load_protected(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"zone", "power_domain", "host", "cidr", "interface"});
    static const std::vector<std::pair<const char*, Protected::Kind>> kinds{
        {"zone", Protected::Kind::zone},
        {"power_domain", Protected::Kind::power_domain},
        {"host", Protected::Kind::host},
        {"cidr", Protected::Kind::cidr},
        {"interface", Protected::Kind::interface}};
    std::vector<std::pair<Field, Protected::Kind>> given;
    for (auto& [key, kind] : kinds)
        if (auto v = m.get(key)) given.emplace_back(*v, kind);
    if (given.size() != 1) {
        error(f.key_mark, f.path,
              "a protected entry needs exactly one of zone, power_domain, host, cidr or interface (got " +
                  std::to_string(given.size()) + "); use one item per entry");
        return;
    }
    auto& [v, kind] = given.front();
    Protected p;
    p.kind = kind;
    p.mark = f.mark;
    auto& topo = plan_.topology;
    switch (kind) {
        case Protected::Kind::zone:
        case Protected::Kind::power_domain:
        case Protected::Kind::host: {
            auto n = name(v);
            if (!n) return;
            bool control = *n == "control" && kind != Protected::Kind::power_domain;
            if (kind == Protected::Kind::zone && !control && !topo.zone(*n))
                return error(v, "unknown zone '" + *n + "' (zones: " + join(names_of_zones()) + ")");
            if (kind == Protected::Kind::power_domain && !topo.power_domain(*n))
                return error(v, "unknown power domain '" + *n + "' (power domains: " + join(names_of_power_domains()) + ")");
            if (kind == Protected::Kind::host && !control && !topo.host(*n))
                return error(v, "unknown host '" + *n + "' (hosts: " + join(names_of_hosts()) + ")");
            p.name = *n;
            break;
        }
        case Protected::Kind::cidr: {
            auto s = str(v);
            if (!s) return;
            std::string why;
            auto c = Cidr::parse(*s, &why);
            if (!c) return error(v, "bad address '" + *s + "': " + why);
            p.cidr = c->network();
            p.name = p.cidr->str();
            break;
        }
        case Protected::Kind::interface: {
            auto s = nonempty_str(v);
            if (!s) return;
            // The kernel's rule for interface names: below IFNAMSIZ, no '/', ':' or whitespace.
            bool ok = s->size() < 16 && *s != "." && *s != ".." &&
                      s->find_first_of("/: \t\n") == std::string::npos;
            if (!ok) return error(v, "'" + *s + "' is not an interface name");
            p.name = *s;
            break;
        }
    }
    plan_.safety.protected_targets.push_back(std::move(p));
}

// abort_when: [{ probe, success_rate_below | latency_above | failures_in_a_row, for }], exactly
// one condition per item. `for` is the window a rate or latency is judged over; a run of
// consecutive failures has no window, so `for` is refused there.
void Loader::load_abort_when(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"probe", "success_rate_below", "latency_above", "failures_in_a_row", "for"});
    AbortWhen a;
    a.mark = f.mark;
    if (auto p = m.require("probe"))
        if (auto n = name(*p)) {
            a.probe = *n;
            abort_probe_fields_.push_back(*p);
        }
    auto rate = m.get("success_rate_below");
    auto lat = m.get("latency_above");
    auto row = m.get("failures_in_a_row");
    int conditions = rate.has_value() + lat.has_value() + row.has_value();
    if (conditions != 1)
        error(f.key_mark, f.path,
              "an abort_when item needs exactly one of success_rate_below, latency_above or failures_in_a_row"
              " (got " + std::to_string(conditions) + "); use one item per condition");
    if (rate)
        if (auto v = number(*rate)) {
            if (!(*v >= 0.0 && *v <= 1.0)) error(*rate, "success_rate_below " + rate->node.Scalar() + " is outside [0, 1]");
            else a.success_rate_below = *v;
        }
    if (lat)
        if (auto d = duration(*lat, true)) a.latency_above = *d;
    if (row)
        if (auto n = integer(*row)) {
            if (*n < 1 || *n > 1000000) error(*row, "failures_in_a_row must be from 1 to 1000000, got " + row->node.Scalar());
            else a.failures_in_a_row = static_cast<int>(*n);
        }
    if (auto w = m.get("for")) {
        if (row && conditions == 1)
            error(*w, "'for' does not apply to failures_in_a_row (consecutive failures have no window)");
        else if (auto d = duration(*w, true)) {
            a.window = *d;
            a.window_given = true;
        }
    }
    plan_.safety.abort_when.push_back(std::move(a));
}

// An abort condition on a probe the plan does not run could never trip: refuse it.
void Loader::check_abort_probes() {
    for (auto& f : abort_probe_fields_) {
        const std::string& n = f.node.Scalar();
        bool found = std::any_of(plan_.probes.begin(), plan_.probes.end(), [&](const Probe& p) { return p.name == n; });
        if (found) continue;
        std::vector<std::string> names;
        for (auto& p : plan_.probes) names.push_back(p.name);
        error(f, "unknown probe '" + n + "' (" + (names.empty() ? "the plan has no steady_state probes" :
                                                  "probes: " + join(names)) + ")");
    }
}

void Loader::load_steady_state(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"probes"});
    size_t first = templates_.size();
    if (auto pf = m.require("probes"))
        if (auto items = list(*pf))
            for (auto& it : *items) load_probe(it);
    for (size_t i = first; i < templates_.size(); ++i) {
        auto& use = templates_[i];
        auto problems = check_template(use.text, plan_, !use.hosts.front().empty(), *use.vars);
        for (auto& p : problems) error(use.mark, use.path, p);
        use.clean = problems.empty();
    }
}

void Loader::load_probe(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"name", "exec", "tcp", "http", "prometheus", "in", "every", "timeout", "slo", "acknowledges"});
    Probe p;
    p.mark = f.mark;
    if (auto n = m.require("name"))
        if (auto v = name(*n)) {
            p.name = *v;
            unique("probe", probe_names_, *v, *n);
        }
    bool in_ok = true;
    if (auto i = m.get("in")) {
        if (auto v = load_in(*i)) p.in = *v;
        else in_ok = false;
    }
    if (auto e = m.get("every"))
        if (auto d = duration(*e, true)) {
            if (*d < limits::kMinProbeEvery) error(*e, "a probe runs at most every 10ms (each attempt forks or connects)");
            else p.every = *d;
        }
    if (auto t = m.get("timeout"))
        if (auto d = duration(*t, true)) p.timeout = *d;
    if (auto s = m.get("slo")) load_slo(*s, p.slo);

    auto tcp = m.get("tcp");
    auto exec = m.get("exec");
    auto http = m.get("http"), prom = m.get("prometheus");  // plan/probe_http.cpp reads these
    if (tcp.has_value() + exec.has_value() + http.has_value() + prom.has_value() != 1) {
        error(f.key_mark, f.path, "a probe needs exactly one of 'exec', 'tcp', 'http' or 'prometheus'");
    } else if (http || prom) {
        const Field& cf = http ? *http : *prom;
        auto r = load_probe_check(cf.node, http ? "http" : "prometheus", cf.path, cf.mark);
        errors_.insert(errors_.end(), r.errors.begin(), r.errors.end());
        if (r.check) p.kind = r.check->kind, p.target = r.check->url, p.http = r.check->http, p.metric = r.check->metric;
        if (r.check && in_ok)
            use_template(Field{cf.node, r.check->url_path, r.check->url_mark, r.check->url_mark}, p.target,
                         p.in != "control", {p.in}, "", probe_template_vars());
    } else {
        const Field& tf = tcp ? *tcp : *exec;
        if (auto text = nonempty_str(tf)) {
            p.kind = tcp ? Probe::Kind::tcp : Probe::Kind::exec;
            p.target = *text;
            if (tcp) check_tcp_target(tf, *text);
            if (in_ok) {
                bool in_host = p.in != "control";
                use_template(tf, *text, in_host, in_host ? std::vector<std::string>{p.in} : std::vector<std::string>{},
                             "", probe_template_vars());
            }
        }
    }
    if (auto a = m.get("acknowledges")) {
        if (!exec) {
            error(a->key_mark, a->path, "only an exec probe acknowledges records (a connect or a request writes nothing)");
        } else if (auto text = nonempty_str(*a)) {
            p.acknowledges = *text;
            if (text->find("{seq}") == std::string::npos)
                error(*a, "'" + *text + "' names the same record on every attempt; include {seq} (e.g. \"drill-{seq}\")");
            if (in_ok) {
                bool in_host = p.in != "control";
                use_template(*a, *text, in_host, in_host ? std::vector<std::string>{p.in} : std::vector<std::string>{},
                             "", probe_template_vars());
            }
        }
    }
    plan_.probes.push_back(std::move(p));
}

void Loader::load_slo(const Field& f, Slo& slo) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"success_rate", "window", "max_latency"});
    if (auto r = m.get("success_rate"))
        if (auto v = number(*r)) {
            if (!(*v >= 0.0 && *v <= 1.0)) error(*r, "success_rate " + r->node.Scalar() + " is outside [0, 1]");
            else slo.success_rate = *v;
        }
    if (auto w = m.get("window"))
        if (auto d = duration(*w, true)) slo.window = *d;
    if (auto l = m.get("max_latency"))
        if (auto d = duration(*l, true)) slo.max_latency = *d;
}

// --- powered links ------------------------------------------------------------------------------

void Loader::load_link(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"between", "power_domain"});
    PoweredLink l;
    l.mark = f.mark;
    bool ok = true;
    if (auto b = m.require("between")) {
        auto items = list(*b);
        if (!items || items->size() != 2) {
            if (items) error(*b, "a link is between exactly two zones, e.g. [pangyo, ansan]");
            ok = false;
        } else {
            std::vector<std::string> zs;
            for (auto& it : *items) {
                auto v = name(it);
                if (!v) { ok = false; continue; }
                if (!plan_.topology.zone(*v)) {
                    error(it, "unknown zone '" + *v + "' (zones: " + join(names_of_zones()) + ")");
                    ok = false;
                }
                zs.push_back(*v);
            }
            if (ok && zs[0] == zs[1]) {
                error(*b, "a link joins two different zones (a zone's own switch is its switch_power_domain)");
                ok = false;
            }
            if (ok) {
                l.a = zs[0];
                l.b = zs[1];
                for (auto& prev : plan_.topology.links)
                    if ((prev.a == l.a && prev.b == l.b) || (prev.a == l.b && prev.b == l.a)) {
                        error(*b, "link " + l.a + "<->" + l.b + " is already declared (line " +
                                      std::to_string(prev.mark.line) + ")");
                        ok = false;
                    }
            }
        }
    } else {
        ok = false;
    }
    if (auto p = m.require("power_domain", "a link in topology.links exists to say what feeds it")) {
        if (auto v = name(*p)) {
            if (!plan_.topology.power_domain(*v)) {
                error(*p, "unknown power domain '" + *v + "' (power domains: " + join(names_of_power_domains()) + ")");
                ok = false;
            }
            l.power_domain = *v;
        } else {
            ok = false;
        }
    } else {
        ok = false;
    }
    if (ok) plan_.topology.links.push_back(std::move(l));
}

void Loader::check_power_feeds() {
    for (auto& f : switch_power_fields_) {
        const std::string& v = f.node.Scalar();
        if (!plan_.topology.power_domain(v))
            error(f, "unknown power domain '" + v + "' (power domains: " + join(names_of_power_domains()) + ")");
    }
}

// --- verify, expect -----------------------------------------------------------------------------

void Loader::load_verify(const Field& f) {
    auto items = list(f);
    if (!items) return;
    std::map<std::string, Mark> names;
    size_t first = templates_.size();
    for (auto& it : *items) {
        MapView m(*this, it);
        if (!m.ok()) continue;
        m.allow({"name", "probe", "exec", "in", "timeout"});
        Verify v;
        v.mark = it.mark;
        if (auto n = m.require("name"))
            if (auto s = name(*n)) {
                v.name = *s;
                unique("verify step", names, *s, *n);
            }
        if (auto pf = m.require("probe", "a verify step reads back what one probe acknowledged"))
            if (auto s = str(*pf)) {
                auto p = std::find_if(plan_.probes.begin(), plan_.probes.end(), [&](auto& x) { return x.name == *s; });
                if (p == plan_.probes.end()) {
                    std::vector<std::string> known;
                    for (auto& x : plan_.probes) known.push_back(x.name);
                    error(*pf, "unknown probe '" + *s + "' (" +
                                   (known.empty() ? "the plan has no steady_state probes" : "probes: " + join(known)) + ")");
                } else if (!p->acknowledges) {
                    error(*pf, "probe '" + *s + "' acknowledges nothing: give it `acknowledges:` (e.g. \"drill-{seq}\")");
                } else {
                    v.probe = *s;
                }
            }
        bool in_ok = true;
        if (auto i = m.get("in")) {
            if (auto s = load_in(*i)) v.in = *s;
            else in_ok = false;
        }
        if (auto t = m.get("timeout"))
            if (auto d = duration(*t, true)) v.timeout = *d;
        if (auto e = m.require("exec", "the command that reads the records back"))
            if (auto text = nonempty_str(*e)) {
                v.command = *text;
                v.per_record = text->find("{ack}") != std::string::npos;
                if (in_ok) {
                    bool in_host = v.in != "control";
                    use_template(*e, *text, in_host, in_host ? std::vector<std::string>{v.in} : std::vector<std::string>{},
                                 "", verify_template_vars());
                }
            }
        plan_.verify.push_back(std::move(v));
    }
    for (size_t i = first; i < templates_.size(); ++i) {
        auto& use = templates_[i];
        auto problems = check_template(use.text, plan_, !use.hosts.front().empty(), *use.vars);
        for (auto& p : problems) error(use.mark, use.path, p);
        use.clean = problems.empty();
    }
}

void Loader::load_expect(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"rto", "rpo"});
    auto& e = plan_.expect;
    e.mark = f.mark;
    if (auto r = m.get("rto")) {
        e.rto_mark = r->mark;
        if (auto d = duration(*r, false)) {
            // An RTO is measured on services a power_loss took down and the restore brought back.
            bool measurable = false;
            for (auto& fault : plan_.method) {
                if (fault.kind != FaultKind::power_loss) continue;
                auto dark = selected_hosts(plan_.topology, fault.target);
                for (auto& svc : plan_.lab.services)
                    for (auto& h : svc.hosts)
                        if (std::find(dark.begin(), dark.end(), h) != dark.end()) measurable = true;
            }
            if (!measurable)
                error(*r, "no power_loss fault of this plan takes down a lab service, so there is no RTO to measure");
            else
                e.rto = *d;
        }
    }
    if (auto r = m.get("rpo")) {
        e.rpo_mark = r->mark;
        long long n;
        std::string text = r->node.IsScalar() ? r->node.Scalar() : "";
        if (r->node.IsScalar() && YAML::convert<long long>::decode(r->node, n)) {
            if (n < 0) error(*r, "rpo " + text + " is negative: it counts acknowledged records that may be lost");
            else e.rpo_records = n;
        } else if (auto d = duration(*r, false)) {
            e.rpo_window = *d;
        }
        if (plan_.verify.empty())
            error(*r, "an RPO needs a verify step (`verify:`) that reads back what a probe acknowledged");
    }
}

// --- method ------------------------------------------------------------------------------------

void Loader::load_method(const Field& f) {
    auto items = list(f);
    if (!items) return;
    if (items->empty()) error(f, "a plan needs at least one fault in its method");
    for (auto& it : *items) load_fault(it);
}

void Loader::load_fault(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    Fault fault;
    fault.mark = f.mark;
    if (auto n = m.require("name"))
        if (auto v = name(*n)) {
            fault.name = *v;
            unique("fault", fault_names_, *v, *n);
        }
    auto kf = m.require("fault");
    if (!kf) return;
    auto kind = str(*kf);
    if (!kind) return;
    static const std::vector<std::pair<std::string, FaultKind>> kinds{{"sever", FaultKind::sever},
                                                                      {"power_loss", FaultKind::power_loss},
                                                                      {"degrade_link", FaultKind::degrade_link},
                                                                      {"degrade_storage", FaultKind::degrade_storage}};
    auto k = std::find_if(kinds.begin(), kinds.end(), [&](auto& p) { return p.first == *kind; });
    if (k == kinds.end()) {
        error(*kf, "unknown fault kind '" + *kind + "' (known: sever, power_loss, degrade_link, degrade_storage)");
        return;
    }
    fault.kind = k->second;
    const bool power = fault.kind == FaultKind::power_loss;
    const bool storage = fault.kind == FaultKind::degrade_storage;
    // Power and disks belong to hosts, not to address ranges: their targets take no CIDR.
    const bool host_target = power || storage;
    if (power) m.allow({"name", "fault", "at", "duration", "target", "mode", "restore"});
    else if (storage)
        m.allow({"name", "fault", "at", "duration", "target", "volume", "latency", "errors", "full", "read_only",
                 "limit"});
    else if (fault.kind == FaultKind::degrade_link)
        m.allow({"name", "fault", "at", "duration", "target", "peer", "direction", "share", "loss", "latency",
                 "rate", "corrupt", "duplicate", "protocol", "port"});
    else m.allow({"name", "fault", "at", "duration", "target", "peer", "direction", "share"});

    if (auto a = m.get("at"))
        if (auto d = duration(*a, false)) fault.at = *d;
    auto df = m.require("duration");
    if (df)
        if (auto d = duration(*df, true)) fault.duration = *d;
    if (auto t = m.require("target")) fault.target = load_selector(*t, host_target ? kind->c_str() : nullptr);
    if (power) load_power(m, fault);
    if (storage) load_storage(m, fault, f);
    if (auto p = host_target ? std::nullopt : m.get("peer")) fault.peer = load_selector(*p);
    else {
        fault.peer.rest = true;
        fault.peer.mark = f.mark;
    }
    if (auto d = m.get("direction"))
        if (auto v = str(*d)) {
            if (*v == "both") fault.direction = Direction::both;
            else if (*v == "from") fault.direction = Direction::from;
            else if (*v == "to") fault.direction = Direction::to;
            else error(*d, "unknown direction '" + *v + "' (use both, from or to)");
        }
    if (auto s = m.get("share"))
        if (auto v = number(*s)) {
            if (!(*v > 0.0 && *v <= 1.0)) error(*s, "share " + s->node.Scalar() + " is outside (0, 1]");
            else fault.share = *v;
        }

    if (fault.kind == FaultKind::degrade_link) load_degrade(m, fault, f);

    Duration max = plan_.safety.max_duration;
    if (df && fault.duration.count() > 0 && max.count() > 0 && fault.at + fault.duration > max)
        error(*df, "the fault ends at " + format_duration(fault.at + fault.duration) + " (at " +
                       format_duration(fault.at) + " + duration " + format_duration(fault.duration) +
                       "), after safety.max_duration " + format_duration(max));
    plan_.method.push_back(std::move(fault));
    fault_paths_.push_back(f.path);
}

// power_loss's own keys: `mode` and `restore: { stagger, order }`. Runs after the target is read,
// so `order` can be checked against the hosts the target darkens.
void Loader::load_power(MapView& m, Fault& fault) {
    if (auto mf = m.get("mode"))
        if (auto v = str(*mf)) {
            if (*v == "kill") fault.power_mode = PowerMode::kill;
            else if (*v == "freeze") fault.power_mode = PowerMode::freeze;
            else error(*mf, "unknown mode '" + *v + "' (use kill or freeze)");
        }
    auto rf = m.get("restore");
    if (!rf) return;
    fault.restore.mark = rf->mark;
    MapView r(*this, *rf);
    if (!r.ok()) return;
    r.allow({"stagger", "order"});
    if (auto s = r.get("stagger"))
        if (auto d = duration(*s, false)) fault.restore.stagger = *d;
    auto of = r.get("order");
    if (!of) return;
    auto items = one_or_list(*of);
    if (!items) return;
    std::vector<std::string> dark = selected_hosts(plan_.topology, fault.target);
    for (auto& it : *items) {
        auto v = name(it);
        if (!v) continue;
        if (!plan_.topology.host(*v)) {
            error(it, "unknown host '" + *v + "' (hosts: " + join(names_of_hosts()) + ")");
        } else if (std::find(dark.begin(), dark.end(), *v) == dark.end()) {
            error(it, "host '" + *v + "' is not one of the hosts this fault darkens (" + join(dark) + ")");
        } else if (std::find(fault.restore.order.begin(), fault.restore.order.end(), *v) != fault.restore.order.end()) {
            error(it, "host '" + *v + "' is listed twice");
        } else {
            fault.restore.order.push_back(*v);
        }
    }
}

// degrade_storage's own keys. The volume must be declared by the lab on every target host, and
// every path is relative to it (a plan cannot reach outside the volumes it declares).
void Loader::load_storage(MapView& m, Fault& fault, const Field& item) {
    StorageDegrade& sd = fault.storage;
    sd.mark = fault.mark;
    std::vector<std::string> hosts = selected_hosts(plan_.topology, fault.target);
    std::vector<std::string> declared;
    for (auto& s : plan_.lab.services)
        if (s.volume && std::find(declared.begin(), declared.end(), *s.volume) == declared.end())
            declared.push_back(*s.volume);
    if (auto vf = m.require("volume", "the volume whose disk degrades (a lab service's volume)"))
        if (auto v = name(*vf)) {
            sd.volume = *v;
            if (declared.empty()) {
                error(*vf, "no lab service declares a volume, so there is nothing to degrade (add `volume:` to a service)");
            } else if (std::find(declared.begin(), declared.end(), *v) == declared.end()) {
                error(*vf, "unknown volume '" + *v + "' (volumes the lab declares: " + join(declared) + ")");
            } else {
                for (auto& h : hosts) {
                    bool on = false;
                    for (auto& s : plan_.lab.services)
                        if (s.volume == *v && std::find(s.hosts.begin(), s.hosts.end(), h) != s.hosts.end()) on = true;
                    if (!on) error(*vf, "host '" + h + "' of the target has no volume '" + *v + "' (no service there declares it)");
                }
            }
        }
    bool any = false;
    if (auto lf = m.get("latency")) {
        MapView lm(*this, *lf);
        if (lm.ok()) {
            lm.allow({"read", "write", "fsync", "metadata"});
            for (auto [key, dst] : {std::pair{"read", &sd.read}, {"write", &sd.write}, {"fsync", &sd.fsync},
                                    {"metadata", &sd.metadata}})
                if (auto f = lm.get(key))
                    if (auto l = load_latency(*f)) {
                        *dst = *l;
                        any = true;
                    }
        }
    }
    if (auto ef = m.get("errors"))
        if (auto items = list(*ef)) {
            if (items->empty()) error(*ef, "an empty list injects nothing; leave `errors` out");
            if (items->size() > size_t(faultfs::kMaxErrorRules))
                error(*ef, "at most " + std::to_string(faultfs::kMaxErrorRules) + " error rules per fault");
            for (auto& it : *items) load_storage_error(it, sd);
            any = any || !items->empty();
        }
    if (auto f = m.get("full"))
        if (auto b = boolean(*f)) {
            sd.full = *b;
            any = any || *b;
        }
    if (auto f = m.get("read_only"))
        if (auto b = boolean(*f)) {
            sd.read_only = *b;
            any = any || *b;
        }
    if (auto lf = m.get("limit")) {
        MapView lm(*this, *lf);
        if (lm.ok()) {
            lm.allow({"read_bps", "write_bps", "read_iops", "write_iops"});
            for (auto [key, dst] : {std::pair{"read_bps", &sd.read_bps}, {"write_bps", &sd.write_bps}})
                if (auto f = lm.get(key))
                    if (auto v = str(*f)) {
                        std::string why;
                        if (auto b = parse_bytes(*v, &why)) {
                            *dst = *b;
                            any = true;
                        } else {
                            error(*f, "bad rate '" + *v + "': " + why);
                        }
                    }
            for (auto [key, dst] : {std::pair{"read_iops", &sd.read_iops}, {"write_iops", &sd.write_iops}})
                if (auto f = lm.get(key))
                    if (auto v = integer(*f)) {
                        if (*v < 1 || *v > 10000000) error(*f, "iops " + std::to_string(*v) + " is outside 1..10000000");
                        else {
                            *dst = uint64_t(*v);
                            any = true;
                        }
                    }
        }
    }
    if (!any)
        error(item,
              "degrade_storage needs at least one of latency, errors, full: true, read_only: true or limit");
}

// `5ms` or `{ fixed: 5ms, jitter: 2ms }`.
std::optional<IoLatency> Loader::load_latency(const Field& f) {
    IoLatency l;
    if (f.node.IsScalar()) {
        auto d = duration(f, true);
        if (!d) return std::nullopt;
        l.fixed = *d;
    } else {
        MapView m(*this, f);
        if (!m.ok()) return std::nullopt;
        m.allow({"fixed", "jitter"});
        auto ff = m.require("fixed");
        if (!ff) return std::nullopt;
        auto d = duration(*ff, false);
        if (!d) return std::nullopt;
        l.fixed = *d;
        if (auto jf = m.get("jitter")) {
            auto j = duration(*jf, false);
            if (!j) return std::nullopt;
            l.jitter = *j;
        }
        if (!l.any()) {
            error(f, "a latency of 0 with no jitter delays nothing; leave it out");
            return std::nullopt;
        }
    }
    if (l.fixed + l.jitter > std::chrono::seconds(60)) {
        error(f, "latency above 60s (fixed + jitter) would hang the service's I/O, not slow it");
        return std::nullopt;
    }
    return l;
}

// `{ errno: EIO, probability: 0.1, ops: [write, fsync], path: "member/wal/*" }`.
void Loader::load_storage_error(const Field& f, StorageDegrade& sd) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"errno", "probability", "ops", "path"});
    StorageError e;
    e.mark = f.mark;
    if (auto ef = m.require("errno", "the error the program sees, by name: EIO, ENOSPC, EROFS, EDQUOT, ..."))
        if (auto v = str(*ef)) {
            e.errno_name = *v;
            e.err = faultfs::errno_by_name(*v);
            if (e.err == 0) error(*ef, "unknown errno '" + *v + "' (e.g. EIO, ENOSPC, EROFS, EDQUOT, EACCES, ETIMEDOUT)");
        }
    if (auto pf = m.get("probability"))
        if (auto v = number(*pf)) {
            if (!(*v > 0.0 && *v <= 1.0)) error(*pf, "probability " + pf->node.Scalar() + " is outside (0, 1]");
            else e.probability = *v;
        }
    if (auto of = m.get("ops"))
        if (auto items = one_or_list(*of)) {
            if (items->empty()) error(*of, "an empty list matches nothing; leave `ops` out for every operation");
            for (auto& it : *items)
                if (auto v = str(it)) {
                    if (faultfs::ops_by_name(*v) == 0)
                        error(it, "unknown operation '" + *v +
                                      "' (classes: read, write, fsync, metadata, all; or one of open, create, "
                                      "mkdir, unlink, rmdir, rename, link, lookup, getattr, setattr, readdir, "
                                      "statfs, fallocate, readlink, flush)");
                    else e.ops.push_back(*v);
                }
        }
    if (auto pf = m.get("path"))
        if (auto v = str(*pf)) {
            std::string why;
            std::string vols = sd.volume.empty() ? "none" : "volume " + sd.volume;
            if (auto rel = volume_relative(*v, vols, &why)) e.path = *rel;
            else error(*pf, "path " + why);
        }
    sd.errors.push_back(std::move(e));
}

// A probability: a number in [0, 1] or a percentage ("5%", "0.5%").
std::optional<double> Loader::probability(const Field& f) {
    auto s = str(f);
    if (!s) return std::nullopt;
    double v;
    std::string text = *s;
    bool pct = !text.empty() && text.back() == '%';
    if (pct) text.pop_back();
    char* end = nullptr;
    errno = 0;
    v = std::strtod(text.c_str(), &end);
    if (text.empty() || errno != 0 || end != text.c_str() + text.size()) {
        error(f, "expected a probability (0.05 or 5%), got '" + *s + "'");
        return std::nullopt;
    }
    if (pct) v /= 100.0;
    if (!(v >= 0.0 && v <= 1.0)) {
        error(f, "probability '" + *s + "' is outside [0, 1]");
        return std::nullopt;
    }
    return v;
}

// degrade_link's own keys: loss, latency, rate, corrupt, duplicate, protocol, port. At least one
// of the effects must be given, or the fault would do nothing.
void Loader::load_degrade(MapView& m, Fault& fault, const Field& f) {
    LinkDegrade& d = fault.degrade;
    d.mark = fault.mark;
    bool any = false;
    if (auto lf = m.get("loss")) {
        any = true;
        if (lf->node.IsMap()) {
            MapView l(*this, *lf);
            if (l.ok()) {
                l.allow({"probability", "burst"});
                if (auto p = l.require("probability"))
                    if (auto v = probability(*p)) d.loss = *v;
                if (auto b = l.get("burst"))
                    if (auto v = number(*b)) {
                        if (!(*v >= 1.0 && *v <= 1e6)) error(*b, "burst " + b->node.Scalar() + " (mean packets lost in a row) is outside [1, 1000000]");
                        else d.loss_burst = *v;
                    }
                if (d.loss >= 1.0 && d.loss_burst > 1.0)
                    error(*lf, "a loss burst needs a probability below 1 (every packet is lost already)");
            }
        } else if (auto v = probability(*lf)) {
            d.loss = *v;
        }
    }
    if (auto lf = m.get("latency")) {
        any = true;
        if (lf->node.IsMap()) {
            MapView l(*this, *lf);
            if (l.ok()) {
                l.allow({"delay", "jitter"});
                if (auto p = l.require("delay"))
                    if (auto v = duration(*p, true)) d.delay = *v;
                if (auto j = l.get("jitter"))
                    if (auto v = duration(*j, false)) {
                        if (*v > d.delay && d.delay.count() > 0)
                            error(*j, "jitter " + format_duration(*v) + " is larger than the delay " + format_duration(d.delay) + " (a packet cannot leave before it was sent)");
                        else d.jitter = *v;
                    }
            }
        } else if (auto v = duration(*lf, true)) {
            d.delay = *v;
        }
        if (d.delay > std::chrono::seconds(10)) error(*lf, "latency above 10s is not a degraded link but a cut: use sever");
    }
    if (auto rf = m.get("rate")) {
        any = true;
        if (auto s = str(*rf)) {
            // tc's units: bit, kbit, mbit, gbit (x1000), and the same with "ps" (bytes).
            static const std::vector<std::pair<std::string, double>> units{
                {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1.0},
                {"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bps", 8.0}};
            double mult = 0;
            std::string num = *s;
            for (auto& [u, f] : units)
                if (num.size() > u.size() && num.compare(num.size() - u.size(), u.size(), u) == 0) {
                    mult = f;
                    num.resize(num.size() - u.size());
                    break;
                }
            char* end = nullptr;
            double v = std::strtod(num.c_str(), &end);
            if (mult == 0 || num.empty() || end != num.c_str() + num.size())
                error(*rf, "bad rate '" + *s + "': use a number with bit, kbit, mbit, gbit (or bps, kbps, mbps, gbps for bytes)");
            else if (!(v * mult >= 8000.0 && v * mult <= 100e9))
                error(*rf, "rate '" + *s + "' is outside 8kbit..100gbit");
            else d.rate_bps = static_cast<uint64_t>(v * mult);
        }
    }
    if (auto c = m.get("corrupt")) {
        any = true;
        if (auto v = probability(*c)) d.corrupt = *v;
    }
    if (auto c = m.get("duplicate")) {
        any = true;
        if (auto v = probability(*c)) d.duplicate = *v;
    }
    if (auto pf = m.get("protocol"))
        if (auto s = str(*pf)) {
            if (*s == "tcp") d.protocol = 6;
            else if (*s == "udp") d.protocol = 17;
            else if (*s == "icmp") d.protocol = 1;
            else if (*s == "icmpv6") d.protocol = 58;
            else if (*s != "any") error(*pf, "unknown protocol '" + *s + "' (use tcp, udp, icmp, icmpv6 or any)");
        }
    if (auto pf = m.get("port"))
        if (auto s = str(*pf)) {
            // "2380" or "2379-2380": a packet matches when either of its ports is in range.
            unsigned lo = 0, hi = 0;
            char dash = 0, extra = 0;
            int n = std::sscanf(s->c_str(), "%u%c%u%c", &lo, &dash, &hi, &extra);
            if (n == 1) hi = lo;
            if (!((n == 1) || (n == 3 && dash == '-')) || lo < 1 || hi > 65535 || lo > hi)
                error(*pf, "bad port '" + *s + "': use a port (2380) or a range (2379-2380) within 1-65535");
            else if (d.protocol != 0 && d.protocol != 6 && d.protocol != 17)
                error(*pf, "ports need protocol tcp or udp (or none)");
            else {
                d.port_lo = static_cast<uint16_t>(lo);
                d.port_hi = static_cast<uint16_t>(hi);
            }
        }
    if (!any)
        error(f, "degrade_link needs at least one of loss, latency, rate, corrupt, duplicate");
}

Selector Loader::load_selector(const Field& f, const char* no_cidr_kind) {
    const bool allow_cidr = no_cidr_kind == nullptr;
    Selector sel;
    sel.mark = f.mark;
    MapView m(*this, f);
    if (!m.ok()) return sel;
    if (allow_cidr) {
        m.allow({"zone", "power_domain", "host", "cidr"});
    } else if (auto c = m.get("cidr")) {
        // Power feeds hosts, not address ranges: a CIDR has no processes to kill or freeze.
        error(c->key_mark, c->path, std::string(no_cidr_kind) + " targets zones, power domains or hosts, not CIDRs");
        m.allow({"zone", "power_domain", "host", "cidr"});
    } else {
        m.allow({"zone", "power_domain", "host"});
    }
    bool any = false;
    auto names = [&](const char* key, std::vector<std::string>& out, auto exists, const char* kind,
                     std::vector<std::string> known) {
        auto kf = m.get(key);
        if (!kf) return;
        any = true;
        auto items = one_or_list(*kf);
        if (!items) return;
        if (items->empty()) error(*kf, "an empty list selects nothing");
        for (auto& it : *items)
            if (auto v = name(it)) {
                if (!exists(*v)) error(it, std::string("unknown ") + kind + " '" + *v + "' (" + kind + "s: " + join(known) + ")");
                else if (std::find(out.begin(), out.end(), *v) == out.end()) out.push_back(*v);
            }
    };
    auto& topo = plan_.topology;
    names("zone", sel.zones, [&](const std::string& n) { return topo.zone(n) != nullptr; }, "zone", names_of_zones());
    names("power_domain", sel.power_domains, [&](const std::string& n) { return topo.power_domain(n) != nullptr; },
          "power domain", names_of_power_domains());
    names("host", sel.hosts, [&](const std::string& n) { return topo.host(n) != nullptr; }, "host", names_of_hosts());
    if (auto cf = m.get("cidr")) {
        any = true;
        if (auto items = one_or_list(*cf)) {
            if (items->empty()) error(*cf, "an empty list selects nothing");
            for (auto& it : *items)
                if (auto c = cidr(it)) sel.cidrs.push_back(c->network());
        }
    }
    if (!any) error(f.key_mark, f.path, "a selector needs at least one of zone, power_domain, host or cidr");
    return sel;
}

// --- phase 3 -----------------------------------------------------------------------------------

// Expands every template as the lab and the runner will, once per host, so a host without an
// IPv6 address behind {addr6} or a service without a volume behind {volume} is refused here.
void Loader::expand_templates() {
    if (!errors_.empty() || !addresses_assigned_) return;
    for (auto& use : templates_) {
        if (!use.clean) continue;
        for (auto& host : use.hosts) {
            TemplateContext ctx;
            ctx.plan = &plan_;
            ctx.host = host;
            ctx.volume = use.volume;
            ctx.volume_path = [](const std::string& h, const std::string& v) { return "/volumes/" + h + "/" + v; };
            for (auto& v : *use.vars) ctx.vars[v] = "x";
            auto r = expand_template(use.text, ctx);
            if (!r) {
                error(use.mark, use.path, r.error().op + (host.empty() ? "" : " (for host '" + host + "')"));
                break;
            }
        }
    }
}

namespace {
// What one side of a fault covers, to find a member on both sides.
struct Covered {
    std::set<std::string> zones, power_domains, hosts;
    std::vector<std::pair<Cidr, std::string>> prefixes;  // with what it stands for
};

Covered cover(const Topology& t, const Selector& s) {
    Covered c;
    auto add_host = [&](const Host& h) {
        c.hosts.insert(h.name);
        for (auto& a : h.addresses) c.prefixes.push_back({Cidr{a.addr, a.addr.bits()}, "host " + h.name});
        for (auto& x : h.cidrs) c.prefixes.push_back({x, "host " + h.name});
    };
    for (auto& zn : s.zones) {
        const Zone* z = t.zone(zn);
        if (!z) continue;
        c.zones.insert(zn);
        for (auto& pd : z->power_domains) c.power_domains.insert(pd);
        if (z->subnet) c.prefixes.push_back({*z->subnet, "zone " + zn});
        if (z->subnet6) c.prefixes.push_back({*z->subnet6, "zone " + zn});
        for (auto& x : z->cidrs) c.prefixes.push_back({x, "zone " + zn});
        for (auto& h : t.hosts)
            if (h.zone == zn) add_host(h);
    }
    for (auto& pn : s.power_domains) {
        c.power_domains.insert(pn);
        for (auto& h : t.hosts)
            if (h.power_domain == pn) add_host(h);
    }
    for (auto& hn : s.hosts)
        if (const Host* h = t.host(hn)) add_host(*h);
    for (auto& x : s.cidrs) c.prefixes.push_back({x, "cidr " + x.str()});
    return c;
}

std::optional<std::string> common(const std::set<std::string>& a, const std::set<std::string>& b) {
    for (auto& x : a)
        if (b.count(x)) return x;
    return std::nullopt;
}
}  // namespace

// A member on both sides of a cut makes the cut meaningless (and the BPF classifier ambiguous).
void Loader::check_fault_sides() {
    if (!errors_.empty()) return;  // names may not resolve; the first problems come first
    const Topology& t = plan_.topology;
    for (size_t i = 0; i < plan_.method.size(); ++i) {
        const Fault& f = plan_.method[i];
        // Only faults between two sides: power_loss cuts from everyone, storage has no peer.
        if (f.kind != FaultKind::sever && f.kind != FaultKind::degrade_link) continue;
        Covered target = cover(t, f.target);
        if (f.peer.rest) {
            if (!t.hosts.empty() && target.hosts.size() == t.hosts.size())
                error(f.target.mark, fault_paths_[i] + ".target",
                      "the target covers every host of the lab, so the rest of the lab (the default peer) is "
                      "empty; name a peer");
            continue;
        }
        Covered peer = cover(t, f.peer);
        std::string why;
        if (auto z = common(target.zones, peer.zones)) why = "zone '" + *z + "' is on both sides";
        else if (auto p = common(target.power_domains, peer.power_domains))
            why = "power domain '" + *p + "' is on both sides";
        else if (auto h = common(target.hosts, peer.hosts)) why = "host '" + *h + "' is on both sides";
        else {
            PrefixSet peers;  // the first overlapping pair in plan order, without a pairwise scan
            for (size_t k = 0; k < peer.prefixes.size(); ++k) peers.insert(peer.prefixes[k].first, k);
            for (auto& [a, aw] : target.prefixes) {
                auto hits = peers.overlapping(a);
                if (hits.empty()) continue;
                auto& [b, bw] = peer.prefixes[*std::min_element(hits.begin(), hits.end())];
                why = a.str() + " (" + aw + ", target) overlaps " + b.str() + " (" + bw + ", peer)";
                break;
            }
        }
        if (!why.empty())
            error(f.peer.mark, fault_paths_[i] + ".peer", "target and peer overlap: " + why);
    }
}

}  // namespace

LoadResult load_string(const std::string& yaml, const std::string& filename) {
    auto r = Loader(filename).run(yaml);
    if (r.ok()) r.text = yaml;
    return r;
}

LoadResult load_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        LoadResult r;
        r.errors.push_back(PlanError{Mark{path, 0, 0}, "", std::string("cannot read the plan: ") + std::strerror(errno)});
        return r;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return load_string(text.str(), path);
}

}  // namespace inj::plan
