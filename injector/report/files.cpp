// Writing a run's reports next to its journal (and copies where CI or a scheduler wants them).
#include <filesystem>
#include <fstream>

#include "report/render.hpp"

namespace inj::report {
namespace {
Result<void> write_file(const std::string& path, const std::string& text) {
    std::error_code ec;
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        f << text;
        if (!f.flush()) return Error{EIO, "write report", tmp};
    }
    // Renamed into place: a reader never sees half a report.
    std::filesystem::rename(tmp, path, ec);
    if (ec) return Error{ec.value(), "write report", path};
    return {};
}
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
