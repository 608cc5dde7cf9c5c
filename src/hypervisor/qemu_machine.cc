#include "hypervisor/qemu_machine.h"

#include <signal.h>

#include <fstream>
#include <sstream>

#include "hypervisor/qemu_argv.h"
#include "hypervisor/qmp_event.h"

namespace kumo::hypervisor {

namespace asio = boost::asio;
using nlohmann::json;

Status CheckIsQemuOf(pid_t pid, const MachinePaths& paths) {
  const std::string what = "pid " + std::to_string(pid);
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  if (!in) return Status(codes::kNotFound, "no process with " + what);
  std::stringstream cmdline;
  cmdline << in.rdbuf();
  if (!IsQemuCmdlineOf(cmdline.str(), paths)) {
    return Status(codes::kNotFound,
                  what + " is not the QEMU of " + paths.run_dir + " (the pid was reused?)");
  }
  return Status::Ok();
}

void QemuMachine::Connect(asio::io_context& io, const MachinePaths& paths, pid_t pid, Ready ready) {
  auto fail = [&io, &ready](Status s) {
    asio::post(io, [ready = std::move(ready), s = std::move(s)]() { ready(s); });
  };
  Result<std::shared_ptr<ProcessWatch>> watch = ProcessWatch::Open(io, pid);
  if (!watch.ok()) return fail(watch.status());
  if (Status s = CheckIsQemuOf(pid, paths); !s.ok()) return fail(s);
  // The pidfd was opened before the check: if the process still runs, the
  // command line we checked was its own.
  if ((*watch)->exited()) {
    return fail(Status(codes::kNotFound, "QEMU (pid " + std::to_string(pid) + ") has exited"));
  }
  auto qmp = QmpClient::Create(io);
  qmp->Connect(paths.qmp_socket(), kQmpConnectTimeout,
               [io = &io, paths, watch = *watch, qmp, ready = std::move(ready)](Status s) {
                 if (!s.ok()) return ready(s);
                 std::shared_ptr<QemuMachine> machine(new QemuMachine(*io, paths, watch, qmp));
                 machine->Start();
                 ready(std::shared_ptr<Machine>(machine));
               });
}

QemuMachine::QemuMachine(asio::io_context& io, MachinePaths paths,
                         std::shared_ptr<ProcessWatch> watch, std::shared_ptr<QmpClient> qmp)
    : io_(io),
      paths_(std::move(paths)),
      watch_(std::move(watch)),
      qmp_(std::move(qmp)),
      drain_timer_(io) {}

QemuMachine::~QemuMachine() {
  qmp_->SetEventHandler(nullptr);
  qmp_->SetClosedHandler(nullptr);
}

void QemuMachine::Start() {
  std::weak_ptr<QemuMachine> weak = weak_from_this();
  events_ = std::make_unique<EventQueue>(io_, weak);
  qmp_->SetEventHandler([weak](const json& message) {
    if (auto machine = weak.lock()) machine->OnQmpEvent(message);
  });
  qmp_->SetClosedHandler([weak](const Status&) {
    if (auto machine = weak.lock()) machine->OnQmpClosed();
  });
  watch_->OnExit([weak]() {
    if (auto machine = weak.lock()) machine->OnProcessExit();
  });
}

void QemuMachine::Post(std::function<void()> fn) {
  asio::post(io_, [weak = weak_from_this(), fn = std::move(fn)]() {
    if (weak.lock()) fn();
  });
}

void QemuMachine::SetEventHandler(EventHandler handler) { events_->SetHandler(std::move(handler)); }

void QemuMachine::OnQmpEvent(const json& message) {
  std::optional<MachineEvent> event = MachineEventFromQmp(message);
  if (!event) return;
  if (event->kind == MachineEvent::Kind::kShutdown) last_shutdown_reason_ = event->detail;
  events_->Push(std::move(*event));
}

void QemuMachine::OnQmpClosed() {
  qmp_closed_ = true;
  if (process_exited_) ReportExit();
}

void QemuMachine::OnProcessExit() {
  process_exited_ = true;
  if (qmp_closed_) {
    ReportExit();
    return;
  }
  // The QMP socket may still hold the last events (SHUTDOWN): read them first.
  drain_timer_.expires_after(kQmpDrainTimeout);
  drain_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto machine = weak.lock();
    if (!ec && machine) machine->ReportExit();
  });
}

void QemuMachine::ReportExit() {
  if (events_->ended()) return;
  drain_timer_.cancel();
  qmp_->Close();
  events_->Push(
      MachineEvent{MachineEvent::Kind::kExited, false, ExitDetail(last_shutdown_reason_, killed_)});
}

void QemuMachine::Quit(Done done) {
  if (process_exited_) {
    Post([done = std::move(done)]() { done(Status::Ok()); });
    return;
  }
  if (!qmp_->ready()) {
    Post([done = std::move(done)]() {
      done(Status(codes::kHypervisorError, "QMP connection to QEMU is lost; cannot quit",
                  "force stop the machine (SIGKILL)"));
    });
    return;
  }
  qmp_->Execute("quit", json(), [weak = weak_from_this(), done = std::move(done)](Result<json> r) {
    auto machine = weak.lock();
    if (!machine) return;
    // QEMU may close the connection before its reply is read: that is success.
    if (!r.ok() && machine->qmp_->ready()) {
      done(r.status());
      return;
    }
    done(Status::Ok());
  });
}

void QemuMachine::SystemReset(Done done) {
  qmp_->Execute("system_reset", json(),
                [weak = weak_from_this(), done = std::move(done)](Result<json> r) {
                  if (!weak.lock()) return;
                  done(r.ok() ? Status::Ok() : r.status());
                });
}

void QemuMachine::PowerButton(Done done) {
  qmp_->Execute("system_powerdown", json(),
                [weak = weak_from_this(), done = std::move(done)](Result<json> r) {
                  if (!weak.lock()) return;
                  done(r.ok() ? Status::Ok() : r.status());
                });
}

void QemuMachine::Execute(const std::string& command, json arguments, QmpClient::Reply done) {
  qmp_->Execute(command, std::move(arguments),
                [weak = weak_from_this(), done = std::move(done)](Result<json> r) {
                  if (weak.lock()) done(std::move(r));
                });
}

void QemuMachine::Kill() {
  if (process_exited_) return;
  killed_ = true;
  watch_->Signal(SIGKILL);
}

}  // namespace kumo::hypervisor
