// One attempt of an http: or prometheus: probe, and the judging of what came back. The judging
// functions are pure so unit tests feed them fixtures; run_* do the request for real.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "probes/spec.hpp"

namespace inj::probes {

struct CheckOutcome {
    bool ok = false;
    std::string detail;  // why it failed; on success what was seen (status, or the values)
};

// Requests `url` (already expanded) inside `netns` (a path; empty: where the thread is) and
// judges the answer. Never throws; every failure is an outcome.
CheckOutcome run_http_check(const HttpCheck& c, const std::string& url, std::chrono::nanoseconds timeout,
                            const std::string& netns);
CheckOutcome run_metric_check(const MetricCheck& c, const std::string& url, std::chrono::nanoseconds timeout,
                              const std::string& netns);

// Empty when the status and body are what the check expects, else the reason.
std::string judge_http(const HttpCheck& c, long status, std::string_view body);

// A metric query's answer: one value per series (described as name{label="v"}).
using Series = std::vector<std::pair<std::string, double>>;
// The JSON of Prometheus' /api/v1/query: an instant vector or a scalar.
Result<Series> parse_query_response(std::string_view json);
// The samples of an exposition that a selector matches.
Result<Series> select_exposition(std::string_view exposition, const std::string& selector);
// Empty when every value lies within the bounds (and there is at least one), else the reason.
std::string judge_values(const MetricCheck& c, const Series& values);
// The instant-query URL for a Prometheus base URL ("http://h:9090" or ".../") and a PromQL query.
std::string query_url(const std::string& base, const std::string& query);

}  // namespace inj::probes
