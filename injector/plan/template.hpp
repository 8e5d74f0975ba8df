// Command templates of plans: "etcd --name {host} --data-dir {volume} ...".
//
// Placeholders:
//   {host} {addr} {addr6} {zone} {power_domain} {volume}   of the current host
//   {addr:HOST} {addr6:HOST}                                of a named host
//   {addrs:SVC}        comma-separated addresses of the service's hosts
//   {endpoints:SVC}    comma-separated addr:port of the service's hosts (needs service.port)
//   {urls:SVC}         comma-separated http://addr:port of the service's hosts
//   {each:SVC:PATTERN} PATTERN expanded once per host of SVC (with that host as current host),
//                      joined by commas; e.g. {each:etcd:{host}=http://{addr}:2380}
//   any key of TemplateContext::vars, e.g. {seq} {run} {lab}
//   {{ and }} are literal braces.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "plan/model.hpp"

namespace inj::plan {

struct TemplateContext {
    const Plan* plan = nullptr;
    std::string host;    // current host, may be empty (then host placeholders are errors)
    std::string volume;  // volume name for {volume}
    // Maps (host, volume) to the directory {volume} expands to.
    std::function<std::string(const std::string& host, const std::string& volume)> volume_path;
    std::map<std::string, std::string> vars;  // extra placeholders
    int depth = 0;                            // {each:} nesting (bounded: plan/limits.hpp)
};

// Expands a template; an unknown placeholder or reference is an error naming it.
Result<std::string> expand_template(std::string_view tmpl, const TemplateContext& ctx);

// Checks a template without expanding it: every placeholder known, every referenced host and
// service exists, host placeholders only where a current host exists. Returns one message per
// problem (empty when valid). `vars` lists extra placeholder names allowed here.
std::vector<std::string> check_template(std::string_view tmpl, const Plan& plan, bool has_host,
                                        const std::vector<std::string>& vars, int depth = 0);

}  // namespace inj::plan
