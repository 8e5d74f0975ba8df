// The table of subcommands (see commands.hpp). The order is the order of `injector help`.
#include "cli/commands.hpp"

namespace inj::cli {

const std::vector<Command>& commands() {
    static const std::vector<Command> table = {
        {"run",
         "PLAN [--keep-lab] [--report-dir DIR] [--run-id ID] [--quiet | --output text|json | --json]\n"
         "[--html FILE] [--junit FILE] [--metrics 127.0.0.1:PORT] [--fleet ENDPOINTS [--lease-ttl S] "
         "[--activation-lead auto|MS]]",
         "run an experiment: lab up, steady state, faults on schedule, verdict",
         "run an experiment: lab up, steady state, faults on schedule, verdict.\n"
         "A live view on a terminal, plain log lines otherwise; --output json\n"
         "prints one JSON object per journal event, then the outcome. Writes\n"
         "report.html and junit.xml next to the journal; --html/--junit copy them.\n"
         "--metrics serves Prometheus text on loopback while the run is active.\n"
         "--json prints only the final report as JSON. --fleet: the faults are\n"
         "applied by agents coordinated through etcd.",
         false, Operand::plan_files, cmd_run, run_options},
        {"report", "JOURNAL [--format text|html|junit] [-o FILE]", "regenerate a report from a run's journal",
         "regenerate a report from a run's journal (journal.jsonl, its run dir\n"
         "or its run id)",
         false, Operand::journal_or_run, cmd_report, report_options},
        {"agent", "--etcd ENDPOINTS --host NAME [--interface IF] [--lease-ttl SECONDS] [--metrics 127.0.0.1:PORT]",
         "apply the faults a fleet controller assigns to one host",
         "apply the faults a fleet controller assigns to host NAME; --metrics\n"
         "serves its state, steps and counters as Prometheus text on loopback",
         false, Operand::none, cmd_agent, agent_options},
        {"agents", "--etcd ENDPOINTS [--plan PLAN] [--json]", "the fleet's agents as etcd sees them; ready for a plan?",
         "list the agents registered in etcd (pid, health, interface, uptime,\n"
         "the run each drives now); with --plan, whether every host the plan\n"
         "needs an agent on has a healthy one that no other run drives (what\n"
         "run --fleet checks first; nothing is published): exit 0 ready, 3 not",
         false, Operand::none, cmd_agents, agents_options},
        {"validate", "PLAN...", "check plans", "check plans; errors name file:line:col and the field", false,
         Operand::plan_files, cmd_validate, validate_options},
        {"plan", "PLAN", "dry run: timeline, cut sets, blast radius and preflight of a plan",
         "dry run: the timeline, for each fault who loses contact with whom, the\n"
         "blast radius of every moment against safety.blast_radius, and what\n"
         "preflight would refuse; exits 3 when `run` would be refused, else 0",
         false, Operand::plan_files, cmd_plan, plan_options},
        {"schema", "", "print the plan's JSON Schema (for editors)",
         "print the plan's JSON Schema, generated from the fault kinds; point a\n"
         "YAML language server at it (docs/plan.schema.json is a copy)",
         false, Operand::none, cmd_schema, schema_options},
        {"status", "", "the run in progress, labs that are up, recent runs",
         "the run in progress, labs that are up, recent runs", false, Operand::none, cmd_status, status_options},
        {"abort", "[--reason TEXT]", "stop the run in progress",
         "stop the run in progress (it heals every fault and exits 2)", false, Operand::none, cmd_abort, abort_options},
        {"recover", "", "remove everything any run or lab left on this machine",
         "remove everything any run or lab left on this machine", false, Operand::none, cmd_recover, recover_options},
        {"lab", "up|down|status PLAN", "build, remove or show a plan's namespace lab",
         "build, remove or show a plan's namespace lab", false, Operand::lab_verb_then_plan, cmd_lab, lab_options},
        {"help", "[COMMAND]", "print the usage, or a command's usage and options",
         "print the usage, or a command's usage and options", false, Operand::command_name, cmd_help, help_options},
        {"version", "", "print the version, git revision and BPF ABI version",
         "print the version, the git revision it was built from and the\n"
         "netfault BPF program's ABI version (also: injector --version)",
         false, Operand::none, cmd_version, version_options},
        // Hidden: the fault filesystem daemon the lab starts for each degraded or volatile volume.
        {"faultfs", "--control FILE [--backing DIR] [--max-threads N] [--writeback] MOUNTPOINT",
         "the fault filesystem daemon (started by the lab)",
         "the fault filesystem daemon the lab starts for each degraded or\n"
         "volatile volume (a run drives it through the control file)",
         true, Operand::none, cmd_faultfs, faultfs_options},
        // Hidden: the watcher a run starts before freezing or killing real targets.
        {"watch", "", "the watcher that restores real targets if the runner dies",
         "the watcher a run starts before freezing or killing real targets:\n"
         "reads what to thaw and restart on stdin, and does it if the runner\n"
         "dies before saying done",
         true, Operand::none, cmd_watch, watch_options},
    };
    return table;
}

const Command* find_command(std::string_view name) {
    for (auto& c : commands())
        if (name == c.name) return &c;
    return nullptr;
}

}  // namespace inj::cli
