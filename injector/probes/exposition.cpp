// Parsing the Prometheus text exposition format and series selectors (see exposition.hpp). A
// small cursor over the text; every read checks the end first, so truncated input is an error.
#include "probes/exposition.hpp"

#include <cstdlib>

namespace inj::probes {
namespace {

bool name_start(char c, bool colon) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}
bool name_char(char c, bool colon) { return name_start(c, colon) || (c >= '0' && c <= '9'); }

// A read position in one line (exposition) or in a selector; `fail` records the first problem.
struct Cursor {
    std::string_view s;
    size_t i = 0;
    std::string err;

    bool end() const { return i >= s.size(); }
    char peek() const { return end() ? '\0' : s[i]; }
    void skip_blanks() {
        while (!end() && (s[i] == ' ' || s[i] == '\t')) ++i;
    }
    bool fail(const std::string& what) {
        if (err.empty()) err = what + " at column " + std::to_string(i + 1);
        return false;
    }
    // A metric name (colon allowed) or a label name.
    bool name(std::string& out, bool colon, const char* what) {
        if (end() || !name_start(s[i], colon)) return fail(std::string("expected a ") + what);
        size_t b = i;
        while (!end() && name_char(s[i], colon)) ++i;
        out.assign(s.substr(b, i - b));
        return true;
    }
    // "..." with the format's escapes \\, \" and \n.
    bool quoted(std::string& out) {
        if (peek() != '"') return fail("expected '\"' to open a label value");
        ++i;
        out.clear();
        while (!end() && s[i] != '"') {
            char c = s[i++];
            if (c == '\\') {
                if (end()) break;
                char e = s[i++];
                out += e == 'n' ? '\n' : e;
            } else {
                out += c;
            }
        }
        if (end()) return fail("unterminated label value");
        ++i;
        return true;
    }
    // The token up to the next blank or the end.
    std::string_view token() {
        size_t b = i;
        while (!end() && s[i] != ' ' && s[i] != '\t') ++i;
        return s.substr(b, i - b);
    }
};

bool parse_value(std::string_view tok, double& out) {
    if (tok.empty() || tok.size() > 64) return false;
    std::string t(tok);
    if (t == "+Inf" || t == "Inf") {
        out = __builtin_inf();
        return true;
    }
    if (t == "-Inf") {
        out = -__builtin_inf();
        return true;
    }
    if (t == "NaN") {
        out = __builtin_nan("");
        return true;
    }
    // strtod also takes "inf", "nan(...)" and hex floats; the format does not, so digits only.
    if (t.find_first_not_of("0123456789+-.eE") != std::string::npos) return false;
    char* e = nullptr;
    out = std::strtod(t.c_str(), &e);
    return e == t.c_str() + t.size();
}

// Label pairs of a sample: {a="x",b="y",} (a trailing comma is allowed by the format).
bool sample_labels(Cursor& c, std::map<std::string, std::string>& labels) {
    ++c.i;  // '{'
    while (true) {
        c.skip_blanks();
        if (c.peek() == '}') {
            ++c.i;
            return true;
        }
        std::string k, v;
        if (!c.name(k, false, "label name")) return false;
        c.skip_blanks();
        if (c.peek() != '=') return c.fail("expected '=' after label " + k);
        ++c.i;
        c.skip_blanks();
        if (!c.quoted(v)) return false;
        if (!labels.emplace(k, v).second) return c.fail("label " + k + " given twice");
        c.skip_blanks();
        if (c.peek() == ',')
            ++c.i;
        else if (c.peek() != '}')
            return c.fail("expected ',' or '}'");
    }
}

bool sample_line(Cursor& c, MetricSample& out) {
    if (!c.name(out.name, true, "metric name")) return false;
    if (c.peek() == '{' && !sample_labels(c, out.labels)) return false;
    if (c.peek() != ' ' && c.peek() != '\t') return c.fail("expected a blank before the value");
    c.skip_blanks();
    auto v = c.token();
    if (!parse_value(v, out.value)) return c.fail("bad sample value '" + std::string(v.substr(0, 40)) + "'");
    c.skip_blanks();
    if (!c.end()) {
        auto ts = c.token();
        if (ts.empty() || ts.size() > 20 || ts.find_first_not_of("-0123456789") != std::string::npos)
            return c.fail("bad timestamp");
        c.skip_blanks();
        if (!c.end()) return c.fail("unexpected text after the timestamp");
    }
    return true;
}

}  // namespace

Result<std::vector<MetricSample>> parse_exposition(std::string_view text) {
    std::vector<MetricSample> out;
    size_t pos = 0;
    int line_no = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        Cursor c{line};
        c.skip_blanks();
        if (c.end() || c.peek() == '#') continue;
        MetricSample s;
        if (!sample_line(c, s)) return plain_error("metrics: line " + std::to_string(line_no) + ": " + c.err);
        out.push_back(std::move(s));
    }
    return out;
}

bool Selector::matches(const MetricSample& s) const {
    if (!name.empty() && s.name != name) return false;
    for (auto& m : matchers) {
        const std::string* have = nullptr;
        if (m.name == "__name__") {
            have = &s.name;
        } else if (auto it = s.labels.find(m.name); it != s.labels.end()) {
            have = &it->second;
        }
        // An absent label matches the empty string, as in Prometheus.
        bool eq = (have ? *have : std::string()) == m.value;
        if (eq != m.equal) return false;
    }
    return true;
}

Result<Selector> parse_selector(std::string_view text) {
    Selector sel;
    Cursor c{text};
    auto bad = [&](const std::string& what) {
        c.fail(what);
        return plain_error("selector '" + std::string(text.substr(0, 200)) + "': " + c.err);
    };
    c.skip_blanks();
    if (c.peek() != '{' && !c.name(sel.name, true, "metric name")) return bad("");
    c.skip_blanks();
    if (c.peek() == '{') {
        ++c.i;
        while (true) {
            c.skip_blanks();
            if (c.peek() == '}') {
                ++c.i;
                break;
            }
            LabelMatcher m;
            if (!c.name(m.name, false, "label name")) return bad("");
            c.skip_blanks();
            if (c.s.substr(c.i, 2) == "=~" || c.s.substr(c.i, 2) == "!~")
                return bad("regular-expression matchers need a Prometheus server (`url:`), not a /metrics endpoint");
            if (c.s.substr(c.i, 2) == "!=") {
                m.equal = false;
                c.i += 2;
            } else if (c.peek() == '=') {
                ++c.i;
            } else {
                return bad("expected '=' or '!=' after " + m.name);
            }
            c.skip_blanks();
            if (!c.quoted(m.value)) return bad("");
            sel.matchers.push_back(std::move(m));
            c.skip_blanks();
            if (c.peek() == ',')
                ++c.i;
            else if (c.peek() != '}')
                return bad("expected ',' or '}'");
        }
    }
    c.skip_blanks();
    if (!c.end()) return bad("unexpected text (a /metrics query is one series selector, not PromQL)");
    if (sel.name.empty() && sel.matchers.empty()) return bad("an empty selector matches nothing");
    return sel;
}

}  // namespace inj::probes
