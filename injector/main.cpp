// injector: the command line. Parses arguments, dispatches to a command, maps every outcome to
// the exit codes of DESIGN.md. The only catch-all of the program is here.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "common/duration.hpp"
#include "common/exit_codes.hpp"
#include "common/log.hpp"
#include "common/paths.hpp"
#include "lab/lab.hpp"
#include "net/compile.hpp"
#include "plan/loader.hpp"
#include "report/summary.hpp"
#include "runner/journal.hpp"
#include "runner/runner.hpp"
#include "safety/preflight.hpp"

namespace po = boost::program_options;
using namespace inj;

namespace {

constexpr const char* kUsage = R"(usage: injector [--log-level LEVEL] COMMAND [ARGS]

Rehearse the loss of a zone, a power domain or a disk, safely.

commands:
  run PLAN [--keep-lab] [--report-dir DIR] [--json]
                       run an experiment: lab up, steady state, faults on schedule, verdict
  validate PLAN...     check plans; errors name file:line:col and the field
  plan PLAN            dry run: the timeline and, for each fault, who loses contact with whom
  status               the run in progress, labs that are up, recent runs
  abort [--reason TEXT]
                       stop the run in progress (it heals every fault and exits 2)
  recover              remove everything any run or lab left on this machine
  lab up|down|status PLAN
                       build, remove or show a plan's namespace lab

exit codes: 0 hypothesis held, 1 violated, 2 aborted by a safety guard, 3 could not be applied,
            4 cleanup failed, 64 usage error or invalid plan
)";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Loads and validates; prints every error to stderr. nullopt means exit 64.
std::optional<plan::Plan> load_plan(const std::string& path) {
    auto r = plan::load_file(path);
    for (auto& e : r.errors) std::cerr << e.str() << "\n";
    if (!r.errors.empty() || !r.plan) return std::nullopt;
    return std::move(*r.plan);
}

std::vector<std::string> positional_after(const std::vector<std::string>& args, po::options_description& desc,
                                          po::variables_map& vm) {
    po::options_description all;
    all.add(desc).add_options()("args", po::value<std::vector<std::string>>(), "");
    po::positional_options_description pos;
    pos.add("args", -1);
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
    return vm.count("args") ? vm["args"].as<std::vector<std::string>>() : std::vector<std::string>{};
}

int cmd_validate(const std::vector<std::string>& args) {
    po::options_description d;
    po::variables_map vm;
    auto files = positional_after(args, d, vm);
    if (files.empty()) throw UsageError("validate needs at least one PLAN");
    int rc = kExitHeld;
    for (auto& f : files) {
        auto p = load_plan(f);
        if (!p) {
            rc = kExitUsage;
            continue;
        }
        std::cout << f << ": ok (" << p->topology.zones.size() << " zones, " << p->topology.power_domains.size()
                  << " power domains, " << p->topology.hosts.size() << " hosts, " << p->method.size() << " faults, "
                  << p->probes.size() << " probes)\n";
    }
    return rc;
}

std::string describe_selector(const plan::Selector& s) {
    if (s.rest && s.empty()) return "the rest of the lab";
    std::string out;
    auto add = [&](const char* kind, const std::vector<std::string>& v) {
        for (auto& x : v) out += (out.empty() ? "" : ", ") + std::string(kind) + " " + x;
    };
    add("zone", s.zones);
    add("power domain", s.power_domains);
    add("host", s.hosts);
    for (auto& c : s.cidrs) out += (out.empty() ? "" : ", ") + std::string("cidr ") + c.str();
    return out;
}

int cmd_plan(const std::vector<std::string>& args) {
    po::options_description d;
    po::variables_map vm;
    auto files = positional_after(args, d, vm);
    if (files.size() != 1) throw UsageError("plan needs exactly one PLAN");
    auto p = load_plan(files[0]);
    if (!p) return kExitUsage;
    auto tables = net::compile(*p);
    if (!tables) {
        std::cerr << files[0] << ": " << tables.error().message() << "\n";
        return kExitUsage;
    }
    std::cout << "plan " << p->name << " (" << p->file << ")\n";
    if (!p->description.empty()) std::cout << "  " << p->description << "\n";
    std::cout << "topology: " << p->topology.zones.size() << " zones, " << p->topology.power_domains.size()
              << " power domains, " << p->topology.hosts.size() << " hosts\n";
    for (auto& z : p->topology.zones) {
        std::cout << "  zone " << z.name << (z.subnet ? "  " + z.subnet->str() : "") << "\n";
        for (auto& pd : z.power_domains) {
            std::cout << "    power domain " << pd << ":";
            for (auto& h : p->topology.hosts)
                if (h.power_domain == pd) std::cout << " " << h.name << " (" << h.addresses.at(0).addr.str() << ")";
            std::cout << "\n";
        }
    }
    for (auto& s : p->lab.services) {
        std::cout << "service " << s.name << " on";
        for (auto& h : s.hosts) std::cout << " " << h;
        std::cout << "\n";
    }
    for (auto& pr : p->probes) {
        std::cout << "probe " << pr.name << ": " << (pr.kind == plan::Probe::Kind::exec ? "exec" : "tcp") << " in "
                  << pr.in << " every " << format_duration(pr.every) << ", timeout " << format_duration(pr.timeout);
        if (pr.slo.success_rate)
            std::cout << ", SLO success rate >= " << *pr.slo.success_rate << " over " << format_duration(pr.slo.window);
        if (pr.slo.max_latency) std::cout << ", latency <= " << format_duration(*pr.slo.max_latency);
        std::cout << "\n";
    }
    std::cout << "timeline (max_duration " << format_duration(p->safety.max_duration) << "):\n";
    for (size_t i = 0; i < p->method.size(); ++i) {
        auto& f = p->method[i];
        std::cout << "  T+" << format_duration(f.at) << "  " << f.name << ": " << plan::to_string(f.kind) << " "
                  << describe_selector(f.target) << (f.direction == plan::Direction::both ? " <-> " :
                                                     f.direction == plan::Direction::from ? " -> " : " <- ")
                  << describe_selector(f.peer) << " for " << format_duration(f.duration) << ", healed at T+"
                  << format_duration(f.at + f.duration) << "  [" << f.mark.str() << "]\n";
        if (f.kind != plan::FaultKind::sever) continue;
        auto cut = net::cut_set(*p, *tables, i);
        std::set<std::string> isolated;
        std::cout << "      cut set: " << cut.size() << " host pairs lose contact";
        std::cout << (cut.empty() ? "\n" : ":\n");
        for (auto& [a, b] : cut) std::cout << "        " << a << " -> " << b << "\n";
    }
    std::cout << "nothing was changed on this machine (dry run)\n";
    return kExitHeld;
}

int cmd_run(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("keep-lab", po::bool_switch(), "keep the lab up after the run")(
        "report-dir", po::value<std::string>()->default_value(""), "copy journal and report here")(
        "json", po::bool_switch(), "print the report as JSON instead of the summary");
    po::variables_map vm;
    auto files = positional_after(args, d, vm);
    if (files.size() != 1) throw UsageError("run needs exactly one PLAN");
    auto p = load_plan(files[0]);
    if (!p) return kExitUsage;

    // Signals become events on the runner's timeline (heal, then exit 2), not sudden death.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

    runner::RunOptions opts;
    opts.keep_lab = vm["keep-lab"].as<bool>();
    opts.report_dir = vm["report-dir"].as<std::string>();
    opts.signal_fd = sfd;
    runner::Runner r(*p, opts, runner::default_hooks());
    auto out = r.run();
    if (vm["json"].as<bool>())
        std::cout << runner::outcome_json(out).dump(2) << "\n";
    else
        report::print_summary(std::cout, out, isatty(STDOUT_FILENO));
    if (sfd >= 0) close(sfd);
    return out.exit_code;
}

int cmd_lab(const std::vector<std::string>& args) {
    po::options_description d;
    po::variables_map vm;
    auto rest = positional_after(args, d, vm);
    if (rest.size() != 2) throw UsageError("lab needs up|down|status and a PLAN");
    auto p = load_plan(rest[1]);
    if (!p) return kExitUsage;
    const std::string& verb = rest[0];
    if (verb == "up") {
        auto lk = safety::RunLock::acquire("lab-" + lab::id_for(*p));
        if (!lk) {
            std::cerr << "injector: " << lk.error().message() << "\n";
            return kExitNotApplied;
        }
        auto st = lab::up(*p);
        if (!st) {
            std::cerr << "injector: lab up: " << st.error().message() << "\n";
            return kExitNotApplied;
        }
        std::cout << "lab " << st->id << " is up: " << st->hosts.size() << " hosts, " << st->services.size()
                  << " service processes; state " << st->dir << "\n";
        for (auto& h : st->hosts)
            std::cout << "  " << h.name << "  " << h.addresses.at(0).str() << "  (ip netns exec " << h.netns << " ...)\n";
        return kExitHeld;
    }
    if (verb == "down") {
        auto st = lab::load(lab::id_for(*p));
        if (!st) {
            std::cout << "lab " << lab::id_for(*p) << " is not up\n";
            return kExitHeld;
        }
        auto r = lab::down(*st);
        if (!r) {
            std::cerr << "injector: lab down: " << r.error().message() << "\n";
            return kExitCleanup;
        }
        std::cout << "lab " << st->id << " is down\n";
        return kExitHeld;
    }
    if (verb == "status") {
        auto st = lab::load(lab::id_for(*p));
        if (!st) {
            std::cout << "lab " << lab::id_for(*p) << " (" << p->name << ") is down\n";
            return kExitHeld;
        }
        std::cout << "lab " << st->id << " (" << st->plan_name << ") is up: " << st->hosts.size() << " hosts\n";
        for (auto& s : st->services)
            std::cout << "  service " << s.service << " on " << s.host << ": pid " << s.pid
                      << (kill(s.pid, 0) == 0 ? " running" : " NOT RUNNING") << ", log " << s.log << "\n";
        return kExitHeld;
    }
    throw UsageError("lab verbs are up, down and status");
}

int cmd_status(const std::vector<std::string>&) {
    if (auto h = safety::RunLock::holder())
        std::cout << "running: " << h->run_id << " (pid " << h->pid << ")\n";
    else
        std::cout << "no run in progress\n";
    auto labs = lab::list();
    for (auto& id : labs) {
        auto st = lab::load(id);
        std::cout << "lab " << id << (st ? " (" + st->plan_name + ") up, " + std::to_string(st->hosts.size()) + " hosts" : " (state unreadable)") << "\n";
    }
    std::error_code ec;
    std::vector<std::filesystem::path> runs;
    for (auto& e : std::filesystem::directory_iterator(runs_root(), ec)) runs.push_back(e.path());
    std::sort(runs.begin(), runs.end());
    size_t from = runs.size() > 10 ? runs.size() - 10 : 0;
    if (!runs.empty()) std::cout << "recent runs:\n";
    for (size_t i = from; i < runs.size(); ++i) {
        std::string verdict = "(no verdict: in progress or interrupted)";
        std::ifstream f(runs[i] / "report.json");
        if (f) {
            auto j = nlohmann::json::parse(f, nullptr, false);
            if (!j.is_discarded())
                verdict = j.value("verdict", "?") + " (exit " + std::to_string(j.value("exit_code", -1)) + ") plan " +
                          j.value("plan", "?");
        }
        std::cout << "  " << runs[i].filename().string() << "  " << verdict << "\n";
    }
    return kExitHeld;
}

int cmd_abort(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("reason", po::value<std::string>()->default_value("operator request"), "why");
    po::variables_map vm;
    positional_after(args, d, vm);
    auto h = safety::RunLock::holder();
    if (!h || h->run_id.empty()) {
        std::cerr << "injector: no run in progress\n";
        return kExitNotApplied;
    }
    std::string path = runs_root() + "/" + h->run_id + "/abort";
    std::ofstream f(path);
    f << vm["reason"].as<std::string>() << "\n";
    if (!f) {
        std::cerr << "injector: cannot write " << path << "\n";
        return kExitNotApplied;
    }
    std::cout << "asked run " << h->run_id << " (pid " << h->pid << ") to abort\n";
    return kExitHeld;
}

int cmd_recover(const std::vector<std::string>&) {
    if (auto h = safety::RunLock::holder(); h && kill(h->pid, 0) == 0) {
        std::cerr << "injector: run " << h->run_id << " (pid " << h->pid
                  << ") is in progress; abort it first (injector abort)\n";
        return kExitNotApplied;
    }
    int rc = kExitHeld;
    auto labs = lab::list();
    for (auto& id : labs) {
        auto st = lab::load(id);
        if (!st) {
            std::cerr << "recover: lab " << id << ": " << st.error().message() << "\n";
            rc = kExitCleanup;
            continue;
        }
        auto r = lab::down(*st);
        if (r) std::cout << "removed lab " << id << " (" << st->hosts.size() << " hosts, their namespaces, links, cgroups and processes)\n";
        else {
            std::cerr << "recover: lab " << id << ": " << r.error().message() << "\n";
            rc = kExitCleanup;
        }
    }
    if (labs.empty()) std::cout << "nothing to recover: the machine holds nothing of the injector\n";
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        std::string level = "info";
        while (!args.empty() && args[0].rfind("--", 0) == 0) {
            if (args[0] == "--help" || args[0] == "-h") {
                std::cout << kUsage;
                return kExitHeld;
            }
            if (args[0] == "--log-level" && args.size() > 1) {
                level = args[1];
                args.erase(args.begin(), args.begin() + 2);
            } else if (args[0] == "-v" || args[0] == "--verbose") {
                level = "debug";
                args.erase(args.begin());
            } else {
                throw UsageError("unknown option " + args[0]);
            }
        }
        log::set_level(spdlog::level::from_str(level));
        if (args.empty()) throw UsageError("missing COMMAND");
        std::string cmd = args[0];
        args.erase(args.begin());
        if (cmd == "run") return cmd_run(args);
        if (cmd == "validate") return cmd_validate(args);
        if (cmd == "plan") return cmd_plan(args);
        if (cmd == "status") return cmd_status(args);
        if (cmd == "abort") return cmd_abort(args);
        if (cmd == "recover") return cmd_recover(args);
        if (cmd == "lab") return cmd_lab(args);
        if (cmd == "help") {
            std::cout << kUsage;
            return kExitHeld;
        }
        throw UsageError("unknown command " + cmd);
    } catch (const UsageError& e) {
        std::cerr << "injector: " << e.what() << "\n\n" << kUsage;
        return kExitUsage;
    } catch (const po::error& e) {
        std::cerr << "injector: " << e.what() << "\n";
        return kExitUsage;
    } catch (const std::exception& e) {
        std::cerr << "injector: internal error: " << e.what() << "\n";
        return kExitNotApplied;
    }
}
