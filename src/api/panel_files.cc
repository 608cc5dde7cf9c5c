#include "api/panel_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace kumo::api {
namespace {

namespace fs = std::filesystem;

// The panel's page and scripts come only from kumod itself: no inline
// script, nothing fetched from elsewhere, not framed by other sites. Inline
// styles are allowed for xterm.js and uPlot, which size elements that way.
constexpr char kContentSecurityPolicy[] =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Reads a regular file without following a symlink.
Result<std::string> ReadRegularFile(const fs::path& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status(codes::kNotFound, "cannot open " + path.string());
  struct stat st {};
  std::string data;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    data.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = read(fd, data.data() + done, data.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    data.resize(done);
  }
  close(fd);
  return data;
}

}  // namespace

Result<PanelFiles> PanelFiles::Load(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::path(dir) / "index.html", ec)) {
    return Status(codes::kNotFound, "the web panel is not built: no index.html in " + dir,
                  "build it with scripts/build-panel.sh, or point --panel-dir at its dist/");
  }
  PanelFiles panel;
  std::map<std::string, std::string> gzipped;
  size_t total = 0;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    auto data = ReadRegularFile(it->path());
    if (!data.ok()) continue;
    total += data->size();
    if (total > kMaxTotalBytes) {
      return Status(codes::kInvalidArgument,
                    "the web panel in " + dir + " is larger than " +
                        std::to_string(kMaxTotalBytes >> 20) + " MiB",
                    "point --panel-dir at the panel's dist/ directory");
    }
    std::string url = "/" + fs::relative(it->path(), dir, ec).generic_string();
    if (EndsWith(url, ".gz")) {
      gzipped[url.substr(0, url.size() - 3)] = std::move(*data);
    } else {
      panel.files_[url].body = std::move(*data);
    }
  }
  if (ec) return Status(codes::kNotFound, "cannot read " + dir + ": " + ec.message());
  for (auto& [url, data] : gzipped) {
    auto file = panel.files_.find(url);
    if (file != panel.files_.end()) file->second.gzipped = std::move(data);
  }
  return panel;
}

std::optional<ApiResponse> PanelFiles::Serve(const std::string& path,
                                             const std::string& accept_encoding) const {
  std::string url = path == "/" ? "/index.html" : path;
  auto it = files_.find(url);
  if (it == files_.end()) return std::nullopt;
  const File& file = it->second;
  ApiResponse r;
  r.status = 200;
  r.content_type = ContentTypeFor(url);
  bool gzip = !file.gzipped.empty() && AcceptsGzip(accept_encoding);
  r.raw_body = gzip ? file.gzipped : file.body;
  if (gzip) r.headers.emplace_back("Content-Encoding", "gzip");
  if (!file.gzipped.empty()) r.headers.emplace_back("Vary", "Accept-Encoding");
  r.headers.emplace_back("Cache-Control",
                         url == "/index.html" ? "no-cache" : "public, max-age=31536000, immutable");
  r.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  return r;
}

std::string ContentTypeFor(const std::string& path) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [ext, type] : kTypes) {
    if (EndsWith(path, ext)) return type;
  }
  return "application/octet-stream";
}

bool AcceptsGzip(const std::string& accept_encoding) {
  size_t start = 0;
  while (start <= accept_encoding.size()) {
    size_t comma = accept_encoding.find(',', start);
    std::string item = accept_encoding.substr(
        start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t b = item.find_first_not_of(" \t");
    std::string token = b == std::string::npos ? "" : item.substr(b);
    std::string name = token.substr(0, token.find_first_of("; \t"));
    if (name == "gzip" || name == "*") {
      size_t q = token.find("q=");
      if (q == std::string::npos) return true;
      std::string weight = token.substr(q + 2, 5);
      return std::strtod(weight.c_str(), nullptr) > 0;  // "0", "0.0", junk: refused
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return false;
}

}  // namespace kumo::api
