// http: and prometheus: probe attempts (see checks.hpp).
#include "probes/checks.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/netns.hpp"
#include "probes/exposition.hpp"
#include "probes/http.hpp"

namespace inj::probes {
namespace {

// Bodies kept for a body match, and for a metrics page or a query answer.
constexpr size_t kHttpBodyCap = 1u << 20;
constexpr size_t kMetricsBodyCap = 16u << 20;

std::string fmt(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

std::string describe(const std::string& name, const std::map<std::string, std::string>& labels) {
    std::string s = name;
    if (labels.empty()) return s;
    s += '{';
    bool first = true;
    for (auto& [k, v] : labels) {
        s += (first ? "" : ",") + k + "=\"" + v + "\"";
        first = false;
    }
    return s + '}';
}

// The request, inside the probe's namespace when it names one.
Result<HttpResponse> request_in(const std::string& netns, const std::string& url, const std::string& method,
                                std::chrono::nanoseconds timeout, size_t cap) {
    INJ_ASSIGN_OR_RETURN(auto guard, NetnsGuard::enter_unless_empty(netns));
    (void)guard;
    return http_request(url, method, timeout, cap);
}

std::optional<double> number_of(const nlohmann::json& v) {
    // Prometheus sends sample values as strings ("1", "+Inf", "NaN").
    if (!v.is_string()) return std::nullopt;
    const std::string s = v.get<std::string>();
    if (s == "+Inf" || s == "Inf") return INFINITY;
    if (s == "-Inf") return -INFINITY;
    if (s == "NaN") return NAN;
    if (s.empty() || s.size() > 64 || s.find_first_not_of("0123456789+-.eE") != std::string::npos) return std::nullopt;
    char* e = nullptr;
    double d = std::strtod(s.c_str(), &e);
    if (e != s.c_str() + s.size()) return std::nullopt;
    return d;
}

}  // namespace

std::string judge_http(const HttpCheck& c, long status, std::string_view body) {
    bool status_ok = c.statuses.empty() ? (status >= 200 && status <= 299)
                                        : std::find(c.statuses.begin(), c.statuses.end(), status) != c.statuses.end();
    if (!status_ok) {
        std::string want;
        for (int s : c.statuses) want += (want.empty() ? "" : ", ") + std::to_string(s);
        return "status " + std::to_string(status) + ", expected " + (want.empty() ? "2xx" : want);
    }
    if (c.body_contains && body.find(*c.body_contains) == std::string_view::npos)
        return "status " + std::to_string(status) + " but the body lacks \"" + *c.body_contains + "\"";
    return "";
}

CheckOutcome run_http_check(const HttpCheck& c, const std::string& url, std::chrono::nanoseconds timeout,
                            const std::string& netns) {
    auto r = request_in(netns, url, c.method, timeout, kHttpBodyCap);
    if (!r) return {false, r.error().message()};
    std::string why = judge_http(c, r->status, r->body);
    if (!why.empty()) return {false, why};
    return {true, "status " + std::to_string(r->status)};
}

Result<Series> parse_query_response(std::string_view text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return plain_error("prometheus: the answer is not a JSON object");
    // value() throws when a field has another type; answers from the network are read this way.
    auto text_of = [&j](const char* key) {
        return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
    };
    if (text_of("status") != "success") {
        std::string err = text_of("error").empty() ? "no reason" : text_of("error");
        return plain_error("prometheus: query failed: " + err.substr(0, 300));
    }
    if (!j.contains("data") || !j["data"].is_object()) return plain_error("prometheus: the answer has no data");
    const auto& d = j["data"];
    std::string type =
        d.contains("resultType") && d["resultType"].is_string() ? d["resultType"].get<std::string>() : "";
    const auto& res = d.contains("result") ? d["result"] : nlohmann::json();
    Series out;
    auto value_of = [](const nlohmann::json& pair) -> std::optional<double> {
        if (!pair.is_array() || pair.size() != 2) return std::nullopt;
        return number_of(pair[1]);
    };
    if (type == "scalar") {
        auto v = value_of(res);
        if (!v) return plain_error("prometheus: a malformed scalar");
        out.emplace_back("scalar", *v);
        return out;
    }
    if (type != "vector")
        return plain_error("prometheus: the query gave a " + (type.empty() ? std::string("result of no type") : type) +
                           "; a probe needs an instant vector or a scalar");
    if (!res.is_array()) return plain_error("prometheus: a malformed vector");
    for (const auto& item : res) {
        if (!item.is_object() || !item.contains("value")) return plain_error("prometheus: a malformed sample");
        auto v = value_of(item["value"]);
        if (!v) return plain_error("prometheus: a malformed sample value");
        std::map<std::string, std::string> labels;
        std::string name;
        if (item.contains("metric") && item["metric"].is_object())
            for (auto& [k, val] : item["metric"].items()) {
                if (!val.is_string()) continue;
                if (k == "__name__")
                    name = val.get<std::string>();
                else
                    labels[k] = val.get<std::string>();
            }
        out.emplace_back(describe(name, labels), *v);
    }
    return out;
}

Result<Series> select_exposition(std::string_view exposition, const std::string& selector) {
    INJ_ASSIGN_OR_RETURN(auto sel, parse_selector(selector));
    INJ_ASSIGN_OR_RETURN(auto samples, parse_exposition(exposition));
    Series out;
    for (auto& s : samples)
        if (sel.matches(s)) out.emplace_back(describe(s.name, s.labels), s.value);
    return out;
}

std::string judge_values(const MetricCheck& c, const Series& values) {
    if (values.empty()) return "no sample matches " + c.query;
    for (auto& [series, v] : values) {
        if (std::isnan(v)) return series + " is NaN";
        if (c.above && !(v > *c.above)) return series + " = " + fmt(v) + ", not above " + fmt(*c.above);
        if (c.below && !(v < *c.below)) return series + " = " + fmt(v) + ", not below " + fmt(*c.below);
    }
    return "";
}

std::string query_url(const std::string& base, const std::string& query) {
    std::string b = base;
    while (!b.empty() && b.back() == '/') b.pop_back();
    return b + "/api/v1/query?query=" + url_escape(query);
}

CheckOutcome run_metric_check(const MetricCheck& c, const std::string& url, std::chrono::nanoseconds timeout,
                              const std::string& netns) {
    bool server = c.source == MetricCheck::Source::prometheus;
    auto r = request_in(netns, server ? query_url(url, c.query) : url, "GET", timeout, kMetricsBodyCap);
    if (!r) return {false, r.error().message()};
    if (r->truncated) return {false, url + ": the answer is larger than 16 MiB"};
    // Prometheus answers a bad query with 400 and a JSON reason: let the parser report it.
    if (r->status != 200 && !(server && r->status >= 400 && r->status < 500))
        return {false, url + ": status " + std::to_string(r->status)};
    auto values = server ? parse_query_response(r->body) : select_exposition(r->body, c.query);
    if (!values) return {false, values.error().message()};
    std::string why = judge_values(c, *values);
    if (!why.empty()) return {false, why};
    std::string seen;
    for (size_t i = 0; i < values->size() && i < 3; ++i)
        seen += (i ? ", " : "") + (*values)[i].first + " = " + fmt((*values)[i].second);
    if (values->size() > 3) seen += ", ... (" + std::to_string(values->size()) + " series)";
    return {true, seen};
}

}  // namespace inj::probes
