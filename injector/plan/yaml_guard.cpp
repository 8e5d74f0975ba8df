// The pre-parse guard against yaml-cpp's endless loop (see yaml_guard.hpp).
#include "plan/yaml_guard.hpp"

namespace inj::plan {

std::optional<std::pair<int, int>> stray_flow_comma(std::string_view t) {
    int depth = 0, line = 1, col = 0;
    bool line_start = true;
    char quote = 0;
    for (size_t i = 0; i < t.size(); ++i) {
        char c = t[i];
        ++col;
        if (c == '\n') {
            ++line, col = 0, line_start = true;
            continue;
        }
        if (quote) {
            if (c == quote && !(quote == '\'' && i + 1 < t.size() && t[i + 1] == '\''))
                quote = 0;
            else if (quote == '\'' && c == '\'')
                ++i, ++col;  // '' inside single quotes
            else if (quote == '"' && c == '\\')
                ++i, ++col;
            continue;
        }
        if (line_start && (c == ' ' || c == '\t')) continue;
        if (line_start && c == ',' && depth == 0) return std::make_pair(line, col);
        line_start = false;
        // A comment or a quoted scalar starts only at a token's start: "it's" is plain text.
        const bool token_start = i == 0 || std::string_view(" \t\n[{,:-?").find(t[i - 1]) != std::string_view::npos;
        if (c == '#' && token_start) {
            while (i + 1 < t.size() && t[i + 1] != '\n') ++i;
        } else if ((c == '"' || c == '\'') && token_start) {
            quote = c;
        } else if (c == '[' || c == '{') {
            ++depth;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return std::nullopt;
}

}  // namespace inj::plan
