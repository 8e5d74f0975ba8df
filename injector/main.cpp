// injector: the command line. Parses arguments, dispatches to a command, maps every outcome to
// the exit codes of DESIGN.md. The only catch-all of the program is here.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <atomic>
#include <thread>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "common/audit.hpp"
#include "common/duration.hpp"
#include "common/exit_codes.hpp"
#include "common/log.hpp"
#include "common/output.hpp"
#include "common/safe_file.hpp"
#include "common/paths.hpp"
#include "faultfs/faultfs.hpp"
#include "fleet/agent.hpp"
#include "fleet/fleet_engine.hpp"
#include "lab/lab.hpp"
#include "net/compile.hpp"
#include "net/mechanism.hpp"
#include "plan/json.hpp"
#include "plan/loader.hpp"
#include "power/power_engine.hpp"
#include "report/live.hpp"
#include "report/metrics.hpp"
#include "report/plan_preview.hpp"
#include "report/render.hpp"
#include "report/summary.hpp"
#include "runner/journal.hpp"
#include "runner/recover.hpp"
#include "runner/runner.hpp"
#include "safety/plan_checks.hpp"
#include "safety/preflight.hpp"
#include "storage/storage_engine.hpp"

namespace po = boost::program_options;
using namespace inj;

namespace {

constexpr const char* kUsage = R"(usage: injector [--log-level LEVEL] COMMAND [ARGS]

Rehearse the loss of a zone, a power domain or a disk, safely.

commands:
  run PLAN [--keep-lab] [--report-dir DIR] [--run-id ID] [--quiet | --output text|json | --json]
         [--html FILE] [--junit FILE] [--metrics 127.0.0.1:PORT] [--fleet ENDPOINTS [--lease-ttl S]]
                       run an experiment: lab up, steady state, faults on schedule, verdict.
                       A live view on a terminal, plain log lines otherwise; --output json
                       prints one JSON object per journal event, then the outcome. Writes
                       report.html and junit.xml next to the journal; --html/--junit copy them.
                       --metrics serves Prometheus text on loopback while the run is active.
                       --json prints only the final report as JSON. --fleet: the faults are
                       applied by agents coordinated through etcd (--etcd-config FILE or
                       --etcd-cacert/--etcd-cert/--etcd-key/--etcd-user: TLS and etcd auth).
  report JOURNAL [--format text|html|junit] [-o FILE]
                       regenerate a report from a run's journal (journal.jsonl, its run dir
                       or its run id)
  agent --etcd ENDPOINTS --host NAME [--interface IF] [--lease-ttl SECONDS]
        [--max-fault-duration 1h] [--etcd-cacert F --etcd-cert F --etcd-key F]
        [--etcd-user U --etcd-password-file F | --etcd-config F]
                       apply the faults a fleet controller assigns to host NAME; refuse what
                       it may not do (fleet section of the README)
  validate PLAN...     check plans; errors name file:line:col and the field
  plan PLAN [--hosts]  dry run: the timeline, for each fault who loses contact with whom (as
                       zone or power-domain pairs; --hosts lists every host by name), the
                       blast radius of every moment against safety.blast_radius, and what
                       preflight would refuse; exits 3 when `run` would be refused, else 0
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
// text: set to the bytes validated (fleet mode publishes exactly those).
std::optional<plan::Plan> load_plan(const std::string& path, std::string* text = nullptr) {
    auto r = plan::load_file(path);
    for (auto& e : r.errors) std::cerr << e.str() << "\n";
    if (!r.errors.empty() || !r.plan) return std::nullopt;
    if (text) *text = std::move(r.text);
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


int cmd_plan(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("hosts", po::bool_switch(), "list every host by name");
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
    return report::print_plan_preview(std::cout, *p, *tables, {vm["hosts"].as<bool>()}) ? kExitHeld : kExitNotApplied;
}

int cmd_report(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("format", po::value<std::string>()->default_value("text"), "text, html or junit")(
        "output,o", po::value<std::string>()->default_value(""), "write here instead of stdout");
    po::variables_map vm;
    auto files = positional_after(args, d, vm);
    if (files.size() != 1) throw UsageError("report needs exactly one JOURNAL");
    auto fmt = report::parse_format(vm["format"].as<std::string>());
    if (!fmt) throw UsageError("--format must be text, html or junit");
    // A journal file, a run directory, or a run id (looked up under the runs directory).
    std::string path = files[0];
    if (!std::filesystem::exists(path) && std::filesystem::exists(runs_root() + "/" + path)) path = runs_root() + "/" + path;
    if (std::filesystem::is_directory(path)) path += "/journal.jsonl";
    auto v = report::load_journal(path);
    if (!v) {
        std::cerr << "injector: " << path << ": not a run journal (missing, unreadable or no events)\n";
        return kExitUsage;
    }
    auto text = report::render(*v, *fmt);
    const auto& out = vm["output"].as<std::string>();
    if (out.empty()) {
        std::cout << text;
        return kExitHeld;
    }
    std::ofstream f(out, std::ios::trunc);
    f << text;
    if (!f.flush()) {
        std::cerr << "injector: cannot write " << out << "\n";
        return kExitNotApplied;
    }
    return kExitHeld;
}

int cmd_run(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("keep-lab", po::bool_switch(), "keep the lab up after the run")(
        "report-dir", po::value<std::string>()->default_value(""), "copy journal and reports here")(
        "json", po::bool_switch(), "print the report as JSON instead of the summary (no progress)")(
        "quiet,q", po::bool_switch(), "no progress; only the verdict line")(
        "output", po::value<std::string>()->default_value("text"), "text or json")(
        "html", po::value<std::string>()->default_value(""), "copy the HTML report here")(
        "junit", po::value<std::string>()->default_value(""), "copy the JUnit XML here")(
        "metrics", po::value<std::string>()->default_value(""), "serve Prometheus metrics on this loopback address")(
        "run-id", po::value<std::string>()->default_value(""), "use this run id (schedulers name their runs)")(
        "fleet", po::value<std::string>()->default_value(""), "etcd endpoints: agents apply the faults")(
        "lease-ttl", po::value<int>()->default_value(3), "fleet: run lease TTL in seconds (dead man's switch)");
    fleet::add_etcd_options(d);
    po::variables_map vm;
    auto files = positional_after(args, d, vm);
    if (files.size() != 1) throw UsageError("run needs exactly one PLAN");
    const std::string output = vm["output"].as<std::string>();
    if (output != "text" && output != "json") throw UsageError("--output must be text or json");
    const bool json_lines = output == "json";
    const bool quiet = vm["quiet"].as<bool>() || vm["json"].as<bool>();
    std::optional<report::MetricsServer::Address> metrics_addr;
    if (!vm["metrics"].as<std::string>().empty()) {
        std::string why;
        metrics_addr = report::MetricsServer::parse_address(vm["metrics"].as<std::string>(), &why);
        if (!metrics_addr) throw UsageError("--metrics: " + why);
    }
    std::string plan_text;
    auto p = load_plan(files[0], &plan_text);
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
    opts.run_id = vm["run-id"].as<std::string>();
    const bool bad_id =
        !opts.run_id.empty() &&
        (opts.run_id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
             std::string::npos ||
         !std::isalnum(static_cast<unsigned char>(opts.run_id[0])));
    if (bad_id)
        throw UsageError("--run-id must start with a letter or digit and may hold letters, digits, '-', '_' and '.'");

    // Who watches the run: the live view (or log lines, or JSON lines) and the metrics endpoint.
    using Mode = report::LiveView::Mode;
    Mode mode = json_lines ? Mode::json : quiet ? Mode::quiet : isatty(STDOUT_FILENO) ? Mode::tty : Mode::lines;
    std::cout.flush();
    report::LiveView live(mode, STDOUT_FILENO);
    if (mode == Mode::tty) log::redirect([&live](const std::string& l) { live.log_line(l); });
    opts.observers.push_back(&live);
    std::unique_ptr<report::MetricsServer> metrics;
    if (metrics_addr) {
        auto m = report::MetricsServer::start(*metrics_addr);
        if (!m) {
            std::cerr << "injector: --metrics: " << m.error().message() << "\n";
            if (sfd >= 0) close(sfd);
            return kExitNotApplied;
        }
        metrics = std::move(*m);
        opts.observers.push_back(metrics.get());
        if (mode == Mode::lines) std::cout << "metrics on " << metrics->url() << std::endl;
    }
    auto hooks = runner::default_hooks();
    if (const auto& eps = vm["fleet"].as<std::string>(); !eps.empty()) {
        // Fleet mode: one engine publishes to the agents; the runner is unchanged.
        if (vm["lease-ttl"].as<int>() < 2 || vm["lease-ttl"].as<int>() > 600)
            throw UsageError("--lease-ttl must be 2..600 seconds (etcd's minimum lease is 2 s)");
        if (opts.run_id.empty()) opts.run_id = runner::new_run_id();
        auto sec = fleet::etcd_security_from(vm);
        if (!sec) throw UsageError(sec.error().message());
        fleet::FleetOptions fo;
        fo.endpoints = eps;
        fo.security = *sec;
        fo.plan_text = plan_text;
        fo.run_id = opts.run_id;
        fo.lease_ttl_s = vm["lease-ttl"].as<int>();
        hooks.engines.clear();
        hooks.engines.push_back(std::make_unique<fleet::FleetEngine>(fo));
        auto env = hooks.preflight;
        hooks.preflight = [env, eps, &p, sec = *sec]() -> Result<void> {
            if (env) INJ_TRY(env());
            auto tables = net::compile(*p);
            if (!tables) return tables.error();
            auto problems = fleet::check_control_path(*p, *tables, eps);
            if (auto c = fleet::EtcdClient::connect(eps, std::chrono::milliseconds(2000), sec); !c)
                problems.push_back(c.error().message());
            if (problems.empty()) return {};
            std::string msg = "fleet control path";
            for (auto& x : problems) msg += "; " + x;
            return plain_error(msg);
        };
    }
    runner::Runner r(*p, opts, std::move(hooks));
    auto out = r.run();
    metrics.reset();  // serves only while the run is active
    live.finish();
    if (mode == Mode::tty) log::redirect(nullptr);

    // The reports, rendered from the journal (so `injector report` gives the same files later).
    nlohmann::json reports = nlohmann::json::object();
    if (!out.journal.empty()) {
        auto files_written = report::write_reports(out.journal, vm["html"].as<std::string>(), vm["junit"].as<std::string>());
        if (!files_written) {
            std::cerr << "injector: reports: " << files_written.error().message() << "\n";
        } else {
            reports = {{"html", files_written->html}, {"junit", files_written->junit}};
            if (!opts.report_dir.empty()) {
                auto dst = std::filesystem::path(opts.report_dir) / out.run_id;
                for (auto& f : {files_written->html, files_written->junit, out.journal})  // never through a symlink
                    if (auto c = copy_file_nofollow(f, (dst / std::filesystem::path(f).filename()).string()); !c)
                        std::cerr << "injector: could not copy the reports to " << dst.string() << ": " << c.error().message() << "\n";
            }
        }
    }
    auto outcome = runner::outcome_json(out);
    outcome["reports"] = reports;
    if (vm["json"].as<bool>()) {
        std::cout << outcome.dump(2) << "\n";
    } else if (json_lines) {
        outcome["event"] = "outcome";
        std::cout << outcome.dump() << "\n";
    } else if (quiet) {
        std::cout << out.verdict << " (exit " << out.exit_code << ") run " << out.run_id << "\n";
    } else {
        report::print_summary(std::cout, out, mode == Mode::tty);
        if (reports.contains("html")) std::cout << "report: " << reports["html"].get<std::string>() << "\n";
    }
    if (sfd >= 0) close(sfd);
    return out.exit_code;
}

int cmd_agent(const std::vector<std::string>& args) {
    po::options_description d;
    fleet::add_agent_options(d);
    po::variables_map vm;
    auto rest = positional_after(args, d, vm);
    if (!rest.empty()) throw UsageError("agent takes no positional arguments");
    auto opts = fleet::agent_options_from(vm);
    if (!opts) throw UsageError(opts.error().message());
    const fleet::AgentOptions& o = *opts;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    static std::atomic<bool> stop{false};
    std::thread waiter([set] {
        int sig = 0;
        sigwait(&set, &sig);
        stop = true;
    });
    waiter.detach();
    auto r = fleet::run_agent(o, stop);
    if (!r) {
        std::cerr << "injector agent: " << r.error().message() << "\n";
        return kExitNotApplied;
    }
    return *r;
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

// The audit log in brief: for the last run that changed the machine and for the last 24 hours,
// how many actions of each kind succeeded and failed, and every failure in full.
void print_audit_summary() {
    const std::string path = audit::log_path();
    auto entries = audit::read(path);
    if (entries.empty()) {
        std::cout << "audit log " << path << ": no records\n";
        return;
    }
    struct Counts { size_t ok = 0, failed = 0; };
    auto summarise = [](const std::vector<const audit::Entry*>& es, const std::string& title) {
        std::map<std::string, Counts> by_action;
        std::vector<const audit::Entry*> failures;
        for (auto* e : es) {
            auto& c = by_action[e->action];
            if (e->result == "ok") ++c.ok;
            else {
                ++c.failed;
                failures.push_back(e);
            }
        }
        std::cout << title << ": " << es.size() << " actions";
        if (es.empty()) {
            std::cout << "\n";
            return;
        }
        std::cout << ", " << failures.size() << " failed\n";
        for (auto& [action, c] : by_action)
            std::cout << "    " << action << ": " << c.ok << " ok" << (c.failed ? ", " + std::to_string(c.failed) + " FAILED" : "") << "\n";
        for (auto* e : failures)
            std::cout << "    FAILED " << audit::format_time(e->time) << " [" << e->run << "] " << e->action << " " << e->target
                      << ": " << e->error << "\n";
    };
    std::string last_run = entries.back().run;
    std::vector<const audit::Entry*> in_last, in_day;
    auto since = std::chrono::system_clock::now() - std::chrono::hours(24);
    for (auto& e : entries) {
        if (e.run == last_run) in_last.push_back(&e);
        if (e.time >= since) in_day.push_back(&e);
    }
    std::cout << "audit log " << path << " (" << entries.size() << " records):\n";
    summarise(in_last, "  last run " + (last_run.empty() ? std::string("(no run id)") : last_run));
    summarise(in_day, "  last 24 h");
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
    // Newest last, by the journal's last write (run ids given with --run-id do not sort by time).
    auto mtime = [](const std::filesystem::path& p) {
        std::error_code e;
        auto t = std::filesystem::last_write_time(p / "journal.jsonl", e);
        return e ? std::filesystem::file_time_type::min() : t;
    };
    std::sort(runs.begin(), runs.end(), [&](auto& a, auto& b) { return mtime(a) < mtime(b); });
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
    print_audit_summary();
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
    // Held while recovering: no run may start on a machine being cleaned.
    auto lk = safety::RunLock::acquire("recover");
    if (!lk) {
        std::cerr << "injector: " << lk.error().message() << "\n";
        return kExitNotApplied;
    }
    auto rep = runner::recover();
    for (auto& l : rep.removed) std::cout << l << "\n";
    for (auto& f : rep.failed) std::cerr << "recover: could not remove " << f << "\n";
    if (rep.nothing()) std::cout << "nothing to recover: the machine holds nothing of the injector\n";
    if (!rep.failed.empty()) {
        std::cerr << "recover: " << rep.failed.size() << " thing(s) left on this machine (listed above); "
                  << "every action is in the audit log " << audit::log_path() << "\n";
        return kExitCleanup;
    }
    return kExitHeld;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    // Hidden: the fault filesystem daemon the lab starts for each degraded or volatile volume.
    if (!args.empty() && args[0] == "faultfs") return faultfs::main_faultfs({args.begin() + 1, args.end()});
    output::protect_stdio();  // a closed or stuck stdout/stderr never kills or blocks a run
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
        if (cmd == "report") return cmd_report(args);
        if (cmd == "plan") return cmd_plan(args);
        if (cmd == "status") return cmd_status(args);
        if (cmd == "abort") return cmd_abort(args);
        if (cmd == "recover") return cmd_recover(args);
        if (cmd == "lab") return cmd_lab(args);
        if (cmd == "agent") return cmd_agent(args);
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
