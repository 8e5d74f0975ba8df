// The plan loader's inside (plan/load/): one Loader reads a document in phases, its parts split
// by section over topology.cpp, lab.cpp, safety.cpp and loader.cpp; the fault kinds' own keys are
// read by their modules (faults/<kind>/), found through the registry. Internal to plan/load.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "plan/loader.hpp"
#include "plan/reader.hpp"

namespace inj::plan::load {

// A prefix the topology owns, for overlap checks: a zone's subnet/subnet6/cidrs (host = -1)
// or a host's address (as a host route) or cidr.
struct Owned {
    Cidr prefix;
    int zone = -1;
    int host = -1;
    std::string what;  // "zone pangyo subnet 198.18.0.0/22"
    Mark mark;
    std::string path;
};

// A template the plan holds, kept for the dry expansion once addresses exist.
struct TemplateUse {
    std::string text;
    Mark mark;
    std::string path;
    std::vector<std::string> hosts;  // expanded once per host; {""} for no current host
    std::string volume;
    const std::vector<std::string>* vars;
    bool clean = true;  // passed check_template (else its problems are already reported)
};

// The keys of a host that bind it to what exists (binding.cpp).
const std::vector<std::string>& binding_keys();

class Loader : public FaultContext {
public:
    explicit Loader(std::string file) : FaultContext(std::move(file)) {}

    LoadResult run(const std::string& text);
    const Plan& plan() const override { return plan_; }

private:
    // --- phase 1 ---
    void load_root(const Node& root);
    void load_topology(const Field& f);
    void load_zone(const Field& f);
    void load_host(const Field& f, size_t entry);
    void load_host_group(MapView& m, const Field& count, size_t entry);
    const Zone* host_zone(MapView& m, std::string& zone);
    bool host_power_domain(const Field& f, const std::string& pd, const Zone* zone);
    bool room_for_hosts(const Field& f, size_t n);
    void load_binding(const MapView& m, Host& h);  // binding.cpp
    void check_bindings();
    void load_lab(const Field& f);
    void load_service(const Field& f);
    std::optional<Check> load_check(const Field& f, const std::vector<std::string>& hosts);
    void load_safety(const Field& f);
    void load_blast_radius(const Field& f);
    void load_protected(const Field& f);
    void load_abort_when(const Field& f);
    void check_abort_probes();
    void load_steady_state(const Field& f);
    void load_probe(const Field& f);
    void load_slo(const Field& f, Slo& slo);
    void load_link(const Field& f);
    void check_power_feeds();
    void load_verify(const Field& f);
    void load_expect(const Field& f);
    void load_method(const Field& f);
    void load_fault(const Field& f);
    // no_cidr_kind: the fault kind (for the message) when CIDRs are refused, or nullptr.
    Selector load_selector(const Field& f, const char* no_cidr_kind = nullptr);
    std::optional<std::string> load_in(const Field& f);
    void check_tcp_target(const Field& f, const std::string& target);
    // Checks the templates recorded from index `first` on (their names must resolve), once what
    // they may name is known; a clean one is expanded per host later.
    void check_templates(size_t first);
    void use_template(const Field& f, const std::string& text, bool has_host, std::vector<std::string> hosts,
                      std::string volume, const std::vector<std::string>& vars);

    // --- phase 2 ---
    void check_overlaps();
    void assign_addresses();
    bool taken(const Cidr& c, int zone) const;

    // --- phase 3 ---
    void expand_templates();
    void check_fault_sides();

    // Registers a name of a kind; reports a duplicate (when `report`) with the line of the first.
    bool unique(const char* kind, std::map<std::string, Mark>& seen, const std::string& n, const Field& f,
                bool report = true) {
        auto [it, fresh] = seen.emplace(n, f.mark);
        if (!fresh && report)
            error(f, std::string("duplicate ") + kind + " name '" + n + "' (first at line " +
                         std::to_string(it->second.line) + ")");
        return fresh;
    }
    // The path of the topology.hosts entry host `hi` comes from (a group's hosts share one).
    std::string host_path(size_t hi) const { return "topology.hosts[" + std::to_string(host_entry_[hi]) + "]"; }
    std::vector<std::string> names_of_zones() const {
        std::vector<std::string> v;
        for (auto& z : plan_.topology.zones) v.push_back(z.name);
        return v;
    }
    std::vector<std::string> names_of_hosts() const {
        std::vector<std::string> v;
        for (auto& h : plan_.topology.hosts) v.push_back(h.name);
        return v;
    }
    std::vector<std::string> names_of_power_domains() const {
        std::vector<std::string> v;
        for (auto& p : plan_.topology.power_domains) v.push_back(p.name);
        return v;
    }

    Plan plan_;
    std::map<std::string, Mark> zone_names_, host_names_, service_names_, probe_names_, fault_names_;
    bool topology_clean_ = false;
    bool addresses_assigned_ = false;
    std::vector<Owned> owned_;
    std::vector<size_t> host_entry_;  // for each host, the index of its topology.hosts entry
    size_t hosts_declared_ = 0;       // hosts of the entries read so far, refused ones too
    std::vector<TemplateUse> templates_;
    std::vector<std::string> fault_paths_;  // method[i] for each entry of plan_.method
    // safety.abort_when[i].probe fields: probes load after safety, so names resolve afterwards.
    std::vector<Field> abort_probe_fields_;
    // zones[i].switch_power_domain fields: checked once every zone (and domain) is known.
    std::vector<Field> switch_power_fields_;
};

}  // namespace inj::plan::load
