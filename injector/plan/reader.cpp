// The plan readers: typed values and maps with positions (reader.hpp).
#include "plan/reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

namespace inj::plan {

std::string PlanError::str() const {
    std::string s = mark.line > 0 ? mark.str() : mark.file;
    s += ": ";
    if (!path.empty()) s += path + ": ";
    return s + message;
}

// A path inside a volume, as a degrade_storage plan writes it: relative to the volume, never
// leaving it. Returns the normalised path ("member/wal/*"), or nullopt with the reason.
std::optional<std::string> volume_relative(const std::string& p, const std::string& volumes, std::string* why) {
    static const std::set<std::string> system_dirs{"bin",   "boot", "dev", "etc",  "home", "lib", "lib64",
                                                   "media", "mnt",  "opt", "proc", "root", "run", "sbin",
                                                   "srv",   "sys",  "tmp", "usr",  "var"};
    const std::string outside =
        " is outside the volumes this plan declares (" + volumes +
        "); a path in a volume (degrade_storage, a crash point) is relative to it, e.g. 'member/wal/*'";
    if (p.empty()) {
        *why = "must not be empty";
        return std::nullopt;
    }
    if (p[0] == '/') {
        std::string first = p.substr(1, p.find('/', 1) == std::string::npos ? std::string::npos : p.find('/', 1) - 1);
        if (p.find_first_not_of('/') == std::string::npos)
            *why = "'" + p + "' is the root directory: it" + outside;
        else if (system_dirs.count(first))
            *why = "'" + p + "' is a system directory: it" + outside;
        else
            *why = "'" + p + "' is an absolute path: it" + outside;
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
        {"", 1},    {"B", 1},    {"k", 1e3},         {"K", 1e3}, {"KB", 1e3}, {"kB", 1e3},          {"KiB", 1024.0},
        {"M", 1e6}, {"MB", 1e6}, {"MiB", 1048576.0}, {"G", 1e9}, {"GB", 1e9}, {"GiB", 1073741824.0}};
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

std::string join_known(const std::vector<std::string>& v, size_t most) {
    if (v.size() <= most) return join(v);
    std::string s;
    for (size_t i = 0; i < most; ++i) s += v[i] + ", ";
    return s + "... and " + std::to_string(v.size() - most) + " more";
}

std::string join(const std::vector<std::string>& v, const char* sep) {
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
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

bool in_lab_range(const Cidr& c) { return lab_range_v4().contains(c) || lab_range_v6().contains(c); }
std::string lab_range_text() { return lab_range_v4().str() + " or " + lab_range_v6().str(); }

MapView::MapView(Reader& l, const Field& f) : r_(l), self_(f) {
    if (f.node.IsNull()) {
        ok_ = true;  // "key:" with nothing after it reads as an empty map
        return;
    }
    if (!f.node.IsMap()) {
        l.error(f, "expected a map, got " + describe(f.node));
        return;
    }
    ok_ = true;
    entries_.reserve(f.node.size());  // an Entry's Field copies on a move (YAML::Node has no move)
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
    allow(std::vector<std::string>(allowed.begin(), allowed.end()));
}

void MapView::allow(const std::vector<std::string>& names) {
    for (auto& e : entries_) {
        bool known = std::any_of(names.begin(), names.end(), [&](const std::string& a) { return e.key == a; });
        if (known) continue;
        std::string msg = "unknown key '" + e.key + "'";
        for (auto& n : names)
            if (edit_distance(e.key, n) <= 2) {
                msg += " (did you mean '" + n + "'?)";
                break;
            }
        r_.error(e.key_mark, e.value.path, msg + "; allowed here: " + join(names));
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
        r_.error(self_.key_mark, child_path(self_.path, key),
                 "missing required key '" + key + "'" + (why.empty() ? "" : " (" + why + ")"));
    return f;
}

std::optional<double> Reader::probability(const Field& f) {
    auto s = str(f);
    if (!s) return std::nullopt;
    std::string text = *s;
    bool pct = !text.empty() && text.back() == '%';
    if (pct) text.pop_back();
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(text.c_str(), &end);
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

std::optional<std::string> Reader::one_of(const Field& f, const std::vector<std::string>& options,
                                          const std::string& what) {
    auto s = str(f);
    if (!s) return std::nullopt;
    if (std::find(options.begin(), options.end(), *s) != options.end()) return s;
    std::string msg = "unknown " + what + " '" + *s + "'";
    for (auto& o : options)
        if (edit_distance(*s, o) <= 2) {
            msg += " (did you mean '" + o + "'?)";
            break;
        }
    error(f, msg + "; use " + join(options, " or "));
    return std::nullopt;
}

std::vector<std::string> FaultContext::host_names() const {
    std::vector<std::string> v;
    for (auto& h : plan().topology.hosts) v.push_back(h.name);
    return v;
}

}  // namespace inj::plan
