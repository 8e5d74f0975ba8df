// What an `http:` or `prometheus:` steady-state probe checks, as the plan gives it. Plain data
// with no plan types, so the probe runtime (this directory) and the plan loader share it.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace inj::probes {

// An HTTP check: one request, its status among `statuses`, and the body holding a substring.
struct HttpCheck {
    std::string method = "GET";  // GET, HEAD or POST (POST sends an empty body)
    std::vector<int> statuses;   // accepted statuses; empty: any 2xx
    std::optional<std::string> body_contains;
};

// A metric check. `prometheus`: `query` is PromQL sent to a Prometheus server's instant query API
// (url is the server's base URL). `metrics`: url is a text-format /metrics endpoint read directly,
// and `query` a series selector (name{label="v",other!="w"}). Every sample the query returns must
// lie strictly above `above` and below `below`; no sample at all is a failure.
struct MetricCheck {
    enum class Source { prometheus, metrics };
    Source source = Source::prometheus;
    std::string query;
    std::optional<double> above;
    std::optional<double> below;
};

}  // namespace inj::probes
