// `kumo console NAME` and `kumo console-log NAME`: the serial console of a
// server through kumod, like `virsh console`. AttachConsole connects the
// WebSocket GET /v1/servers/NAME/console, puts the terminal in raw mode, and
// copies stdin to the guest and the guest's output to stdout until Ctrl-]
// (or EOF on stdin, a signal, or kumod closing the console).
#pragma once

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <string>
#include <string_view>

#include "cli/api_url.h"
#include "cli/commands.h"

namespace kumo::cli {

// Ctrl-]: typed on stdin, it detaches (it never reaches the guest).
inline constexpr char kConsoleEscape = 0x1d;

struct ConsoleOptions {
  int in_fd = STDIN_FILENO;
  int out_fd = STDOUT_FILENO;
  // "Connected to ...", "detached", errors and hints.
  std::ostream* err = &std::cerr;
  // Where the token came from, for the hint on a 401.
  std::string token_source = "--token / KUMO_TOKEN";
  // Lines of scrollback kumod replays before the live output (0: none).
  int tail_lines = 0;
  // Connecting and the WebSocket handshake, together.
  std::chrono::milliseconds connect_timeout{30000};
};

// Attaches to NAME's serial console. When in_fd is a terminal it is put in
// raw mode (every key goes to the guest, Ctrl-C included) and restored on
// every way out: Ctrl-], kumod closing the console, a lost connection,
// SIGINT/SIGTERM/SIGHUP/SIGQUIT, and fatal signals. When it is not a
// terminal, EOF on it detaches (after what was read has been sent).
// Returns 0 when detached or when kumod closed the console normally (e.g.
// the server stopped); 128+N after signal N; else the exit code for the
// failure (cli_error.h): 3 kumod unreachable or the connection lost, 4 no
// such server, 5 not running, 7 bad token, 1 anything else.
int AttachConsole(const ApiUrl& url, const std::string& token, const std::string& name);
int AttachConsole(const ApiUrl& url, const std::string& token, const std::string& name,
                  const ConsoleOptions& options);

// GET /v1/servers/NAME/console-log[?tail=N]: prints the scrollback kumod
// keeps on disk, raw (with --json: the API's JSON). tail_lines 0: all of it.
int ShowConsoleLog(Context& ctx, const std::string& name, int tail_lines);

// The request target of NAME's console, under url's base path; with
// tail_lines > 0 it asks for that many lines of scrollback first.
std::string ConsoleTarget(const ApiUrl& url, const std::string& name, int tail_lines = 0);

// Where Ctrl-] is in `input`, or npos.
inline size_t FindConsoleEscape(std::string_view input) { return input.find(kConsoleEscape); }

}  // namespace kumo::cli
