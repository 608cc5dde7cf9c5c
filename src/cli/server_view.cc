#include "cli/server_view.h"

#include <set>
#include <utility>
#include <vector>

#include "cli/table.h"

namespace kumo::cli {
namespace {

std::string PadRight(const std::string& text, size_t width) {
  size_t w = DisplayWidth(text);
  return w >= width ? text : text + std::string(width - w, ' ');
}

const json& ListOf(const json& reply, const char* key) {
  static const json kEmpty = json::array();
  if (!reply.is_object()) return kEmpty;
  auto it = reply.find(key);
  return it != reply.end() && it->is_array() ? *it : kEmpty;
}

}  // namespace

std::string FieldText(const json& object, const char* key) {
  if (!object.is_object()) return "-";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "-";
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    return s.empty() ? "-" : s;
  }
  if (it->is_boolean()) return it->get<bool>() ? "yes" : "no";
  return it->dump();
}

std::string StatusText(const std::string& status) {
  return status == "warning" ? "warning (!)" : status;
}

std::string ServerStatusText(const json& server) {
  std::string text = StatusText(FieldText(server, "status"));
  if (FieldText(server, "boot_mode") == "rescue") text += " [rescue]";
  return text;
}

std::string StatusLine(const json& server) {
  std::string line = FieldText(server, "name") + ": " + ServerStatusText(server);
  std::string task = FieldText(server, "task");
  if (task != "-" && task != "none") line += " (task " + task + ")";
  std::string reason = FieldText(server, "status_reason");
  if (reason != "-") line += ": " + reason;
  return Printable(line);
}

std::string ServerTable(const json& servers) {
  std::vector<Row> rows;
  for (const auto& s : ListOf(servers, "servers")) {
    std::string task = FieldText(s, "task");
    std::string memory = FieldText(s, "memory_mib");
    rows.push_back({FieldText(s, "name"), ServerStatusText(s), task == "none" ? "-" : task,
                    FieldText(s, "agent"), FieldText(s, "vcpus"),
                    memory == "-" ? memory : memory + " MiB", FieldText(s, "image"),
                    FieldText(s, "status_reason")});
  }
  return FormatTable({"NAME", "STATUS", "TASK", "AGENT", "VCPUS", "MEMORY", "IMAGE", "REASON"},
                     rows);
}

std::string ServerDetails(const json& server) {
  static const std::vector<const char*> kOrder = {
      "name",         "status",        "status_reason",   "boot_mode",
      "power",        "agent",         "agent_last_seen", "task",
      "task_started", "task_deadline", "image",           "vcpus",
      "memory_mib",   "disk_gib",      "has_ssh_key",     "user_data_bytes",
      "qemu_pid",     "created",       "updated"};
  std::vector<std::pair<std::string, std::string>> fields;
  std::set<std::string> shown;
  for (const char* key : kOrder) {
    if (!server.is_object() || !server.contains(key)) continue;
    std::string value = FieldText(server, key);
    if (std::string(key) == "status") value = StatusText(value);
    fields.emplace_back(key, value);
    shown.insert(key);
  }
  if (server.is_object()) {
    for (const auto& [key, value] : server.items()) {
      if (!shown.count(key)) fields.emplace_back(key, FieldText(server, key.c_str()));
    }
  }
  return FormatFields(fields);
}

std::string ImageTable(const json& images) {
  std::vector<Row> rows;
  for (const auto& i : ListOf(images, "images")) {
    std::string size = "?";
    if (i.contains("virtual_size_bytes") && i["virtual_size_bytes"].is_number_integer()) {
      char gib[32];
      snprintf(gib, sizeof gib, "%.1fG",
               static_cast<double>(i["virtual_size_bytes"].get<int64_t>()) / (1 << 30));
      size = gib;
    }
    rows.push_back({FieldText(i, "name"), FieldText(i, "format"), size, FieldText(i, "firmware"),
                    FieldText(i, "agent_kind"), FieldText(i, "login_user"), FieldText(i, "os"),
                    FieldText(i, "kernel_release"), FieldText(i, "registered")});
  }
  return FormatTable(
      {"NAME", "FORMAT", "SIZE", "FIRMWARE", "AGENT", "LOGIN", "OS", "KERNEL", "REGISTERED"}, rows);
}

// Fixed widths, so that lines printed one by one (--follow) line up: the
// API's times are 24 characters, statuses at most "warning (!)".
std::string EventHeader() {
  return PadRight("TIME", 24) + "  " + PadRight("STATUS", 11) + "  " + PadRight("KIND", 8) +
         "  MESSAGE\n";
}

std::string EventLine(const json& event) {
  std::string line = PadRight(FieldText(event, "time"), 24) + "  " +
                     PadRight(StatusText(FieldText(event, "status")), 11) + "  " +
                     PadRight(FieldText(event, "kind"), 8) + "  " + FieldText(event, "message");
  line = Printable(line);
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line + "\n";
}

std::string WatchHeader() {
  return PadRight("TIME", 24) + "  " + PadRight("SERVER", 16) + "  " + PadRight("STATUS", 11) +
         "  MESSAGE\n";
}

std::string WatchLine(const json& data, const std::string& now) {
  const json* event = data.is_object() && data.contains("event") ? &data["event"] : nullptr;
  const json* record = data.is_object() && data.contains("record") ? &data["record"] : nullptr;
  std::string time = event ? FieldText(*event, "time") : "-";
  if (time == "-") time = now;
  std::string message = event ? FieldText(*event, "message") : "-";
  if (message == "-" && record) message = FieldText(*record, "status_reason");
  if (message == "-" && data.is_object() && data.contains("changed") &&
      data["changed"].is_array() && !data["changed"].empty()) {
    message = "changed:";
    for (const auto& field : data["changed"]) {
      message += " " + (field.is_string() ? field.get<std::string>() : field.dump());
    }
  }
  std::string line = PadRight(time, 24) + "  " + PadRight(FieldText(data, "server"), 16) + "  " +
                     PadRight(StatusText(FieldText(data, "status")), 11) + "  " + message;
  line = Printable(line);
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line + "\n";
}

}  // namespace kumo::cli
