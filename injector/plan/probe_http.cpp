// Reading the http: and prometheus: probe keys (see probe_http.hpp). Works on yaml-cpp nodes
// through decode (never as<>, which throws), and reports every problem with file:line:col and
// the field path, as the loader does.
#include "plan/probe_http.hpp"

#include <yaml-cpp/yaml.h>
#include <algorithm>
#include <cmath>
#include <set>

#include "probes/exposition.hpp"

namespace inj::plan {
namespace {

class Reader {
public:
    Reader(const Mark& at, std::vector<PlanError>& errors) : at_(at), errors_(errors) {}

    Mark mark(const YAML::Node& n) const {
        auto m = n.Mark();
        if (m.is_null() || m.line < 0) return at_;
        return Mark{at_.file, m.line + 1, m.column + 1};
    }
    void error(const YAML::Node& n, const std::string& path, std::string msg) {
        errors_.push_back(PlanError{mark(n), path, std::move(msg)});
    }
    std::optional<std::string> text(const YAML::Node& n, const std::string& path) {
        if (!n.IsScalar()) {
            error(n, path, "expected a string");
            return std::nullopt;
        }
        if (n.Scalar().empty()) {
            error(n, path, "must not be empty");
            return std::nullopt;
        }
        return n.Scalar();
    }
    std::optional<double> number(const YAML::Node& n, const std::string& path) {
        double d;
        if (!n.IsScalar() || !YAML::convert<double>::decode(n, d) || !std::isfinite(d)) {
            error(n, path, "expected a finite number");
            return std::nullopt;
        }
        return d;
    }
    std::optional<int> status(const YAML::Node& n, const std::string& path) {
        long long v;
        if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v)) {
            error(n, path, "expected an HTTP status code (100..599)");
            return std::nullopt;
        }
        if (v < 100 || v > 599) {
            error(n, path, "status " + n.Scalar() + " is outside 100..599");
            return std::nullopt;
        }
        return static_cast<int>(v);
    }
    // The map's entries, after refusing keys not in `allowed`.
    std::vector<std::pair<std::string, YAML::Node>> entries(const YAML::Node& n, const std::string& path,
                                                            const std::set<std::string>& allowed) {
        std::vector<std::pair<std::string, YAML::Node>> out;
        std::string list;
        for (auto& k : allowed) list += (list.empty() ? "" : ", ") + k;
        for (auto it = n.begin(); it != n.end(); ++it) {
            if (!it->first.IsScalar()) {
                error(it->first, path, "a key must be a plain string");
                continue;
            }
            const std::string k = it->first.Scalar();
            if (!allowed.count(k)) {
                error(it->first, path + "." + k, "unknown key '" + k + "' (allowed: " + list + ")");
                continue;
            }
            out.emplace_back(k, it->second);
        }
        return out;
    }
    // url / metrics: a URL template of the right shape.
    bool url(const YAML::Node& n, const std::string& path, ProbeCheck& c) {
        auto s = text(n, path);
        if (!s) return false;
        if (auto why = check_url_shape(*s); !why.empty()) {
            error(n, path, "'" + *s + "' " + why);
            return false;
        }
        c.url = *s;
        c.url_mark = mark(n);
        c.url_path = path;
        return true;
    }

private:
    Mark at_;
    std::vector<PlanError>& errors_;
};

void load_http(Reader& r, const YAML::Node& v, const std::string& path, ProbeCheck& c) {
    probes::HttpCheck h;
    if (v.IsScalar()) {  // http: URL
        r.url(v, path, c);
        c.http = h;
        return;
    }
    if (!v.IsMap()) return r.error(v, path, "expected a URL or a map { url, method, status, body_contains }");
    bool has_url = false;
    std::optional<YAML::Node> body;  // a handle of its own: entries() is a temporary
    for (auto& [k, n] : r.entries(v, path, {"url", "method", "status", "body_contains"})) {
        const std::string p = path + "." + k;
        if (k == "url") {
            has_url = true;
            r.url(n, p, c);
        } else if (k == "method") {
            auto m = r.text(n, p);
            if (m && *m != "GET" && *m != "HEAD" && *m != "POST")
                r.error(n, p, "method '" + *m + "' is not GET, HEAD or POST");
            else if (m)
                h.method = *m;
        } else if (k == "status") {
            if (n.IsSequence() && n.size() == 0) r.error(n, p, "an empty list accepts no status");
            std::vector<YAML::Node> items;
            if (!n.IsSequence()) items.push_back(n);
            for (auto it = n.begin(); n.IsSequence() && it != n.end(); ++it) items.push_back(*it);
            for (size_t i = 0; i < items.size(); ++i)
                if (auto s = r.status(items[i], n.IsSequence() ? p + "[" + std::to_string(i) + "]" : p))
                    h.statuses.push_back(*s);
        } else if (k == "body_contains") {
            if (auto b = r.text(n, p)) h.body_contains = *b;
            body = n;
        }
    }
    if (!has_url) r.error(v, path, "an http probe needs 'url'");
    if (body && h.method == "HEAD") r.error(*body, path + ".body_contains", "a HEAD request has no body to match");
    c.http = h;
}

void load_prometheus(Reader& r, const YAML::Node& v, const std::string& path, ProbeCheck& c) {
    c.kind = Probe::Kind::prometheus;
    probes::MetricCheck m;
    if (!v.IsMap()) return r.error(v, path, "expected a map { url | metrics, query, above, below }");
    int sources = 0;
    std::optional<std::pair<YAML::Node, std::string>> query;
    std::optional<YAML::Node> above_node;
    bool bound = false;
    for (auto& [k, n] : r.entries(v, path, {"url", "metrics", "query", "above", "below"})) {
        const std::string p = path + "." + k;
        if (k == "url" || k == "metrics") {
            ++sources;
            m.source = k == "url" ? probes::MetricCheck::Source::prometheus : probes::MetricCheck::Source::metrics;
            r.url(n, p, c);
        } else if (k == "query") {
            query.emplace(n, p);
        } else if (k == "above") {
            bound = true;
            m.above = r.number(n, p);
            above_node = n;
        } else if (k == "below") {
            bound = true;
            m.below = r.number(n, p);
        }
    }
    if (sources != 1)
        r.error(
            v, path,
            "a prometheus probe needs exactly one of 'url' (a Prometheus server) or 'metrics' (a /metrics endpoint)");
    if (!query) {
        r.error(v, path, "a prometheus probe needs 'query'");
    } else if (auto q = r.text(query->first, query->second)) {
        m.query = *q;
        if (sources == 1 && m.source == probes::MetricCheck::Source::metrics)
            if (auto sel = probes::parse_selector(*q); !sel)
                r.error(query->first, query->second, sel.error().message());
    }
    if (!bound) r.error(v, path, "a prometheus probe needs a bound: 'above', 'below' or both");
    if (m.above && m.below && !(*m.above < *m.below))
        r.error(*above_node, path + ".above", "above must be less than below, or no value can hold");
    c.metric = m;
}

}  // namespace

std::string check_url_shape(const std::string& url) {
    // Every placeholder stands for one harmless character, so "{addr:web-1}:8080" has a port.
    std::string shape;
    for (size_t i = 0; i < url.size(); ++i) {
        if (url[i] == '{' && i + 1 < url.size() && url[i + 1] == '{') {
            shape += '{';
            ++i;
        } else if (url[i] == '{') {
            size_t j = url.find('}', i);
            if (j == std::string::npos) return "has a '{' that no '}' closes";
            shape += 'x';
            i = j;
        } else {
            shape += url[i];
        }
    }
    for (unsigned char ch : shape)
        if (ch <= ' ' || ch == 0x7f) return "is not a URL: it holds a blank or a control character";
    size_t rest = 0;
    if (shape.rfind("http://", 0) == 0)
        rest = 7;
    else if (shape.rfind("https://", 0) == 0)
        rest = 8;
    else
        return "is not an http:// or https:// URL";
    size_t end = shape.find_first_of("/?#", rest);
    std::string authority = shape.substr(rest, end == std::string::npos ? std::string::npos : end - rest);
    if (auto at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
    size_t host_end = authority.size();
    if (!authority.empty() && authority[0] == '[') {
        size_t close = authority.find(']');
        if (close == std::string::npos) return "is not a URL: '[' opens an IPv6 address that no ']' closes";
        host_end = close + 1;
        if (host_end < authority.size() && authority[host_end] != ':')
            return "is not a URL: text after the IPv6 address";
    } else if (auto colon = authority.rfind(':'); colon != std::string::npos) {
        host_end = colon;
    }
    if (host_end == 0) return "is not a URL: it names no host";
    if (host_end < authority.size()) {
        std::string port = authority.substr(host_end + 1);
        bool digits = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
        if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535) return "has a bad port (1..65535)";
    }
    return "";
}

ProbeCheckResult load_probe_check(const YAML::Node& value, const std::string& key, const std::string& path,
                                  const Mark& at) {
    ProbeCheckResult out;
    Reader r(at, out.errors);
    ProbeCheck c;
    try {
        if (key == "http")
            load_http(r, value, path, c);
        else
            load_prometheus(r, value, path, c);
    } catch (const YAML::Exception& e) {  // yaml-cpp may throw on a malformed node; never past here
        out.errors.push_back(PlanError{at, path, std::string("YAML: ") + e.what()});
    }
    if (out.errors.empty()) out.check = std::move(c);
    return out;
}

const char* probe_kind_name(Probe::Kind k) {
    switch (k) {
        case Probe::Kind::exec: return "exec";
        case Probe::Kind::tcp: return "tcp";
        case Probe::Kind::http: return "http";
        case Probe::Kind::prometheus: return "prometheus";
    }
    return "exec";
}

}  // namespace inj::plan
