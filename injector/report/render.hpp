// The reports of a run, each rendered from the journal alone: text for people at a terminal,
// JUnit XML for CI gates, and one self-contained HTML page (inline CSS and SVG) for people who
// were not there.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "report/model.hpp"

namespace inj::report {

enum class Format { text, html, junit };
std::optional<Format> parse_format(const std::string& s);

std::string render_text(const RunView& v);
std::string render_junit(const RunView& v);
std::string render_html(const RunView& v);
std::string render(const RunView& v, Format f);

// What a scheduled run or a CI job keeps: report.html and junit.xml written next to the journal
// (journal_dir), and copies at each extra path given (empty: none).
struct ReportFiles {
    std::string html, junit;
};
Result<ReportFiles> write_reports(const std::string& journal_path, const std::string& html_copy = "",
                                  const std::string& junit_copy = "");

}  // namespace inj::report
