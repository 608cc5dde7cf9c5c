#include "hypervisor/qmp_event.h"

namespace kumo::hypervisor {

using nlohmann::json;

namespace {

MachineEvent WithGuestAndReason(MachineEvent::Kind kind, const json& data) {
  MachineEvent event{kind, false, ""};
  if (!data.is_object()) return event;
  if (auto it = data.find("guest"); it != data.end() && it->is_boolean()) {
    event.guest_initiated = it->get<bool>();
  }
  if (auto it = data.find("reason"); it != data.end() && it->is_string()) {
    event.detail = it->get<std::string>();
  }
  return event;
}

std::string PanicDetail(const json& data) {
  std::string detail = "guest panicked";
  if (!data.is_object()) return detail;
  if (auto it = data.find("action"); it != data.end() && it->is_string()) {
    detail += "; action " + it->get<std::string>();
  }
  if (auto it = data.find("info"); it != data.end() && it->is_object()) {
    detail += "; " + it->dump();
  }
  return detail;
}

}  // namespace

std::optional<MachineEvent> MachineEventFromQmp(const json& message) {
  if (!message.is_object()) return std::nullopt;
  auto name_it = message.find("event");
  if (name_it == message.end() || !name_it->is_string()) return std::nullopt;
  const std::string& name = name_it->get_ref<const std::string&>();
  static const json kNoData = json::object();
  auto data_it = message.find("data");
  const json& data = data_it == message.end() ? kNoData : *data_it;

  if (name == "SHUTDOWN") return WithGuestAndReason(MachineEvent::Kind::kShutdown, data);
  if (name == "RESET") return WithGuestAndReason(MachineEvent::Kind::kReset, data);
  if (name == "GUEST_PANICKED") {
    return MachineEvent{MachineEvent::Kind::kPanicked, true, PanicDetail(data)};
  }
  if (name == "STOP") return MachineEvent{MachineEvent::Kind::kStopped, false, ""};
  if (name == "RESUME") return MachineEvent{MachineEvent::Kind::kResumed, false, ""};
  if (name == "VSERPORT_CHANGE" && data.value("id", json()) == kAgentPortId) {
    auto open = data.find("open");
    if (open == data.end() || !open->is_boolean()) return std::nullopt;
    return MachineEvent{MachineEvent::Kind::kAgentChannel, true,
                        open->get<bool>() ? "open" : "closed"};
  }
  return std::nullopt;
}

std::string ExitDetail(const std::string& last_shutdown_reason, bool killed) {
  if (killed) return "QEMU was killed (SIGKILL)";
  if (!last_shutdown_reason.empty()) {
    return "QEMU exited after shutdown (" + last_shutdown_reason + ")";
  }
  return "QEMU exited";
}

}  // namespace kumo::hypervisor
