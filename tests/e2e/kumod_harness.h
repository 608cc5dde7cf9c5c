// Test support: a real kumod (its own state directory and port, TCG, the
// project's guest image) that the test can kill -9 and restart. At the end
// it deletes what the test left and stops every QEMU the daemon started, by
// the pids in the servers' run directories, then kumod by its pid.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "support/child_process.h"
#include "support/http_client.h"

namespace kumo::testing {

using json = nlohmann::json;

class KumodHarness {
 public:
  KumodHarness();
  ~KumodHarness();

  // Starts kumod (with `extra_flags` after the harness's own; a
  // --stop-timeout there replaces the harness's 20 s) and waits for /healthz.
  bool Start(std::string* err, const std::vector<std::string>& extra_flags = {});
  // kumod started from now on gets RLIMIT_NOFILE `n`, soft and hard (it
  // raises its soft limit to the hard one itself).
  void LimitOpenFiles(uint64_t n) { kumod_.LimitOpenFiles(n); }
  void Kill9();  // SIGKILL, like a crash
  void Stop();   // SIGTERM

  HttpResult Call(const std::string& method, const std::string& target, const json& body = nullptr);
  HttpResult CallRaw(const std::string& method, const std::string& target, const std::string& body);
  json Server(const std::string& name);  // GET /v1/servers/NAME, or null
  // Polls until the server's status is `status`; returns the last record.
  json WaitStatus(const std::string& name, const std::string& status, double timeout_s);
  json Events(const std::string& name);
  // Whether an event of the server's timeline has `text` in its message.
  bool HasEvent(const std::string& name, const std::string& text);
  // Runs a program in the guest through kumod (POST .../exec).
  HttpResult Exec(const std::string& name, const std::vector<std::string>& argv);

  // Runs the kumo CLI against this kumod; returns its exit code and output.
  int RunCli(const std::vector<std::string>& args, std::string* output);
  // Starts the kumo CLI against this kumod and leaves it running (kumo
  // events --follow); its output goes to the file *output_path.
  bool StartCli(const std::vector<std::string>& args, ChildProcess* cli, std::string* output_path);

  const std::string& state_dir() const { return state_dir_; }
  const std::string& token() const { return token_; }
  int port() const { return port_; }
  pid_t pid() const { return kumod_.pid(); }
  std::string log() const;

 private:
  void KillGuests();

  TempDir dir_;
  std::string state_dir_;
  int port_ = 0;
  int ssh_port_base_ = 0;
  int cli_runs_ = 0;
  std::string token_;
  ChildProcess kumod_;
};

}  // namespace kumo::testing
