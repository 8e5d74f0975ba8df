// The Prometheus text exposition format (what a /metrics endpoint serves), parsed into samples,
// and series selectors (name{label="v", other!="w"}) matched against them. Written for input
// from the network: any byte sequence gives samples or an error with its line, never a crash.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace inj::probes {

struct MetricSample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

// Parses a whole exposition. Comments (# HELP, # TYPE) and blank lines are skipped; timestamps
// after the value are accepted and ignored. The first malformed line is the error ("line N: ...").
Result<std::vector<MetricSample>> parse_exposition(std::string_view text);

struct LabelMatcher {
    std::string name;
    bool equal = true;  // = or !=
    std::string value;
};

struct Selector {
    std::string name;  // empty: any metric name (then at least one matcher)
    std::vector<LabelMatcher> matchers;
    bool matches(const MetricSample& s) const;
};

// `name`, `name{a="x",b!="y"}` or `{__name__="name",a="x"}`. Errors say what is wrong and where.
Result<Selector> parse_selector(std::string_view text);

}  // namespace inj::probes
