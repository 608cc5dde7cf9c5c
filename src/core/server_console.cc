// ServerCore's serial consoles: one ConsoleBroker per running QEMU, started
// at launch (it waits for QEMU's console FIFOs) or when kumod re-attaches,
// stopped when QEMU exits, so that every viewer learns the console is gone.
// A console flood is throttled by the broker and noted in the timeline.
#include "core/server_runtime.h"

namespace kumo::core {

void ServerCore::StartConsole(const std::string& name, const std::string& run_dir) {
  Runtime& rt = RuntimeOf(name);
  if (rt.console) return;  // StopConsole drops a stopped one
  hypervisor::MachinePaths paths{run_dir};
  console::ConsoleBroker::Options options;
  // A guest flooding its console is slowed to the broker's budget; the
  // timeline says so once per flood, so the operator knows why output lags.
  options.on_throttled = [this, name](const std::string& message) {
    ledger_.Note(name, "console", message);
  };
  rt.console = std::make_shared<console::ConsoleBroker>(io_, name, std::move(options));
  rt.console->Start({paths.console_output_fifo(), paths.console_input_fifo()},
                    paths.console_log());
}

void ServerCore::StopConsole(Runtime& rt) {
  if (!rt.console) return;
  rt.console->Stop();
  rt.console.reset();
}

Result<std::shared_ptr<console::ConsoleBroker>> ServerCore::Console(const std::string& name) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return r.status();
  auto it = runtime_.find(name);
  if (it == runtime_.end() || !it->second->console) {
    return Status(codes::kInvalidState,
                  "server " + name + " is not running, so its console has no guest behind it",
                  "start it (kumo start " + name +
                      "), or read what the console showed before: kumo console-log " + name);
  }
  return it->second->console;
}

Result<std::string> ServerCore::ConsoleLog(const std::string& name, size_t tail_lines) const {
  auto r = ledger_.Get(name);
  if (!r.ok()) return r.status();
  if (r->run_dir.empty()) return std::string();
  return console::ReadScrollback(hypervisor::MachinePaths{r->run_dir}.console_log(), tail_lines);
}

}  // namespace kumo::core
