// Helpers for the plan tests: a small valid plan to edit, and assertions that an error sits at
// the exact position of a piece of the YAML text (computed from the text, not from the loader).
#pragma once

#include <gtest/gtest.h>
#include <string>

#include "plan/loader.hpp"

namespace inj::plan::test {

// A valid plan: three zones (z1 with a given subnet), one host each, one fault.
inline const std::string kBase = R"(name: base
topology:
  zones:
    - { name: z1, subnet: 198.18.0.0/22 }
    - { name: z2 }
    - { name: z3 }
  hosts:
    - { name: h1, zone: z1 }
    - { name: h2, zone: z2 }
    - { name: h3, zone: z3 }
safety:
  max_duration: 1m
method:
  - { name: f1, fault: sever, at: 1s, duration: 10s, target: { zone: z1 } }
)";

// `text` with the first `from` replaced by `to`; fails the test when `from` is absent.
inline std::string with(std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << "test bug: '" << from << "' not in the plan";
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
}

// 1-based line:col of the n-th (0-based) occurrence of `needle` in `text`.
inline std::string pos(const std::string& text, const std::string& needle, int nth = 0) {
    size_t at = text.find(needle);
    for (int i = 0; i < nth && at != std::string::npos; ++i) at = text.find(needle, at + 1);
    EXPECT_NE(at, std::string::npos) << "test bug: '" << needle << "' not in the plan";
    if (at == std::string::npos) return "?";
    int line = 1, col = 1;
    for (size_t i = 0; i < at; ++i) {
        if (text[i] == '\n')
            ++line, col = 1;
        else
            ++col;
    }
    return std::to_string(line) + ":" + std::to_string(col);
}

// line:col of `needle` where it first occurs inside the first occurrence of `context`.
inline std::string pos_in(const std::string& text, const std::string& context, const std::string& needle) {
    size_t c = text.find(context);
    size_t in = c == std::string::npos ? std::string::npos : context.find(needle);
    EXPECT_NE(in, std::string::npos) << "test bug: '" << needle << "' in '" << context << "' not in the plan";
    if (in == std::string::npos) return "?";
    std::string head = text.substr(0, c + in);
    return pos(head + "\x01", "\x01");
}

// The data center of issue 16: 32,000 hosts in 3 zones and 64 power domains (pangyo-0 ..
// gasan-15, 500 hosts each), half in pangyo, and a power loss of pangyo. Each host a line of its
// own (ZONE-hI, in domain I % domains), or with `groups` one host group a zone (ZONE-h-1 ..).
inline std::string data_center(bool groups) {
    struct Zone {
        const char* name;
        const char* subnet;
        int hosts, pds;
    };
    std::string zones, hosts;
    for (const Zone& z : {Zone{"pangyo", "198.18.0.0/17", 16000, 32}, Zone{"ansan", "198.18.128.0/17", 8000, 16},
                          Zone{"gasan", "198.19.0.0/17", 8000, 16}}) {
        std::string pds;
        for (int d = 0; d < z.pds; ++d) pds += std::string(d ? ", " : "") + z.name + "-" + std::to_string(d);
        zones +=
            std::string("    - { name: ") + z.name + ", power_domains: [" + pds + "], subnet: " + z.subnet + " }\n";
        if (groups)
            hosts += std::string("    - { name: ") + z.name + "-h, count: " + std::to_string(z.hosts) +
                     ", zone: " + z.name + " }\n";
        else
            for (int i = 0; i < z.hosts; ++i)
                hosts += std::string("    - { name: ") + z.name + "-h" + std::to_string(i) + ", zone: " + z.name +
                         ", power_domain: " + z.name + "-" + std::to_string(i % z.pds) + " }\n";
    }
    return "name: dc\ntopology:\n  zones:\n" + zones + "  hosts:\n" + hosts +
           "safety:\n  max_duration: 4m\nmethod:\n"
           "  - { name: fire, fault: power_loss, at: 5s, duration: 60s, target: { zone: pangyo } }\n";
}

inline LoadResult load(const std::string& yaml) { return load_string(yaml, "t.yaml"); }

inline std::string dump(const LoadResult& r) {
    std::string s;
    for (auto& e : r.errors) s += "  " + e.str() + "\n";
    return s;
}

// Asserts the load failed with an error at `where` ("line:col"), on `path`, whose message
// contains `message`.
inline void expect_error(const LoadResult& r, const std::string& where, const std::string& path,
                         const std::string& message) {
    EXPECT_FALSE(r.plan.has_value());
    for (auto& e : r.errors) {
        if (e.path != path || e.message.find(message) == std::string::npos) continue;
        EXPECT_EQ(e.mark.file, "t.yaml");
        EXPECT_EQ(std::to_string(e.mark.line) + ":" + std::to_string(e.mark.col), where) << e.str();
        return;
    }
    ADD_FAILURE() << "no error on '" << path << "' containing '" << message << "'; got:\n" << dump(r);
}

// Loads `yaml` expecting success.
inline Plan load_ok(const std::string& yaml) {
    auto r = load(yaml);
    EXPECT_TRUE(r.errors.empty()) << dump(r);
    if (!r.plan) return Plan{};
    return *r.plan;
}

}  // namespace inj::plan::test
