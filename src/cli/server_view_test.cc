#include "cli/server_view.h"

#include <gtest/gtest.h>

namespace kumo::cli {
namespace {

json Server(const std::string& name, const std::string& status, const std::string& task,
            const std::string& reason) {
  return {{"name", name},
          {"status", status},
          {"status_reason", reason},
          {"power", "running"},
          {"agent", "ok"},
          {"task", task},
          {"image", "kumo-guest"},
          {"vcpus", 2},
          {"memory_mib", 512},
          {"disk_gib", 1},
          {"has_ssh_key", true},
          {"user_data_bytes", 0},
          {"created", "2024-05-01T10:00:00.000Z"},
          {"updated", "2024-05-01T10:00:01.000Z"},
          {"agent_last_seen", nullptr},
          {"task_started", nullptr},
          {"task_deadline", nullptr},
          {"qemu_pid", 4242}};
}

TEST(StatusText, MarksWarning) {
  EXPECT_EQ(StatusText("warning"), "warning (!)");
  for (const char* s : {"pending", "running", "stopped", "error", "-"}) EXPECT_EQ(StatusText(s), s);
}

TEST(StatusLine, ShowsTaskAndReasonWhenThere) {
  EXPECT_EQ(StatusLine(Server("web", "running", "none", "")), "web: running");
  EXPECT_EQ(StatusLine(Server("web", "pending", "stopping", "stop requested")),
            "web: pending (task stopping): stop requested");
  EXPECT_EQ(StatusLine(Server("web", "warning", "none", "agent not answering since 10:00")),
            "web: warning (!): agent not answering since 10:00");
  EXPECT_EQ(StatusLine(json::object()), "-: -");
  EXPECT_EQ(StatusLine(Server("web", "error", "none", "QEMU died\n\x1b[31m")),
            "web: error: QEMU died  [31m");
}

TEST(ServerTable, ListsServers) {
  json list = {
      {"servers",
       {Server("web", "running", "none", ""), Server("db", "warning", "none", "agent down")}}};
  list["servers"][1]["agent"] = "unresponsive";
  EXPECT_EQ(ServerTable(list),
            "NAME  STATUS       TASK  AGENT         VCPUS  MEMORY   IMAGE       REASON\n"
            "web   running      -     ok            2      512 MiB  kumo-guest  -\n"
            "db    warning (!)  -     unresponsive  2      512 MiB  kumo-guest  agent down\n");
}

TEST(ServerTable, RescueModeShowsInTheStatus) {
  json list = {{"servers", {Server("lost", "running", "none", "rescue mode: root shell")}}};
  list["servers"][0]["boot_mode"] = "rescue";
  EXPECT_EQ(
      ServerTable(list),
      "NAME  STATUS            TASK  AGENT  VCPUS  MEMORY   IMAGE       REASON\n"
      "lost  running [rescue]  -     ok     2      512 MiB  kumo-guest  rescue mode: root shell\n");
  EXPECT_EQ(StatusLine(list["servers"][0]), "lost: running [rescue]: rescue mode: root shell");
  list["servers"][0]["boot_mode"] = "normal";
  EXPECT_EQ(ServerStatusText(list["servers"][0]), "running");
}

TEST(ServerTable, EmptyOrOddRepliesGiveTheHeader) {
  const std::string header = "NAME  STATUS  TASK  AGENT  VCPUS  MEMORY  IMAGE  REASON\n";
  EXPECT_EQ(ServerTable({{"servers", json::array()}}), header);
  EXPECT_EQ(ServerTable(json::array()), header);
  EXPECT_EQ(ServerTable({{"servers", 3}}), header);
}

TEST(ServerDetails, KnownFieldsInOrderThenTheRest) {
  json s = Server("web", "warning", "rebooting", "reboot overran");
  s["future_field"] = "x";
  std::string d = ServerDetails(s);
  EXPECT_EQ(d.rfind("name:            web\nstatus:          warning (!)\n"
                    "status_reason:   reboot overran\n",
                    0),
            0u)
      << d;
  EXPECT_NE(d.find("\nagent_last_seen: -\n"), std::string::npos);
  EXPECT_NE(d.find("\nhas_ssh_key:     yes\n"), std::string::npos);
  EXPECT_NE(d.find("\nqemu_pid:        4242\n"), std::string::npos);
  EXPECT_NE(d.find("\nmemory_mib:      512\n"), std::string::npos);
  EXPECT_LT(d.find("updated:"), d.find("future_field:"));
}

TEST(ImageTable, ListsImages) {
  json images = {{"images",
                  {{{"name", "kumo-guest"},
                    {"kernel_release", "6.1.0-21-cloud-amd64"},
                    {"registered", "2024-05-01T10:00:00.000Z"},
                    {"format", "qcow2"},
                    {"virtual_size_bytes", int64_t{1} << 30},
                    {"firmware", "bios"},
                    {"agent_kind", "kumo-agent"},
                    {"login_user", "root"},
                    {"os", ""}},
                   {{"name", "old"}, {"registered", "2024-05-01T10:00:00.000Z"}}}}};
  EXPECT_EQ(ImageTable(images),
            "NAME        FORMAT  SIZE  FIRMWARE  AGENT       LOGIN  OS  KERNEL                "
            "REGISTERED\n"
            "kumo-guest  qcow2   1.0G  bios      kumo-agent  root   -   6.1.0-21-cloud-amd64  "
            "2024-05-01T10:00:00.000Z\n"
            "old         -       ?     -         -           -      -   -                     "
            "2024-05-01T10:00:00.000Z\n");
}

TEST(EventLine, FixedColumns) {
  json e = {{"id", 7},
            {"time", "2024-05-01T10:00:00.123Z"},
            {"kind", "agent"},
            {"status", "warning"},
            {"message", "agent stopped answering"}};
  EXPECT_EQ(EventHeader(), "TIME                      STATUS       KIND      MESSAGE\n");
  EXPECT_EQ(EventLine(e),
            "2024-05-01T10:00:00.123Z  warning (!)  agent     agent stopped answering\n");
  e["kind"] = "recovery-long";
  e["status"] = "running";
  e["message"] = "";
  EXPECT_EQ(EventLine(e), "2024-05-01T10:00:00.123Z  running      recovery-long  -\n");
}

TEST(FieldText, Kinds) {
  json o = {{"s", "x"}, {"e", ""}, {"n", 3}, {"b", false}, {"z", nullptr}};
  EXPECT_EQ(FieldText(o, "s"), "x");
  EXPECT_EQ(FieldText(o, "e"), "-");
  EXPECT_EQ(FieldText(o, "n"), "3");
  EXPECT_EQ(FieldText(o, "b"), "no");
  EXPECT_EQ(FieldText(o, "z"), "-");
  EXPECT_EQ(FieldText(o, "missing"), "-");
  EXPECT_EQ(FieldText(json::array(), "s"), "-");
}

}  // namespace
}  // namespace kumo::cli
