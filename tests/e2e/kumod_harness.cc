#include "e2e/kumod_harness.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/fake_api_server.h"

namespace kumo::testing {

KumodHarness::KumodHarness()
    : state_dir_(dir_ / "state"), port_(UnusedPort()), ssh_port_base_(UnusedPort()) {
  // As root, kumod runs QEMU as kumo-qemu, which must pass through to the
  // servers' run directories (it may not list or read this one).
  chmod(dir_.path().c_str(), 0711);
}

KumodHarness::~KumodHarness() {
  if (kumod_.running()) {
    for (const auto& s : Call("GET", "/v1/servers").json().value("servers", json::array())) {
      Call("DELETE", "/v1/servers/" + s["name"].get<std::string>() + "?force=true");
    }
    for (int i = 0;
         i < 100 && !Call("GET", "/v1/servers").json().value("servers", json::array()).empty();
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  kumod_.Stop();
  KillGuests();
}

void KumodHarness::KillGuests() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(state_dir_ + "/servers", ec)) {
    std::ifstream in(entry.path() / "qemu.pid");
    pid_t pid = 0;
    if (in >> pid && pid > 0) {
      std::string cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
      if (cmdline.find(entry.path().string()) != std::string::npos) kill(pid, SIGKILL);
    }
  }
}

bool KumodHarness::Start(std::string* err, const std::vector<std::string>& extra_flags) {
  std::vector<std::string> argv = {KUMOD_PATH,
                                   "--state-dir",
                                   state_dir_,
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(port_),
                                   "--accel",
                                   "tcg",
                                   "--image-dir",
                                   KUMO_GUEST_IMAGE_DIR,
                                   "--ssh-port-base",
                                   std::to_string(ssh_port_base_)};
  // kumod refuses a flag given twice: the test's own stop timeout wins.
  if (std::find(extra_flags.begin(), extra_flags.end(), "--stop-timeout") == extra_flags.end()) {
    argv.insert(argv.end(), {"--stop-timeout", "20"});
  }
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  if (!kumod_.Start(argv, dir_ / "kumod.log", err)) return false;
  for (int i = 0; i < 100; ++i) {
    if (HttpRequest(port_, "GET", "/healthz", "").status == 200) {
      token_ = ReadFile(state_dir_ + "/token");
      while (!token_.empty() && token_.back() == '\n') token_.pop_back();
      return true;
    }
    if (!kumod_.running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  *err = "kumod did not come up: " + log();
  return false;
}

void KumodHarness::Kill9() {
  if (kumod_.pid() > 0) kill(kumod_.pid(), SIGKILL);
  kumod_.WaitExit(std::chrono::seconds(10));
}

void KumodHarness::Stop() { kumod_.Stop(); }

bool KumodHarness::StartCli(const std::vector<std::string>& args, ChildProcess* cli,
                            std::string* output_path) {
  std::vector<std::string> argv = {KUMO_CLI_PATH, "--url",
                                   "http://127.0.0.1:" + std::to_string(port_), "--state-dir",
                                   state_dir_};
  argv.insert(argv.end(), args.begin(), args.end());
  *output_path = dir_ / ("cli-" + std::to_string(++cli_runs_) + ".out");
  std::string err;
  return cli->Start(argv, *output_path, &err);
}

int KumodHarness::RunCli(const std::vector<std::string>& args, std::string* output) {
  ChildProcess cli;
  std::string out;
  if (!StartCli(args, &cli, &out)) {
    *output = "cannot start the CLI";
    return -1;
  }
  int status = cli.WaitExit(std::chrono::seconds(300));
  *output = ReadFile(out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string KumodHarness::log() const { return ReadFile(dir_ / "kumod.log"); }

HttpResult KumodHarness::Call(const std::string& method, const std::string& target,
                              const json& body) {
  return HttpRequest(port_, method, target, token_, body.is_null() ? "" : body.dump());
}

HttpResult KumodHarness::CallRaw(const std::string& method, const std::string& target,
                                 const std::string& body) {
  return HttpRequest(port_, method, target, token_, body);
}

json KumodHarness::Server(const std::string& name) {
  auto r = Call("GET", "/v1/servers/" + name);
  return r.status == 200 ? r.json() : json();
}

json KumodHarness::WaitStatus(const std::string& name, const std::string& status,
                              double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  json s;
  do {
    s = Server(name);
    if (!s.is_null() && s["status"] == status) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  return s;
}

json KumodHarness::Events(const std::string& name) {
  return Call("GET", "/v1/servers/" + name + "/events?limit=1000")
      .json()
      .value("events", json::array());
}

HttpResult KumodHarness::Exec(const std::string& name, const std::vector<std::string>& argv) {
  json body = {{"path", argv.at(0)},
               {"args", std::vector<std::string>(argv.begin() + 1, argv.end())}};
  return Call("POST", "/v1/servers/" + name + "/exec", body);
}

bool KumodHarness::HasEvent(const std::string& name, const std::string& text) {
  for (const auto& e : Events(name)) {
    if (e["message"].get<std::string>().find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace kumo::testing
