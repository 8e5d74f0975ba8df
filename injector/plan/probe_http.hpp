// The plan keys of the http: and prometheus: probes, read from the YAML value of that key. Kept
// out of the loader so the loader only calls it; the probes' runtime is injector/probes/.
//
//   http: URL                          shorthand for { url: URL }
//   http: { url: URL (a template, http:// or https://), method: GET|HEAD|POST (GET),
//           status: N | [N, ...] (100..599; default any 2xx), body_contains: TEXT }
//   prometheus: { url: PROMETHEUS_URL | metrics: METRICS_URL (exactly one; templates),
//                 query: PromQL (url) | a series selector name{l="v",m!="w"} (metrics),
//                 above: NUMBER, below: NUMBER (at least one; strict bounds) }
// The probe's own `timeout` bounds the request; `in` names the namespace it is made from.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "plan/loader.hpp"
#include "plan/model.hpp"

namespace YAML {
class Node;
}

namespace inj::plan {

struct ProbeCheck {
    Probe::Kind kind = Probe::Kind::http;
    std::string url;       // the URL template: becomes Probe::target
    Mark url_mark;         // where the URL is, for the loader's template checks
    std::string url_path;  // its field path, e.g. steady_state.probes[1].http.url
    std::optional<probes::HttpCheck> http;
    std::optional<probes::MetricCheck> metric;
};

struct ProbeCheckResult {
    std::optional<ProbeCheck> check;  // set exactly when errors is empty
    std::vector<PlanError> errors;
};

// `key` is "http" or "prometheus"; `path` the field path of the value (…probes[i].http), `at`
// its position when the node has none. Never throws.
ProbeCheckResult load_probe_check(const YAML::Node& value, const std::string& key, const std::string& path,
                                  const Mark& at);

// "exec", "tcp", "http" or "prometheus".
const char* probe_kind_name(Probe::Kind k);

// Empty when `url` (a template: {...} stands for any host or text) is an http:// or https://
// URL with a host and, if given, a port in 1..65535; else the reason.
std::string check_url_shape(const std::string& url);

}  // namespace inj::plan
