// Filesystem and disk commands: fsfreeze, fstrim, fsinfo, disks.
#include "agent/commands.h"
#include "agent/disks.h"
#include "agent/fs_freeze.h"
#include "agent/mounts.h"

namespace kumo::agent {
namespace {

CommandResult Freeze(QgaDispatcher& d, std::optional<std::vector<std::string>> only) {
  std::string err;
  auto count = FreezeFilesystems(FreezeOrder(RealMounts(), only), &err);
  if (!count) return CommandResult::Error(err);
  // Freezing nothing leaves the agent thawed, as qemu-ga does.
  d.SetFrozen(*count > 0);
  return CommandResult::Return(*count);
}

}  // namespace

void RegisterFsCommands(QgaDispatcher& d) {
  d.Add({"guest-fsfreeze-status", {}, [&d](const Arguments&) {
           return CommandResult::Return(d.frozen() ? "frozen" : "thawed");
         }});
  d.Add({"guest-fsfreeze-freeze", {}, [&d](const Arguments&) { return Freeze(d, std::nullopt); }});
  d.Add({"guest-fsfreeze-freeze-list", {"mountpoints"}, [&d](const Arguments& a) {
           std::optional<std::vector<std::string>> only;
           if (a.Find("mountpoints")) only = a.OptionalStringList("mountpoints");
           return Freeze(d, std::move(only));
         }});
  d.Add({"guest-fsfreeze-thaw", {}, [&d](const Arguments&) {
           int64_t thawed = ThawFilesystems(RealMounts());
           d.SetFrozen(false);
           return CommandResult::Return(thawed);
         }});
  d.Add({"guest-fstrim", {"minimum"}, [](const Arguments& a) {
           uint64_t minimum = uint64_t(a.OptionalInt("minimum").value_or(0));
           return CommandResult::Return(TrimFilesystems(RealMounts(), minimum));
         }});
  d.Add({"guest-get-fsinfo", {}, [](const Arguments&) {
           return CommandResult::Return(FilesystemInfo(RealMounts()));
         }});
  d.Add({"guest-get-disks", {}, [](const Arguments&) { return CommandResult::Return(Disks()); }});
}

}  // namespace kumo::agent
