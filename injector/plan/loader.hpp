// Loads a plan file into the model: YAML parsed, every schema, reference, timing and address
// rule checked, lab addresses assigned. Each problem is reported with file:line:col and the
// field path, and loading goes on past it so one run shows as many problems as it can.
// yaml-cpp is used (and its exceptions caught) only behind this header.
//
// The schema (experiments/zone-sever.yaml is a commented example). Unknown keys are errors;
// names are [a-z0-9-] (not starting with '-', at most 63), unique per kind; "control" is no host.
//   name (required), description
//   topology (required):
//     zones: [{ name, power_domains (default: [<zone name>]), subnet (IPv4, default: a free /22
//               of 198.18.0.0/16 by position), subnet6, cidrs }]          at least one
//     hosts: [{ name, zone, power_domain (optional when the zone has one), addresses (default:
//               the next free subnet.nth(2..) in plan order; subnet6 too when the zone has one),
//               cidrs }]                                                   at least one
//     Every address lies in 198.18.0.0/15 or 2001:2::/48; a host's addresses in its zone's
//     subnet/subnet6 (never network, gateway .1 or broadcast); prefixes of different zones, and
//     of different hosts, never overlap. After loading, hosts[k].addresses[0] is the primary
//     IPv4 address, with the zone subnet's prefix length.
//   lab: { ready_timeout (60s), services: [{ name, hosts (a name or list), port, volume,
//          command (template), ready: { tcp: ADDR:PORT | exec: CMD, in (exec: default the
//          service's own host; a host or control), timeout (30s) } }] }
//   safety (required): { max_duration (required, > 0),
//          blast_radius: { max_hosts: N | "N%", max_zones: N, max_power_domains: N } (each optional),
//          protected: [{ zone | power_domain | host | cidr | interface: VALUE }] (one key per item;
//            zone/host 'control' names the runner's position; cidr may be any prefix),
//          abort_when: [{ probe (a steady_state probe), exactly one of success_rate_below [0,1] |
//            latency_above DURATION | failures_in_a_row N>=1, for (> 0; the window, default 10s;
//            not with failures_in_a_row) }] }
//   steady_state: { probes: [{ name, exec: CMD | tcp: ADDR:PORT, in (control), every (1s),
//          timeout (2s), slo: { success_rate [0,1], window (10s), max_latency } }] }
//   method (required, at least one): [{ name, fault, at (0), duration (> 0), target, peer (the
//          kinds that take one; default: the rest of the lab), and the kind's own keys }]
//     fault: a kind of faults/registry.cpp; each kind's module documents its keys, and
//     docs/plan.schema.json (generated from the registry) lists them all.
//     selectors: { zone, power_domain, host, cidr }, each a name or a list, at least one;
//     target and peer never overlap; at + duration <= safety.max_duration.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "plan/model.hpp"

namespace inj::plan {

struct LoadResult {
    std::optional<Plan> plan;       // set exactly when errors is empty
    std::vector<PlanError> errors;  // in file order
    std::string text;               // the bytes the plan was loaded from (set when ok): fleet mode publishes these
    bool ok() const { return plan.has_value(); }
};

LoadResult load_file(const std::string& path);
LoadResult load_string(const std::string& yaml, const std::string& filename);

// The extra placeholders (TemplateContext::vars) the loader allows, which whoever expands the
// template must provide:
//   service commands and readiness checks: {lab} (the lab id);
//   probes: {lab}, {run} (the run id) and {seq} (the probe's sequence number, from 1).
//   verify steps: {lab}, {run} and {ack} (one record a probe acknowledged).
const std::vector<std::string>& service_template_vars();
const std::vector<std::string>& probe_template_vars();
const std::vector<std::string>& verify_template_vars();

}  // namespace inj::plan
