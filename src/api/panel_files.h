// The web panel's built files (web/dist: index.html and hashed assets),
// served by kumod at `/`. They are read into memory once, at start: a
// request can name only a file that was in the directory then (no path is
// ever joined from a URL, so no traversal), symlinks and special files are
// skipped, and the whole is bounded.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>

#include "api/api_types.h"
#include "common/status.h"

namespace kumo::api {

class PanelFiles {
 public:
  static constexpr size_t kMaxTotalBytes = 32 * 1024 * 1024;

  // Reads every regular file under `dir` (recursively). NotFound when `dir`
  // or its index.html is missing (the panel was not built).
  static Result<PanelFiles> Load(const std::string& dir);

  // The answer to `GET path` (path without the query): `/` and
  // `/index.html` are the panel's page (revalidated on every load), other
  // paths the assets (content-hashed: cached for a year). The gzipped copy
  // (FILE.gz beside FILE) when the client accepts gzip. nullopt when the
  // path names no panel file.
  std::optional<ApiResponse> Serve(const std::string& path,
                                   const std::string& accept_encoding) const;

  size_t file_count() const { return files_.size(); }

 private:
  struct File {
    std::string body;
    std::string gzipped;  // empty when there is no .gz
  };
  std::map<std::string, File> files_;  // by URL path: "/index.html"
};

// "text/javascript; charset=utf-8" etc. by extension; application/octet-stream otherwise.
std::string ContentTypeFor(const std::string& path);

// Whether an Accept-Encoding header admits gzip (a q=0 refuses it).
bool AcceptsGzip(const std::string& accept_encoding);

}  // namespace kumo::api
