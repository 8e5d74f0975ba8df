// libFuzzer target: any bytes as what an http: or prometheus: probe reads from the network (a
// /metrics page, a Prometheus query answer) and as a series selector from a plan. Each parser
// must return a value or an error, never crash or throw.
#include <cstddef>
#include <cstdint>
#include <string>

#include "probes/checks.hpp"
#include "probes/exposition.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    (void)inj::probes::parse_exposition(text);
    (void)inj::probes::parse_selector(text);
    (void)inj::probes::parse_query_response(text);
    // A selector from the first line, applied to the rest as a page.
    auto nl = text.find('\n');
    if (nl != std::string::npos) (void)inj::probes::select_exposition(text.substr(nl + 1), text.substr(0, nl));
    return 0;
}
