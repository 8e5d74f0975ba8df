// Reading a plan's YAML with positions: a value with its path and file:line:col (Field), a map
// whose unknown and duplicate keys are reported with a guess at the intended key (MapView), and
// typed readers that report their own problem and return nullopt (Reader). The plan loader and
// every fault kind's module read through these, so every error names where it is.
// yaml-cpp is used behind this header and the loader only.
#pragma once

#include <yaml-cpp/yaml.h>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "plan/limits.hpp"
#include "plan/model.hpp"

namespace inj::plan {

using YAML::Node;

// A value in the document with where it came from.
struct Field {
    Node node;
    std::string path;
    Mark mark;      // of the value; the key's when the value has no position
    Mark key_mark;  // of the key that introduced the value (for list items: the item itself)
};

std::string join(const std::vector<std::string>& v, const char* sep = ", ");
// The names an error offers instead of an unknown one: all of them when there are a few, the
// first `most` and how many more otherwise (a plan of 32,000 hosts must not print them all).
std::string join_known(const std::vector<std::string>& v, size_t most = 12);
std::string child_path(const std::string& parent, const std::string& key);
std::string describe(const Node& n);  // "a map", "a list", "'x'", "nothing"
size_t edit_distance(const std::string& a, const std::string& b);
// Names become parts of namespace, cgroup and file names, so they stay plain.
bool valid_name(const std::string& s);
bool in_lab_range(const Cidr& c);
std::string lab_range_text();
// "10MiB", "10MiB/s", "512KiB", "1G", "1000000" (bytes); nullopt with the reason.
std::optional<uint64_t> parse_bytes(std::string s, std::string* why);
// A path inside a volume, relative to it and never leaving it. Returns the normalised path
// ("member/wal/*"), or nullopt with the reason; `volumes` names the volumes for the message.
std::optional<std::string> volume_relative(const std::string& p, const std::string& volumes, std::string* why);

class MapView;

// Typed readers over Fields; each reports its own problem (file:line:col, path) and returns nullopt.
class Reader {
public:
    explicit Reader(std::string file) : file_(std::move(file)) {}
    virtual ~Reader() = default;

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
    // lab_only: the address must lie in the lab range (everything but a bound host's own).
    std::optional<Cidr> cidr(const Field& f, bool lab_only = true) {
        auto s = str(f);
        if (!s) return std::nullopt;
        std::string why;
        auto c = Cidr::parse(*s, &why);
        if (!c) {
            error(f, "bad address '" + *s + "': " + why);
            return std::nullopt;
        }
        if (lab_only && !in_lab_range(*c)) {
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
        out.reserve(f.node.size());  // a Field copies on a move (YAML::Node has no move)
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
    // A probability: a number in [0, 1] or a percentage ("5%", "0.5%").
    std::optional<double> probability(const Field& f);
    // One of `options` (a word the plan must spell exactly); else an error listing them, with a
    // guess at the intended one. `what` names the value ("loss model").
    std::optional<std::string> one_of(const Field& f, const std::vector<std::string>& options, const std::string& what);
    size_t error_count() const { return errors_.size(); }

protected:
    std::string file_;
    std::vector<PlanError> errors_;
};

// A YAML map being read: keys are looked up by name, unknown and duplicate keys reported.
class MapView {
public:
    MapView(Reader& r, const Field& f);
    bool ok() const { return ok_; }
    // Reports every key not in `allowed` (with the allowed list and a guess at the intended one).
    void allow(std::initializer_list<const char*> allowed);
    void allow(const std::vector<std::string>& allowed);
    std::optional<Field> get(const std::string& key) const;
    std::optional<Field> require(const std::string& key, const std::string& why = {});
    const Field& self() const { return self_; }

private:
    struct Entry {
        std::string key;
        Mark key_mark;
        Field value;
    };
    Reader& r_;
    Field self_;
    bool ok_ = false;
    std::vector<Entry> entries_;
};

// What a fault kind's loader sees: the readers, and the plan as loaded so far (topology with its
// addresses, lab, safety, probes), so its keys can be checked against it.
class FaultContext : public Reader {
public:
    using Reader::Reader;
    virtual const Plan& plan() const = 0;
    std::vector<std::string> host_names() const;
};

}  // namespace inj::plan
