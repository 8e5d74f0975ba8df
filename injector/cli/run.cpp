// `injector run PLAN`: runs an experiment (lab up, steady state, faults on schedule, verdict),
// watched by the live view and optionally the metrics endpoint; writes and prints the reports.
#include <sys/signalfd.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "common/exit_codes.hpp"
#include "common/log.hpp"
#include "common/safe_file.hpp"
#include "fleet/agent_targets.hpp"
#include "fleet/etcd_client.hpp"
#include "fleet/etcd_security.hpp"
#include "fleet/fleet_engine.hpp"
#include "net/compile.hpp"
#include "report/live.hpp"
#include "report/metrics.hpp"
#include "report/render.hpp"
#include "report/summary.hpp"
#include "runner/journal.hpp"
#include "runner/runner.hpp"

namespace inj::cli {

namespace {

using Mode = report::LiveView::Mode;

void check_run_id(const std::string& id) {
    const bool bad_id =
        !id.empty() && (id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
                            std::string::npos ||
                        !std::isalnum(static_cast<unsigned char>(id[0])));
    if (bad_id)
        throw UsageError("--run-id must start with a letter or digit and may hold letters, digits, '-', '_' and '.'");
}

// Fleet mode: one engine publishes to the agents; the runner is unchanged.
void use_fleet(runner::RunHooks& hooks, runner::RunOptions& opts, const plan::Plan& p, const std::string& eps,
               int lease_ttl, const po::variables_map& vm, const std::string& plan_text) {
    if (lease_ttl < 2 || lease_ttl > 600)
        throw UsageError("--lease-ttl must be 2..600 seconds (etcd's minimum lease is 2 s)");
    if (opts.run_id.empty()) opts.run_id = runner::new_run_id();
    auto sec = fleet::etcd_security_from(vm);
    if (!sec) throw UsageError(sec.error().message());
    fleet::FleetOptions fo;
    fo.endpoints = eps;
    fo.security = *sec;
    fo.plan_text = plan_text;
    fo.run_id = opts.run_id;
    fo.lease_ttl_s = lease_ttl;
    if (const auto& lead = vm["activation-lead"].as<std::string>(); lead != "auto") {
        int ms = 0;
        auto [end, ec] = std::from_chars(lead.data(), lead.data() + lead.size(), ms);
        if (ec != std::errc{} || end != lead.data() + lead.size() || ms < 1 || ms > 60000)
            throw UsageError("--activation-lead must be auto or 1..60000 (milliseconds), not '" + lead + "'");
        fo.activation_lead = std::chrono::milliseconds(ms);
        fo.adaptive_lead = false;
    }
    hooks.make_engines = [fo](const plan::Plan& plan) { return fleet::fleet_engines(plan, fo); };
    // A bound plan's hosts are resolved by their agents, on their machines; the controller keeps
    // no watcher (the run lease is the agents' dead man's switch).
    hooks.bind_targets = [](const plan::Plan& plan) -> Result<std::unique_ptr<targets::Targets>> {
        return fleet::controller_view(plan);
    };
    hooks.start_watcher = nullptr;
    auto env = hooks.preflight;
    hooks.preflight = [env, eps, &p, sec = *sec]() -> Result<void> {
        if (env) INJ_TRY(env());
        auto tables = net::compile(p);
        if (!tables) return tables.error();
        auto problems = fleet::check_control_path(p, *tables, eps);
        for (auto& x : fleet::check_probe_places(p)) problems.push_back(x);
        if (auto c = fleet::EtcdClient::connect(eps, std::chrono::milliseconds(2000), sec); !c)
            problems.push_back(c.error().message());
        if (problems.empty()) return {};
        std::string msg = "fleet control path";
        for (auto& x : problems) msg += "; " + x;
        return plain_error(msg);
    };
}

// The reports, rendered from the journal (so `injector report` gives the same files later);
// returns their paths as {"html", "junit"}, or an empty object.
nlohmann::json write_run_reports(const runner::RunOutcome& out, const po::variables_map& vm,
                                 const std::string& report_dir) {
    nlohmann::json reports = nlohmann::json::object();
    if (out.journal.empty()) return reports;
    auto files_written =
        report::write_reports(out.journal, vm["html"].as<std::string>(), vm["junit"].as<std::string>());
    if (!files_written) {
        std::cerr << "injector: reports: " << files_written.error().message() << "\n";
        return reports;
    }
    reports = {{"html", files_written->html}, {"junit", files_written->junit}};
    if (!report_dir.empty()) {
        auto dst = std::filesystem::path(report_dir) / out.run_id;
        for (auto& f : {files_written->html, files_written->junit, out.journal})  // never through a symlink
            if (auto c = copy_file_nofollow(f, (dst / std::filesystem::path(f).filename()).string()); !c)
                std::cerr << "injector: could not copy the reports to " << dst.string() << ": " << c.error().message()
                          << "\n";
    }
    return reports;
}

void print_outcome(const runner::RunOutcome& out, nlohmann::json reports, bool json, Mode mode) {
    auto outcome = runner::outcome_json(out);
    outcome["reports"] = reports;
    if (json) {
        std::cout << outcome.dump(2) << "\n";
    } else if (mode == Mode::json) {
        outcome["event"] = "outcome";
        std::cout << outcome.dump() << "\n";
    } else if (mode == Mode::quiet) {
        std::cout << out.verdict << " (exit " << out.exit_code << ") run " << out.run_id << "\n";
    } else {
        report::print_summary(std::cout, out, mode == Mode::tty);
        if (reports.contains("html")) std::cout << "report: " << reports["html"].get<std::string>() << "\n";
    }
}

}  // namespace

po::options_description run_options() {
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
        "lease-ttl", po::value<int>()->default_value(3), "fleet: run lease TTL in seconds (dead man's switch)")(
        "activation-lead", po::value<std::string>()->default_value("auto"),
        "fleet: ms from publishing a step to its agreed instant, or auto (at least 150 ms; twice the slowest "
        "delivery the agents reported for the last steps, up to 5000 ms)");
    fleet::add_etcd_options(d);
    return d;
}

int cmd_run(const std::vector<std::string>& args) {
    po::variables_map vm;
    auto files = positional_after(args, run_options(), vm);
    if (files.size() != 1) throw UsageError("run needs exactly one PLAN");
    if (vm["fleet"].as<std::string>().empty() && (!vm["lease-ttl"].defaulted() || !vm["activation-lead"].defaulted()))
        throw UsageError("--lease-ttl and --activation-lead apply to fleet mode only (--fleet ENDPOINTS)");
    const std::string output = vm["output"].as<std::string>();
    if (output != "text" && output != "json") throw UsageError("--output must be text or json");
    const bool json_lines = output == "json";
    const bool quiet = vm["quiet"].as<bool>() || vm["json"].as<bool>();
    std::optional<report::LoopbackHttp::Address> metrics_addr;
    if (!vm["metrics"].as<std::string>().empty()) {
        std::string why;
        metrics_addr = report::LoopbackHttp::parse_address(vm["metrics"].as<std::string>(), &why);
        if (!metrics_addr) throw UsageError("--metrics: " + why);
    }
    std::string plan_text;
    auto p = load_plan(files[0], &plan_text);
    if (!p) return kExitUsage;

    // Signals become events on the runner's timeline (heal, then exit 2), not sudden death.
    sigset_t set = block_stop_signals();
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

    runner::RunOptions opts;
    opts.keep_lab = vm["keep-lab"].as<bool>();
    opts.report_dir = vm["report-dir"].as<std::string>();
    opts.signal_fd = sfd;
    opts.run_id = vm["run-id"].as<std::string>();
    check_run_id(opts.run_id);

    // Who watches the run: the live view (or log lines, or JSON lines) and the metrics endpoint.
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
    if (const auto& eps = vm["fleet"].as<std::string>(); !eps.empty())
        use_fleet(hooks, opts, *p, eps, vm["lease-ttl"].as<int>(), vm, plan_text);
    runner::Runner r(*p, opts, std::move(hooks));
    auto out = r.run();
    metrics.reset();  // serves only while the run is active
    live.finish();
    if (mode == Mode::tty) log::redirect(nullptr);

    print_outcome(out, write_run_reports(out, vm, opts.report_dir), vm["json"].as<bool>(), mode);
    if (sfd >= 0) close(sfd);
    return out.exit_code;
}

}  // namespace inj::cli
