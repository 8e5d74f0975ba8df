// Files written as root where someone else may have planted a symlink (a CI workspace named by
// --html, --junit or --report-dir; a state directory from the environment): never follow one.
// A file is written to a fresh temporary name (O_CREAT|O_EXCL|O_NOFOLLOW) in its directory, opened
// itself with O_NOFOLLOW, then renamed over the target (rename replaces a planted symlink, it
// does not write through it). And environment overrides of root paths are honoured only when the
// path is safe to trust.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace inj {

// Writes `text` to `path` as described above; the directory is created (0755) when missing.
Result<void> write_file_nofollow(const std::string& path, std::string_view text, unsigned mode = 0644);
// Copies the file `from` (read without following a symlink) to `to` with write_file_nofollow.
Result<void> copy_file_nofollow(const std::string& from, const std::string& to);

// The value of the environment variable `var` when it names a path owned by root (or by the user
// running the tool, when that is not root) and writable by nobody else, as is its directory; a
// path that does not exist yet is judged by its directory. Unset: nullopt. Set but unsafe:
// nullopt, and a message on stderr (once per variable) saying why it is ignored.
std::optional<std::string> trusted_env_path(const char* var);

}  // namespace inj
