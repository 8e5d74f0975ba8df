// Expansion and checking of plan command templates (the placeholders are listed in
// template.hpp). One splitter serves both: expand_template fills values in, check_template only
// proves that every placeholder would resolve, so a plan is refused before a lab is built.
#include "plan/template.hpp"

#include "plan/limits.hpp"

#include <algorithm>

namespace inj::plan {
namespace {

// A template cut into literal text and placeholder bodies (the text between the braces).
struct Piece {
    bool placeholder = false;
    std::string text;
};

// Braces nest inside a placeholder so that {each:SVC:{host}=http://{addr}:2380} is one piece;
// outside placeholders {{ and }} are literal braces. Returns an error message, or "" on success.
std::string split(std::string_view t, std::vector<Piece>& out) {
    std::string lit;
    size_t i = 0;
    while (i < t.size()) {
        char c = t[i];
        if (c == '{' && i + 1 < t.size() && t[i + 1] == '{') {
            lit += '{';
            i += 2;
        } else if (c == '}' && i + 1 < t.size() && t[i + 1] == '}') {
            lit += '}';
            i += 2;
        } else if (c == '{') {
            int depth = 1;
            size_t j = i + 1;
            for (; j < t.size() && depth > 0; ++j) {
                if (t[j] == '{')
                    ++depth;
                else if (t[j] == '}')
                    --depth;
            }
            if (depth > 0)
                return "unterminated placeholder '" + std::string(t.substr(i)) + "' (write {{ for a literal brace)";
            std::string body(t.substr(i + 1, j - i - 2));
            if (body.empty()) return "empty placeholder {} (write {{}} for literal braces)";
            if (!lit.empty()) out.push_back({false, std::move(lit)});
            lit.clear();
            out.push_back({true, std::move(body)});
            i = j;
        } else if (c == '}') {
            return "unmatched '}' at offset " + std::to_string(i) + " (write }} for a literal brace)";
        } else {
            lit += c;
            ++i;
        }
    }
    if (!lit.empty()) out.push_back({false, std::move(lit)});
    return {};
}

// Placeholders that describe the current host.
bool is_host_attr(const std::string& n) {
    return n == "host" || n == "addr" || n == "addr6" || n == "zone" || n == "power_domain" || n == "volume";
}
// Placeholders that take a service name and list its hosts.
bool is_service_list(const std::string& n) { return n == "addrs" || n == "endpoints" || n == "urls"; }

const Service* find_service(const Plan& plan, const std::string& name) {
    for (auto& s : plan.lab.services)
        if (s.name == name) return &s;
    return nullptr;
}

const Cidr* first_address(const Host& h, bool v6) {
    for (auto& a : h.addresses)
        if (a.addr.v6 == v6) return &a;
    return nullptr;
}

std::string known_list(const std::vector<std::string>& vars) {
    std::string s =
        "host, addr, addr6, zone, power_domain, volume, addr:HOST, addr6:HOST, addrs:SVC, "
        "endpoints:SVC, urls:SVC, each:SVC:PATTERN";
    for (auto& v : vars) s += ", " + v;
    return s;
}

Error template_error(std::string what, std::string_view tmpl) {
    return plain_error(std::move(what), "template '" + std::string(tmpl) + "'");
}

// Splits "name:arg" at the first colon; arg is nullopt when there is no colon.
std::pair<std::string, std::optional<std::string>> name_arg(const std::string& body) {
    auto colon = body.find(':');
    if (colon == std::string::npos) return {body, std::nullopt};
    return {body.substr(0, colon), body.substr(colon + 1)};
}

Result<std::string> expand_one(const std::string& body, std::string_view tmpl, const TemplateContext& ctx);

Result<std::string> expand_host_attr(const std::string& name, std::string_view tmpl, const TemplateContext& ctx) {
    if (ctx.host.empty())
        return template_error("{" + name + "} needs a current host, and this template has none", tmpl);
    const Host* h = ctx.plan->topology.host(ctx.host);
    if (!h) return template_error("unknown host '" + ctx.host + "' for {" + name + "}", tmpl);
    if (name == "host") return h->name;
    if (name == "zone") return h->zone;
    if (name == "power_domain") return h->power_domain;
    if (name == "addr" || name == "addr6") {
        const Cidr* a = first_address(*h, name == "addr6");
        if (!a)
            return template_error(
                "host '" + h->name + "' has no " + (name == "addr6" ? "IPv6" : "IPv4") + " address for {" + name + "}",
                tmpl);
        return a->addr.str();
    }
    // {volume}: without a mapping (a dry run, a listing) the volume's name stands for its path.
    if (ctx.volume.empty())
        return template_error("{volume} used where no volume is declared (give the service a volume)", tmpl);
    return ctx.volume_path ? ctx.volume_path(h->name, ctx.volume) : ctx.volume;
}

Result<std::string> expand_service(const std::string& name, const std::string& svc_name, std::string_view tmpl,
                                   const TemplateContext& ctx) {
    const Service* svc = find_service(*ctx.plan, svc_name);
    if (!svc) return template_error("unknown service '" + svc_name + "' in {" + name + ":" + svc_name + "}", tmpl);
    if (name != "addrs" && !svc->port)
        return template_error("{" + name + ":" + svc_name + "} needs service '" + svc_name + "' to declare a port",
                              tmpl);
    std::string out;
    for (auto& hn : svc->hosts) {
        const Host* h = ctx.plan->topology.host(hn);
        const Cidr* a = h ? first_address(*h, false) : nullptr;
        if (!a) return template_error("host '" + hn + "' of service '" + svc_name + "' has no IPv4 address", tmpl);
        if (!out.empty()) out += ',';
        if (name == "urls") out += "http://";
        out += a->addr.str();
        if (name != "addrs") out += ":" + std::to_string(*svc->port);
    }
    return out;
}

Result<std::string> expand_each(const std::string& arg, std::string_view tmpl, const TemplateContext& ctx) {
    auto [svc_name, pattern] = name_arg(arg);
    if (!pattern || pattern->empty())
        return template_error("{each:" + arg + "} needs a pattern: {each:SVC:PATTERN}", tmpl);
    const Service* svc = find_service(*ctx.plan, svc_name);
    if (!svc) return template_error("unknown service '" + svc_name + "' in {each:" + arg + "}", tmpl);
    if (ctx.depth >= limits::kMaxTemplateDepth)
        return template_error("{each:} nests more than " + std::to_string(limits::kMaxTemplateDepth) + " deep", tmpl);
    TemplateContext inner = ctx;
    inner.depth = ctx.depth + 1;
    inner.volume = svc->volume.value_or("");
    std::string out;
    for (auto& hn : svc->hosts) {
        inner.host = hn;
        auto r = expand_template(*pattern, inner);
        if (!r) return r;
        if (!out.empty()) out += ',';
        out += r.value();
    }
    return out;
}

Result<std::string> expand_one(const std::string& body, std::string_view tmpl, const TemplateContext& ctx) {
    auto [name, arg] = name_arg(body);
    if (!arg && is_host_attr(name)) return expand_host_attr(name, tmpl, ctx);
    if (arg && (name == "addr" || name == "addr6")) {
        if (!ctx.plan->topology.host(*arg))
            return template_error("unknown host '" + *arg + "' in {" + body + "}", tmpl);
        TemplateContext other = ctx;
        other.host = *arg;
        return expand_host_attr(name, tmpl, other);
    }
    if (arg && is_service_list(name)) return expand_service(name, *arg, tmpl, ctx);
    if (arg && name == "each") return expand_each(*arg, tmpl, ctx);
    if (!arg) {
        auto v = ctx.vars.find(name);
        if (v != ctx.vars.end()) return v->second;
    }
    std::vector<std::string> vars;
    for (auto& [k, _] : ctx.vars) vars.push_back(k);
    return template_error("unknown placeholder {" + body + "} (known: " + known_list(vars) + ")", tmpl);
}

}  // namespace

Result<std::string> expand_template(std::string_view tmpl, const TemplateContext& ctx) {
    if (!ctx.plan) return template_error("no plan to expand against", tmpl);
    std::vector<Piece> pieces;
    if (auto err = split(tmpl, pieces); !err.empty()) return template_error(err, tmpl);
    std::string out;
    for (auto& p : pieces) {
        if (!p.placeholder) {
            out += p.text;
            continue;
        }
        auto r = expand_one(p.text, tmpl, ctx);
        if (!r) return r;
        out += r.value();
        if (out.size() > limits::kMaxTemplateBytes)
            return template_error("expands to more than " + std::to_string(limits::kMaxTemplateBytes) + " bytes", tmpl);
    }
    return out;
}

std::vector<std::string> check_template(std::string_view tmpl, const Plan& plan, bool has_host,
                                        const std::vector<std::string>& vars, int depth) {
    std::vector<std::string> problems;
    if (depth > limits::kMaxTemplateDepth)
        return {"{each:} nests more than " + std::to_string(limits::kMaxTemplateDepth) + " deep"};
    std::vector<Piece> pieces;
    if (auto err = split(tmpl, pieces); !err.empty()) return {err};
    for (auto& p : pieces) {
        if (!p.placeholder) continue;
        auto [name, arg] = name_arg(p.text);
        std::string ph = "{" + p.text + "}";
        if (!arg && is_host_attr(name)) {
            if (!has_host)
                problems.push_back(ph +
                                   " refers to the current host, but this template runs in control "
                                   "(name the host, e.g. {" +
                                   name + ":HOST}" +
                                   (name == "addr" || name == "addr6" ? ")" : ", or run it in a host)"));
        } else if (arg && (name == "addr" || name == "addr6")) {
            const Host* h = plan.topology.host(*arg);
            if (!h) {
                problems.push_back("unknown host '" + *arg + "' in " + ph);
            } else if (name == "addr6" && !first_address(*h, true)) {
                const Zone* z = plan.topology.zone(h->zone);
                if (!z || !z->subnet6)
                    problems.push_back(ph + ": host '" + *arg + "' has no IPv6 address (its zone has no subnet6)");
            }
        } else if (arg && is_service_list(name)) {
            const Service* s = find_service(plan, *arg);
            if (!s)
                problems.push_back("unknown service '" + *arg + "' in " + ph);
            else if (name != "addrs" && !s->port)
                problems.push_back(ph + " needs service '" + *arg + "' to declare a port");
        } else if (arg && name == "each") {
            auto [svc, pattern] = name_arg(*arg);
            if (!find_service(plan, svc)) problems.push_back("unknown service '" + svc + "' in " + ph);
            if (!pattern || pattern->empty()) {
                problems.push_back(ph + " needs a pattern: {each:SVC:PATTERN}");
            } else {
                for (auto& inner : check_template(*pattern, plan, true, vars, depth + 1)) problems.push_back(inner);
            }
        } else if (arg || std::find(vars.begin(), vars.end(), name) == vars.end()) {
            problems.push_back("unknown placeholder " + ph + " (known: " + known_list(vars) + ")");
        }
    }
    return problems;
}

}  // namespace inj::plan
