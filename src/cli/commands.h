// The kumo commands that talk to kumod's REST API. Each returns the process
// exit code (cli_error.h) and writes results to `out`, errors to `err`.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/api_client.h"

namespace kumo::cli {

struct Context {
  const ApiClient& api;
  bool json = false;  // print the API's JSON as is
  std::ostream& out;
  std::ostream& err;
};

struct WaitOption {
  bool wait = false;
  std::chrono::milliseconds timeout{300000};
};

struct CreateOptions {
  std::string name;
  std::optional<std::string> image;
  std::optional<int> vcpus;
  std::optional<int> memory_mib;
  std::optional<int> disk_gib;
  std::optional<std::string> ssh_key_file;
  std::optional<std::string> user_data_file;  // "-": standard input
  WaitOption wait;
};

struct EventsOptions {
  std::string name;
  int64_t after = 0;   // > 0: the events after this id (paging forward)
  int64_t before = 0;  // > 0: the events before this id (paging back); neither: the newest
  std::optional<int> limit;
  bool follow = false;
};

int CreateServer(Context& ctx, const CreateOptions& options);
int ListServers(Context& ctx);
int ShowServer(Context& ctx, const std::string& name);
int ListImages(Context& ctx);

struct ImageImportOptions {
  std::string name;
  std::string path;  // on kumod's host (import), on this machine (upload)
  std::optional<std::string> firmware, login_user, agent_kind, os, user_data_support;
};
// `kumo images import` (images_import.cc) and `kumo images delete`
// (images_delete.cc).
int ImportImage(Context& ctx, const ImageImportOptions& options);
// `kumo images upload` (images_upload.cc): the file streamed to kumod.
int UploadImage(Context& ctx, const ImageImportOptions& options);
// Prints the image an import or upload registered ("image NAME `done`").
int PrintNewImage(Context& ctx, const ApiReply& reply, const std::string& name, const char* done);
int DeleteImage(Context& ctx, const std::string& name);
// `kumo diagnose NAME`: what is wrong and why, with evidence and the ways out.
int Diagnose(Context& ctx, const std::string& name);
// action: "start", "stop" or "reboot".
int ServerAction(Context& ctx, const std::string& name, const std::string& action, bool force,
                 const WaitOption& wait);
// `kumo stop --acpi NAME`: presses the server's ACPI power button.
int PressPowerButton(Context& ctx, const std::string& name, const WaitOption& wait);
int DeleteServer(Context& ctx, const std::string& name, bool force, const WaitOption& wait);
// Without --follow, one page of the timeline. With it, the whole timeline,
// then each new event once, from the watch stream (reconnecting as needed),
// until the server is deleted (exit 0, "NAME: deleted").
int ShowEvents(Context& ctx, const EventsOptions& options);
// `kumo list --watch`: the table, then one line per change (with --json: the
// list, then each change's data, as JSON Lines) until Ctrl-C.
int WatchServers(Context& ctx);
// ShowEvents with --follow (follow_commands.cc).
int FollowEvents(Context& ctx, const EventsOptions& options);
// Asks for a password (twice, without echo, on a terminal; else one line of
// standard input) and sets it for `user` in the guest.
int SetPassword(Context& ctx, const std::string& name, const std::string& user);
// Runs argv[0] with the rest as arguments in the guest; prints its stdout and
// stderr and returns its exit code (128 + signal if it was killed), or a kumo
// exit code when kumod refuses (e.g. 5: the agent is not responding).
int ExecInGuest(Context& ctx, const std::string& name, const std::vector<std::string>& argv,
                int timeout_s);
int WaitForStatus(Context& ctx, const std::string& name, const std::string& status,
                  std::chrono::milliseconds timeout);

// The body of POST /v1/servers for `options`, reading the key and user data
// files; a usage error (exit 2) if one cannot be read.
Outcome<json> CreateRequestBody(const CreateOptions& options);

}  // namespace kumo::cli
