// The lab section: services, their readiness checks, and the templates they use.
#include "plan/load/loader.hpp"
#include "plan/load/volume.hpp"

#include <algorithm>
#include "plan/template.hpp"

namespace inj::plan::load {

void Loader::load_lab(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"ready_timeout", "services", "pool_idle_hosts"});
    if (auto t = m.get("ready_timeout"))
        if (auto d = duration(*t, true)) plan_.lab.ready_timeout = *d;
    if (auto p = m.get("pool_idle_hosts"))
        if (auto b = boolean(*p)) plan_.lab.pool_idle_hosts = *b;
    if (auto sf = m.get("services"))
        if (auto items = list(*sf))
            for (auto& it : *items) load_service(it);
    // Templates may name any service ({endpoints:SVC}), so they are checked once all are known.
    check_templates(0);
}

void Loader::load_service(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"name", "hosts", "port", "volume", "command", "ready"});
    Service s;
    s.mark = f.mark;
    if (auto n = m.require("name"))
        if (auto v = name(*n)) {
            s.name = *v;
            unique("service", service_names_, *v, *n);
        }
    if (auto hf = m.require("hosts"))
        if (auto items = one_or_list(*hf)) {
            if (items->empty()) error(*hf, "a service needs at least one host");
            for (auto& it : *items)
                if (auto v = name(it)) {
                    if (!plan_.topology.host(*v))
                        error(it, "unknown host '" + *v + "' (hosts: " + join_known(names_of_hosts()) + ")");
                    else if (std::find(s.hosts.begin(), s.hosts.end(), *v) != s.hosts.end())
                        error(it, "host '" + *v + "' is listed twice");
                    else
                        s.hosts.push_back(*v);
                }
        }
    if (auto pf = m.get("port"))
        if (auto p = integer(*pf)) {
            if (*p < 1 || *p > 65535)
                error(*pf, "port " + std::to_string(*p) + " is outside 1..65535");
            else
                s.port = static_cast<int>(*p);
        }
    if (auto vf = m.get("volume")) {
        if (vf->node.IsMap()) {  // { name: x, volatile: true, loss: {...} }
            MapView vm(*this, *vf);
            if (vm.ok()) {
                vm.allow({"name", "volatile", "loss"});
                if (auto nf = vm.require("name"))
                    if (auto v = name(*nf)) s.volume = *v;
                if (auto bf = vm.get("volatile"))
                    if (auto b = boolean(*bf)) s.volume_volatile = *b;
                if (auto lf = vm.get("loss"))
                    if (auto l = load_volume_loss(*this, *lf, s.volume_volatile)) s.volume_loss = *l;
            }
        } else if (auto v = name(*vf)) {
            s.volume = *v;
        }
    }
    std::optional<Field> command = m.require("command");
    std::optional<std::string> cmd;
    if (command) cmd = nonempty_str(*command);
    if (cmd) s.command = *cmd;
    if (auto rf = m.get("ready"))
        if (auto c = load_check(*rf, s.hosts)) s.ready = *c;
    if (cmd && !s.hosts.empty())
        use_template(*command, *cmd, true, s.hosts, s.volume.value_or(""), service_template_vars());
    plan_.lab.services.push_back(std::move(s));
}

std::optional<std::string> Loader::load_in(const Field& f) {
    auto s = str(f);
    if (!s) return std::nullopt;
    if (*s != "control" && !plan_.topology.host(*s)) {
        error(f, "'" + *s + "' is neither 'control' nor a host (hosts: " + join_known(names_of_hosts()) + ")");
        return std::nullopt;
    }
    return s;
}

void Loader::check_tcp_target(const Field& f, const std::string& target) {
    auto colon = target.rfind(':');
    std::string port = colon == std::string::npos ? "" : target.substr(colon + 1);
    bool digits = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535 || colon == 0)
        error(f, "tcp target '" + target + "' must be ADDRESS:PORT, e.g. \"{addr}:2379\"");
}

std::optional<Check> Loader::load_check(const Field& f, const std::vector<std::string>& hosts) {
    MapView m(*this, f);
    if (!m.ok()) return std::nullopt;
    m.allow({"tcp", "exec", "in", "timeout"});
    Check c;
    c.mark = f.mark;
    // `in` left empty means "the host of the service instance being checked" (what lab::up
    // does for an exec check); a tcp check connects from control.
    auto tcp = m.get("tcp");
    auto exec = m.get("exec");
    bool ok = true;
    if (tcp.has_value() == exec.has_value()) {
        error(f.key_mark, f.path, "a readiness check needs exactly one of 'tcp' or 'exec'");
        ok = false;
    }
    if (auto i = m.get("in")) {
        if (auto v = load_in(*i))
            c.in = *v;
        else
            ok = false;
    }
    if (auto t = m.get("timeout")) {
        if (auto d = duration(*t, true))
            c.timeout = *d;
        else
            ok = false;
    }
    const Field* tf = tcp ? &*tcp : exec ? &*exec : nullptr;
    if (tf) {
        auto text = nonempty_str(*tf);
        if (!text) return std::nullopt;
        c.kind = tcp ? Check::Kind::tcp : Check::Kind::exec;
        c.target = *text;
        if (tcp) check_tcp_target(*tf, *text);
        // Expanded once per host of the service, with that host as the current host.
        if (!hosts.empty()) use_template(*tf, *text, true, hosts, "", service_template_vars());
    }
    if (!ok) return std::nullopt;
    return c;
}

void Loader::check_templates(size_t first) {
    for (size_t i = first; i < templates_.size(); ++i) {
        auto& use = templates_[i];
        auto problems = check_template(use.text, plan_, !use.hosts.front().empty(), *use.vars);
        for (auto& p : problems) error(use.mark, use.path, p);
        use.clean = problems.empty();
    }
}

void Loader::use_template(const Field& f, const std::string& text, bool has_host, std::vector<std::string> hosts,
                          std::string volume, const std::vector<std::string>& vars) {
    if (!has_host) hosts = {""};
    templates_.push_back(TemplateUse{text, f.mark, f.path, std::move(hosts), std::move(volume), &vars, true});
}

}  // namespace inj::plan::load
