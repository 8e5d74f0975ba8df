// Writing a run's reports next to its journal (and copies where CI or a scheduler wants them).
#include <filesystem>
#include <fstream>

#include "common/safe_file.hpp"
#include "report/render.hpp"

namespace inj::report {
namespace {
// Reports may be written where others can write (a CI workspace): no symlink is followed.
Result<void> write_file(const std::string& path, const std::string& text) { return write_file_nofollow(path, text); }
}  // namespace

Result<ReportFiles> write_reports(const std::string& journal_path, const std::string& html_copy,
                                  const std::string& junit_copy) {
    auto v = load_journal(journal_path);
    if (!v) return Error{ENOENT, "read journal", journal_path};
    auto dir = std::filesystem::path(journal_path).parent_path();
    ReportFiles out{(dir / "report.html").string(), (dir / "junit.xml").string()};
    auto html = render_html(*v);
    auto junit = render_junit(*v);
    INJ_TRY(write_file(out.html, html));
    INJ_TRY(write_file(out.junit, junit));
    if (!html_copy.empty()) INJ_TRY(write_file(html_copy, html));
    if (!junit_copy.empty()) INJ_TRY(write_file(junit_copy, junit));
    return out;
}

}  // namespace inj::report
