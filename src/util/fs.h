// Small filesystem helpers with the durability rules of the run directory:
// every file that a reader may see is written under a temporary name, flushed
// and renamed into place, so readers never see half a file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scalebed {

// Writes `contents` to `path` atomically (temp file in the same directory,
// fsync, rename). Throws Error naming the path on failure.
void write_file_atomic(const std::string& path, const std::string& contents);

// Reads a whole file; throws Error naming the path when it cannot be read.
std::string read_file(const std::string& path);

// Why `path` cannot be used: "" when it exists, "file not found", or the
// system's reason ("cannot access: File name too long"). Never throws, so a
// caller can name the config line that gave the path.
std::string why_missing(const std::string& path);

// Appends one line (a '\n' is added) and flushes it to the OS.
void append_line(const std::string& path, const std::string& line);

// Expands a shell-style glob ("data/shard_*.bin") to sorted paths; a plain
// path is returned as is when it exists. Throws when nothing matches.
std::vector<std::string> expand_glob(const std::string& pattern);

// fsyncs a directory so that a rename inside it is durable.
void sync_directory(const std::string& dir);

// fsyncs a file's data to the device. Throws Error naming the path on failure
// (a full disk or an I/O error can first show here).
void sync_file(const std::string& path);

}  // namespace scalebed
